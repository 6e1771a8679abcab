"""One error type for everything a user can get wrong, and small checks that phrase it well.

Every message has two sentences: what is wrong (showing the offending value) and how to fix it.
The CLI prints ``str(error)`` as a single line on stderr; library users catch :class:`AekitError`,
which is also a :class:`ValueError` so scikit-learn's conventions keep working.
"""

from __future__ import annotations

import difflib
import logging
import math
import numbers
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["AekitError", "DataError", "ModelFileError", "check_int", "check_float", "check_choice", "did_you_mean",
           "name_list", "warn", "AekitWarning"]


class AekitError(ValueError):
    """Bad input from the user: a parameter, a file, a data set. Always a readable one-liner."""


class DataError(AekitError):
    """The data cannot be used as given (missing file, NaN, wrong shape, non-numeric columns...)."""


class ModelFileError(AekitError):
    """A saved model directory is missing, truncated, tampered with or from an incompatible version."""


def name_list(names: Iterable[Any], limit: int = 8) -> str:
    """``'a', 'b' and 3 more``: names for a message, at most ``limit`` of them shown."""
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


class AekitWarning(Warning):
    """A warning aekit also writes to its logger (:func:`warn`): the CLI shows the log line and drops this copy."""


class AekitUserWarning(AekitWarning, UserWarning):
    pass


class AekitRuntimeWarning(AekitWarning, RuntimeWarning):
    pass


_TAGGED = {UserWarning: AekitUserWarning, RuntimeWarning: AekitRuntimeWarning}


def warn(logger: logging.Logger, message: str, category: type[Warning] = UserWarning, stacklevel: int = 2) -> None:
    """Say a warning both ways: on ``logger`` (what the CLI shows, one line) and as a Python warning of
    ``category``, UserWarning or RuntimeWarning (what library users filter or catch; an :class:`AekitWarning`
    too, so the CLI can drop it).
    ``stacklevel`` counts from the caller, as for :func:`warnings.warn`."""
    logger.warning(message)
    warnings.warn(message, _TAGGED[category], stacklevel=stacklevel + 1)


@contextmanager
def convergence_caught() -> Iterator[list[warnings.WarningMessage]]:
    """Hold scikit-learn's ConvergenceWarnings raised in the block (one per restart or fold, often over two lines)
    for the caller to say once, in its own words; every other warning is passed on as it came. Yields the list
    that holds the ConvergenceWarnings once the block has ended."""
    from sklearn.exceptions import ConvergenceWarning

    convergence: list[warnings.WarningMessage] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        yield convergence
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            convergence.append(w)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        if str(name).lower() in lowered:
            close = [lowered[str(name).lower()]]
    return f" Did you mean '{close[0]}'?" if close else ""


def check_choice(value: Any, choices: Iterable[str], *, name: str, owner: str) -> str:
    """Check that ``value`` is one of ``choices`` and return it."""
    choices = list(choices)
    if value not in choices:
        raise AekitError(
            f"The '{name}' parameter of {owner} must be one of {', '.join(map(str, choices))}. "
            f"Got {value!r} instead.{did_you_mean(str(value), [str(c) for c in choices])}"
        )
    return value


def check_int(value: Any, *, name: str, owner: str, low: int | None = None, high: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[low, high]`` (bools are rejected; NumPy integers, as a grid search
    passes them, are accepted) and return it as an int."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and low is not None and value < low:
        ok = False
    if ok and high is not None and value > high:
        ok = False
    if not ok:
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise AekitError(f"The '{name}' parameter of {owner} must be an int in [{lo}, {hi}]. Got {value!r} instead.")
    return int(value)


def check_float(
    value: Any,
    *,
    name: str,
    owner: str,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    finite: bool = False,
) -> float:
    """Check that ``value`` is a real number in the given interval and return it as float. NaN is always refused;
    ``finite`` refuses +-inf too (a missing bound then reads as open: ``[0, inf)``), for values such as loss weights
    where inf means nothing but NaN losses."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok and finite:
        ok = math.isfinite(value)
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if ok and high is not None:
        ok = value <= high if high_inclusive else value < high
    if not ok:
        lb = "[" if low_inclusive and not (finite and low is None) else "("
        hb = "]" if high_inclusive and not (finite and high is None) else ")"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        kind = "a finite float" if finite else "a float"
        raise AekitError(
            f"The '{name}' parameter of {owner} must be {kind} in {lb}{lo}, {hi}{hb}. Got {value!r} instead."
        )
    return float(value)
