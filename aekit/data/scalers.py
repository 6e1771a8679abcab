"""Feature scaling fitted by streaming over the training rows, applied to numpy arrays and torch tensors alike.

``x_scaled = (x - offset_) / scale_``. Statistics are accumulated in float64 chunk by chunk (Chan et al.'s
pairwise merge of means and squared deviations), so a memory-mapped file larger than RAM can be fitted and
the result does not depend on the chunk size beyond rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from numpy.typing import ArrayLike

from aekit.data.sources import Dataset, load_dataset
from aekit.errors import AekitError, DataError, check_choice, check_int, did_you_mean

__all__ = ["SCALER_KINDS", "Scaler"]

logger = logging.getLogger(__name__)

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)


@dataclass
class _RunningStats:
    """Count, mean, sum of squared deviations, min and max, merged chunk by chunk in float64."""

    count: int = 0
    mean: np.ndarray | float = 0.0
    m2: np.ndarray | float = 0.0
    low: np.ndarray | float = np.inf
    high: np.ndarray | float = -np.inf

    def update(self, chunk: np.ndarray, axis: int | None, *, moments: bool) -> None:
        """Merge one chunk; ``moments=False`` tracks only count, min and max (exact in the stored dtype)."""
        n = chunk.shape[0] if axis == 0 else chunk.size
        self.low = np.minimum(self.low, chunk.min(axis=axis).astype(np.float64))
        self.high = np.maximum(self.high, chunk.max(axis=axis).astype(np.float64))
        if moments:
            chunk = chunk.astype(np.float64, copy=False)
            mean = chunk.mean(axis=axis)
            m2 = np.square(chunk - mean).sum(axis=axis)
            delta, total = mean - self.mean, self.count + n
            self.mean = self.mean + delta * (n / total)
            self.m2 = self.m2 + m2 + np.square(delta) * (self.count * n / total)
        self.count += n


# kind -> (offset, scale) from the running statistics; "none" never reads the data.
_STATISTICS: dict[str, Callable[[_RunningStats], tuple[Any, Any]]] = {
    "minmax": lambda s: (s.low, s.high - s.low),
    "standard": lambda s: (s.mean, np.sqrt(s.m2 / s.count)),  # population std, as scikit-learn
    "none": lambda s: (0.0, 1.0),
}
# kinds that need a mean and variance; min and max are exact in the stored dtype and need no float64 pass
_NEEDS_MOMENTS = frozenset({"standard"})
SCALER_KINDS = tuple(_STATISTICS)
_DICT_KEYS = ("kind", "per_feature", "sample_shape", "offset", "scale")


class Scaler:
    """Map each feature (or all values at once) to a standard range fitted on the training rows.

    Parameters
    ----------
    kind : {"minmax", "standard", "none"}, default "minmax"
        ``"minmax"`` maps the training range to [0, 1]; ``"standard"`` to zero mean and unit variance;
        ``"none"`` is the identity.
    per_feature : bool, default True
        One statistic per position of the sample shape (per pixel, per column); ``False`` uses one global
        offset and scale, which keeps relative intensities between pixels.

    Attributes
    ----------
    offset_ : ndarray of shape sample_shape, or () when ``per_feature=False``
    scale_ : ndarray of the same shape; features constant in training get the median of the others' scales
    sample_shape_ : tuple of int
        Shape of one sample seen by :meth:`fit`.
    n_samples_seen_ : int
    """

    def __init__(self, kind: str = "minmax", per_feature: bool = True) -> None:
        # Checked here rather than in fit so that a typo fails before a long data scan.
        self.kind = check_choice(kind, SCALER_KINDS, name="kind", owner="Scaler")
        if not isinstance(per_feature, (bool, np.bool_)):
            raise AekitError(f"The 'per_feature' parameter of Scaler must be a bool. Got {per_feature!r} instead.")
        self.per_feature = bool(per_feature)

    def __repr__(self) -> str:
        return f"Scaler(kind={self.kind!r}, per_feature={self.per_feature})"

    def fit(
        self, X: ArrayLike | Dataset | torch.Tensor, indices: ArrayLike | None = None, chunk_size: int = 65536
    ) -> Scaler:
        """Compute offset and scale from the rows of ``X`` (only ``indices`` if given), chunk by chunk.

        Parameters
        ----------
        X : Dataset, ndarray (memmaps are streamed) or tensor of shape (n_samples, *sample_shape)
        indices : array-like of int or None
            The training rows; other rows are never read. Default all rows.
        chunk_size : int, default 65536
            Rows read at a time.

        Returns
        -------
        self
        """
        data = X if isinstance(X, Dataset) else load_dataset(_to_numpy(X))  # checks dtype, NaN, shape
        check_int(chunk_size, name="chunk_size", owner="Scaler.fit", low=1)
        shape = data.sample_shape if self.per_feature else ()
        stats = _RunningStats()
        if self.kind != "none":
            moments = self.kind in _NEEDS_MOMENTS
            for _, chunk in data.iter_chunks(chunk_size, indices=indices, dtype=np.float64 if moments else None):
                stats.update(chunk, axis=0 if self.per_feature else None, moments=moments)
        else:
            stats.count = data.n_samples if indices is None else np.asarray(indices).size
        if stats.count == 0:
            raise DataError(
                f"Scaler.fit got 0 samples from {data.source}. Pass at least one row (check the indices)."
            )
        offset, scale = (np.broadcast_to(np.asarray(v, dtype=np.float64), shape).copy()
                         for v in _STATISTICS[self.kind](stats))
        if not (np.isfinite(offset).all() and np.isfinite(scale).all()):
            raise DataError(
                f"The data from {data.source} gives non-finite scaling statistics (NaN/Inf values or overflow). "
                "Remove or impute NaN/Inf values, or rescale very large values, before fitting."
            )
        # Constant features map to 0 instead of NaN; their scale is the median of the other features' (1 when
        # all are constant), so a value unseen in training lands on the data's usual scale: with a scale of 1, one
        # unseen MNIST pixel of 177 scaled to 177 and made most of a validation loss. The tolerance absorbs the
        # rounding of a float64 mean of identical values.
        constant = scale <= 10 * np.finfo(np.float64).eps * np.abs(offset)
        scale[constant] = float(np.median(scale[~constant])) if (~constant).any() else 1.0
        # the model's batches are scaled in float32: statistics it cannot hold would turn every value inf or NaN,
        # and training would fail later blaming the learning rate
        single = np.finfo(np.float32)
        if (np.abs(offset) > single.max).any() or (scale > single.max).any() or (scale < single.tiny).any():
            raise DataError(
                f"The data from {data.source} spans a range that cannot be scaled in float32, in which the model "
                f"computes (scale from {scale.min():.3g} to {scale.max():.3g}, offset up to "
                f"{np.abs(offset).max():.3g}). Rescale the data to ordinary magnitudes first (e.g. divide by a "
                "power of ten)."
            )
        self.offset_, self.scale_ = offset, scale
        self.sample_shape_, self.n_samples_seen_ = data.sample_shape, int(stats.count)
        logger.debug("Fitted %r on %d samples of %s.", self, stats.count, data.source)
        return self

    @property
    def is_identity(self) -> bool:
        """True when :meth:`transform` returns its input unchanged (``kind="none"``)."""
        return self.kind == "none"

    def transform(self, X: ArrayOrTensor, *, copy: bool = True) -> ArrayOrTensor:
        """``(X - offset_) / scale_`` for an array or tensor of shape (n_samples, *sample_shape).

        Floating inputs keep their dtype (and device); integer inputs become float32. With ``copy=False`` a
        writable floating input is scaled in place and returned (as scikit-learn's ``copy`` parameter), and the
        identity scaler returns its input itself: no pass over the data at all.
        """
        X, offset, scale = self._prepare(X)
        if copy:
            return (X - offset) / scale
        if self.is_identity:
            return X
        if isinstance(X, np.ndarray) and not X.flags.writeable:
            X = X.copy()
        X -= offset
        X /= scale
        return X

    def inverse_transform(self, X: ArrayOrTensor) -> ArrayOrTensor:
        """``X * scale_ + offset_``: undo :meth:`transform`."""
        X, offset, scale = self._prepare(X)
        return X * scale + offset

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; Python floats print exactly, so :meth:`from_dict` restores identical values."""
        fitted = hasattr(self, "offset_")
        return {
            "kind": self.kind,
            "per_feature": self.per_feature,
            "sample_shape": list(self.sample_shape_) if fitted else None,
            "offset": self.offset_.ravel().tolist() if fitted else None,
            "scale": self.scale_.ravel().tolist() if fitted else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        """Rebuild a scaler written by :meth:`to_dict`."""
        unknown = [k for k in data if k not in _DICT_KEYS]
        if unknown:
            raise AekitError(
                f"Unknown key {unknown[0]!r} in a Scaler dict. Valid keys: {', '.join(_DICT_KEYS)}."
                f"{did_you_mean(unknown[0], _DICT_KEYS)}"
            )
        scaler = cls(data.get("kind", "minmax"), data.get("per_feature", True))
        if data.get("offset") is not None:
            sample_shape = tuple(int(s) for s in data["sample_shape"])
            shape = sample_shape if scaler.per_feature else ()
            try:
                scaler.offset_, scaler.scale_ = (
                    np.asarray(data[k], dtype=np.float64).reshape(shape) for k in ("offset", "scale")
                )
            except ValueError:
                raise AekitError(
                    f"The Scaler dict has {len(data['offset'])} offsets and {len(data['scale'])} scales, which do not "
                    f"fit sample_shape={list(sample_shape)}. Save the scaler again with Scaler.to_dict()."
                ) from None
            scaler.sample_shape_, scaler.n_samples_seen_ = sample_shape, 0
        return scaler

    def _prepare(self, X: ArrayOrTensor) -> tuple[ArrayOrTensor, ArrayOrTensor, ArrayOrTensor]:
        """``X`` as a floating array/tensor, with offset and scale of the same type, dtype and device."""
        if not hasattr(self, "offset_"):
            raise AekitError(f"This {self!r} is not fitted yet. Call fit(X) first, or load a fitted scaler.")
        if self.per_feature and tuple(X.shape[1:]) != self.sample_shape_:
            raise DataError(
                f"The scaler was fitted on samples of shape {self.sample_shape_}; got samples of shape "
                f"{tuple(X.shape[1:])}. Transform data with the same features as the fit data."
            )
        if isinstance(X, torch.Tensor):
            dtype = X.dtype if X.is_floating_point() else torch.float32
            params = (torch.as_tensor(p, dtype=dtype, device=X.device) for p in (self.offset_, self.scale_))
            return X.to(dtype), *params
        X = np.asarray(X)
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)
        return X.astype(dtype, copy=False), self.offset_.astype(dtype), self.scale_.astype(dtype)


def _to_numpy(X: ArrayLike | torch.Tensor) -> np.ndarray:
    return X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X
