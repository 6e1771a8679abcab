"""Downsample then upsample back: the super-resolution task's degradation (shapes stay, detail is lost)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from aekit.errors import AekitError, check_int
from aekit.parts.base import CORRUPTIONS, Corruption

_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def spatial_ndim(x: Tensor, *, owner: str) -> int:
    """Number of spatial axes of a batch (batch, channels, *spatial); raise unless it is 1, 2 or 3."""
    if x.ndim not in (3, 4, 5):
        raise AekitError(
            f"The {owner} corruption needs samples shaped (channels, length) or (channels, height, width). Got "
            f"samples of shape {tuple(x.shape[1:])} instead. Reshape the data (images: (n, C, H, W)), or use "
            "'gaussian' or 'masking' for tables."
        )
    return x.ndim - 2


@CORRUPTIONS.register("downsample")
class Downsample(Corruption):
    """Average-pools each ``factor`` x ``factor`` block (area downsampling, the anti-aliased low-pass a camera's
    pixels apply), then upsamples back to the input's exact size.

    ``interpolation="nearest"`` repeats each block mean over its block (piecewise-constant output);
    ``"linear"`` interpolates (bi/tri-)linearly between block means. Works on 1-D signals (C, L), images
    (C, H, W) and volumes (C, D, H, W); sizes that ``factor`` does not divide keep a smaller last block (its
    mean is over the pixels it has). Both outputs are averages of input values, so they stay in the data's
    range; it is deterministic.
    """

    @dataclass(frozen=True)
    class Config:
        # 2x: the standard first super-resolution benchmark; 28x28 digits become 14x14, still legible.
        factor: int = 2
        interpolation: Literal["nearest", "linear"] = "nearest"

        def __post_init__(self) -> None:
            check_int(self.factor, name="factor", owner="Downsample", low=2)

    def forward(self, x: Tensor) -> Tensor:
        n_spatial = spatial_ndim(x, owner="downsample")
        size = tuple(x.shape[2:])
        factor = self.config.factor
        kernel = tuple(min(factor, s) for s in size)  # a side shorter than factor becomes one block
        low = _AVG_POOL[n_spatial](x, kernel, kernel, ceil_mode=True)  # (batch, C, *ceil(size / factor))
        if self.config.interpolation == "linear":
            return F.interpolate(low, size=size, mode=_LINEAR[n_spatial], align_corners=False)
        x_tilde = low
        for axis, (k, s) in enumerate(zip(kernel, size)):
            x_tilde = x_tilde.repeat_interleave(k, dim=2 + axis).narrow(2 + axis, 0, s)
        return x_tilde  # (batch, C, *size), constant on each block
