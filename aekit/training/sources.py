"""Batch sources: how the trainer gets scaled float32 batches on the right device.

``TensorSource`` holds the (scaled) rows as one tensor on the training device and slices batches out of it,
which is as fast as a hand-written loop. ``StreamingSource`` reads rows from a memory-mapped array on
demand, so data sets larger than RAM train; it is chosen for memmaps over ``max_in_memory_bytes``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["BatchSource", "TensorSource", "StreamingSource", "batch_bounds", "has_batch_norm", "make_source"]

Transform = Callable[[np.ndarray], np.ndarray]


def batch_bounds(n_rows: int, batch_size: int, *, min_rows: int = 1) -> list[tuple[int, int]]:
    """(start, stop) of each batch of an epoch over ``n_rows`` shuffled rows; a last batch of fewer than
    ``min_rows`` rows joins the one before it (BatchNorm cannot train on one row)."""
    bounds = [(start, min(start + batch_size, n_rows)) for start in range(0, n_rows, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_rows:
        bounds[-2:] = [(bounds[-2][0], n_rows)]
    return bounds


def has_batch_norm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


class BatchSource:
    """Rows ``0..len(self)-1`` of a split; ``batch(positions)`` returns them as a float32 tensor on ``device``."""

    device: torch.device

    def __len__(self) -> int:
        raise NotImplementedError

    def batch(self, positions: Tensor) -> Tensor:
        raise NotImplementedError


class TensorSource(BatchSource):
    def __init__(self, data: Tensor, device: torch.device) -> None:
        self.device = device
        self.data = data.to(device=device, dtype=torch.float32)

    def __len__(self) -> int:
        return self.data.shape[0]

    def batch(self, positions: Tensor) -> Tensor:
        return self.data.index_select(0, positions.to(self.device, non_blocking=True))


class StreamingSource(BatchSource):
    def __init__(self, array: np.ndarray, rows: np.ndarray, transform: Transform | None, device: torch.device) -> None:
        self.array, self.rows, self.transform, self.device = array, rows, transform, device

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, positions: Tensor) -> Tensor:
        # A batch is a set: read its rows in file order, which keeps memory-mapped reads sequential.
        rows = np.sort(self.rows[positions.cpu().numpy()])
        chunk = np.asarray(self.array[rows], dtype=np.float32)  # fancy indexing copies: transform may work in place
        if self.transform is not None:
            chunk = self.transform(chunk).astype(np.float32, copy=False)
        tensor = torch.from_numpy(chunk)
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        return tensor.to(self.device, non_blocking=True)


def make_source(array: np.ndarray, rows: np.ndarray, transform: Transform | None, device: torch.device, *,
                max_in_memory_bytes: int = 2 << 30) -> BatchSource:
    """A source over ``array[rows]`` scaled by ``transform``: in memory unless it is a large memmap.

    ``transform`` receives a float32 array that belongs to the source and may scale it in place (as
    ``Scaler.transform(..., copy=False)`` does). With no transform, all rows and a float32 C-contiguous array,
    the training tensor shares the caller's memory: nothing is copied, and training never writes to it.
    """
    itemsize = 4  # float32 after conversion
    nbytes = len(rows) * int(np.prod(array.shape[1:], dtype=np.int64)) * itemsize
    if isinstance(array, np.memmap) and nbytes > max_in_memory_bytes:
        return StreamingSource(array, rows, transform, device)
    all_rows = len(rows) == len(array) and bool(np.all(rows == np.arange(len(array))))
    selected = array if all_rows else array[rows]  # a slice-free view when every row trains
    if transform is None and all_rows and not isinstance(array, np.memmap):
        chunk = np.ascontiguousarray(selected, dtype=np.float32)  # no copy for float32 C-contiguous input
    else:
        chunk = np.array(selected, dtype=np.float32, order="C")  # one private copy, which transform may reuse
        if transform is not None:
            chunk = np.ascontiguousarray(transform(chunk), dtype=np.float32)
    if not chunk.flags.writeable:  # torch.from_numpy warns on read-only arrays; the source never writes
        chunk = chunk.copy()
    return TensorSource(torch.from_numpy(chunk), device)
