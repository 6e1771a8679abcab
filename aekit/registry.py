"""Named registries of parts: how a new backbone, bottleneck or preset joins aekit.

A part is a ``torch.nn.Module`` subclass with a nested frozen dataclass ``Config``; registering it under
a snake_case name makes it reachable from configs, presets, the estimator and the CLI with no other change:

    @BOTTLENECKS.register("topk")
    class TopKBottleneck(Bottleneck):
        @dataclass(frozen=True)
        class Config:
            k: int = 32
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from fnmatch import fnmatch
from typing import Generic, TypeVar

from aekit.errors import AekitError, did_you_mean

T = TypeVar("T")

__all__ = ["Registry"]


def _same_definition(old: object, new: object) -> bool:
    """Whether ``new`` is ``old`` defined again: same module and qualified name (functions and classes)."""
    qualname = getattr(old, "__qualname__", None)
    return qualname is not None and (getattr(old, "__module__", None), qualname) == (
        getattr(new, "__module__", None), getattr(new, "__qualname__", None))


class Registry(Generic[T]):
    """A name -> object map that refuses duplicates and suggests the closest name on a miss."""

    def __init__(self, kind: str, check: Callable[[str, T], None] | None = None) -> None:
        """``check(name, obj)``, if given, vets what is registered (raising on a mistake) before it joins."""
        self.kind = kind
        self._check = check
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``; registering a name twice raises, except for a new
        version of the same definition (same module and qualified name: a notebook cell or a reloaded module run
        again), which replaces the old one."""

        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
            raise KeyError(f"Invalid {self.kind} name {name!r}: names are lowercase words joined by '_' or '-', as "
                           "typed in configs and on the command line (e.g. 'topk', 'sparse-l1').")

        def decorator(obj: T) -> T:
            if name in self._items and not _same_definition(self._items[name], obj):
                raise KeyError(f"A {self.kind} named '{name}' is already registered ({self._items[name]!r}). Register "
                               "yours under another name.")
            if self._check is not None:  # now, where the mistake is, not when a config first names it
                self._check(name, obj)
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The object registered under ``name``; an unknown name lists the available ones."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            available = ", ".join(sorted(self._items)) or "(none)"
            raise AekitError(
                f"Unknown {self.kind} {name!r}. Available: {available}.{did_you_mean(str(name), self._items)}"
            ) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names, optionally filtered by a shell-style pattern (``"sparse*"``)."""
        if not isinstance(pattern, str):
            raise AekitError(f"A {self.kind} name pattern must be a string such as '*' or 'sparse*'. Got {pattern!r} "
                             "instead.")
        return sorted(n for n in self._items if fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


