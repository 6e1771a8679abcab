"""Frozen dataclass configs that round-trip through JSON and reject unknown keys.

Every part's ``Config``, the model config and the trainer config go through :func:`from_dict`, so a typo
in a JSON file, a ``model_options`` dict or a ``--set key=value`` flag fails the same way, listing the
valid keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, Union

from aekit.errors import AekitError, did_you_mean

C = TypeVar("C")

__all__ = ["from_dict", "to_dict", "field_names", "FrozenOptions"]


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


class FrozenOptions(Mapping[str, Any]):
    """A read-only mapping of option names to values (a part's options inside a frozen config), its lists
    held as tuples, so that a config built from a preset equals the same config read back from JSON and
    cannot change under a model built from it. Compares equal to a dict with the same items."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items = {str(key): _frozen(value) for key, value in (items or {}).items()}

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and self._items == {k: _frozen(v) for k, v in other.items()}

    __hash__ = None  # type: ignore[assignment]  # like the dict it stands for

    def __repr__(self) -> str:
        return repr(self._items)

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:  # pickle, copy.deepcopy
        return (FrozenOptions, (self._items,))


def _frozen(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return FrozenOptions(value)
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) config dataclass; tuples become lists."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [convert(v) for v in value]
        if isinstance(value, Mapping):
            return {str(k): convert(v) for k, v in value.items()}
        return value

    return convert(config)


def from_dict(cls: type[C], data: dict[str, Any] | None, *, owner: str | None = None) -> C:
    """Build ``cls`` from ``data``, coercing JSON lists to tuples and checking simple types.

    Unknown keys raise an :class:`AekitError` that lists the valid ones.
    """
    owner = owner or cls.__name__
    data = dict(data or {})
    names = field_names(cls)
    unknown = [k for k in data if k not in names]
    if unknown:
        hint = did_you_mean(unknown[0], names)
        raise AekitError(
            f"Unknown option {unknown[0]!r} for {owner}. Valid options: {', '.join(names) or '(none)'}.{hint}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(v, hints[k], name=k, owner=owner) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a missing required field
        raise AekitError(f"Cannot build {owner} from {data!r}: {exc}. Pass every required option.") from None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, *, name: str, owner: str) -> Any:
    """Convert a JSON value to the annotated type where that is lossless; raise on a clear mismatch."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, name=name, owner=owner)
            except AekitError as exc:
                errors.append(exc)
        raise errors[0] if errors else AekitError(f"Bad value {value!r} for '{name}' of {owner}.")
    if origin is typing.Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise AekitError(
                f"The '{name}' parameter of {owner} must be one of {choices}. Got {value!r} instead."
                + did_you_mean(str(value), [str(a) for a in args])
            )
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise AekitError(
                f"The '{name}' parameter of {owner} must be a list of values. Got {value!r} instead."
            )
        item_types = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(item_types) != len(value):
            raise AekitError(
                f"The '{name}' parameter of {owner} must have {len(item_types)} items. Got {value!r} instead."
            )
        return tuple(_coerce(v, t, name=name, owner=owner) for v, t in zip(value, item_types))
    if origin is dict:
        if not isinstance(value, Mapping):  # a part's options arrive as FrozenOptions
            raise AekitError(f"The '{name}' parameter of {owner} must be a mapping. Got {value!r} instead.")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise AekitError(f"The '{name}' parameter of {owner} must be a mapping. Got {value!r} instead.")
        return from_dict(tp, value, owner=f"{owner}.{name}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise AekitError(
        f"The '{name}' parameter of {owner} must be of type {_type_name(tp)}. Got {value!r} instead."
    )
