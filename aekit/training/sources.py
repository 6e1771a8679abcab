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

__all__ = ["BatchSource", "TensorSource", "StreamingSource", "make_source"]

Transform = Callable[[np.ndarray], np.ndarray]


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
        chunk = np.asarray(self.array[rows], dtype=np.float32)
        if self.transform is not None:
            chunk = self.transform(chunk).astype(np.float32, copy=False)
        tensor = torch.from_numpy(chunk)
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        return tensor.to(self.device, non_blocking=True)


def make_source(array: np.ndarray, rows: np.ndarray, transform: Transform | None, device: torch.device, *,
                max_in_memory_bytes: int = 2 << 30) -> BatchSource:
    """A source over ``array[rows]`` scaled by ``transform``: in memory unless it is a large memmap."""
    itemsize = 4  # float32 after conversion
    nbytes = len(rows) * int(np.prod(array.shape[1:], dtype=np.int64)) * itemsize
    if isinstance(array, np.memmap) and nbytes > max_in_memory_bytes:
        return StreamingSource(array, rows, transform, device)
    chunk = np.asarray(array[rows], dtype=np.float32)
    if transform is not None:
        chunk = transform(chunk).astype(np.float32, copy=False)
    return TensorSource(torch.from_numpy(np.ascontiguousarray(chunk)), device)
