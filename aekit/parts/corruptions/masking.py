"""Masking noise: a random fraction of the input elements set to zero (Vincent et al., 2008)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aekit.errors import check_float
from aekit.parts.base import CORRUPTIONS, Corruption


@CORRUPTIONS.register("masking")
class MaskingNoise(Corruption):
    """Each element is independently replaced by ``fill`` (default 0) with probability ``p``.

    Every element (each channel of each pixel, each feature of a table row) is dropped on its own; the kept
    elements are left unchanged (no ``1 / (1 - p)`` rescaling as in dropout: the target is the clean input, and
    the encoder learns to fill the gaps, not to undo a rescale). With min-max scaled data 0 is the minimum; with
    standardized data it is the mean, which is also a sensible "missing" value.
    """

    @dataclass(frozen=True)
    class Config:
        # A quarter of the inputs dropped: the level Vincent et al. found to give the most useful features.
        p: float = 0.25
        fill: float = 0.0

        def __post_init__(self) -> None:
            check_float(self.p, name="p", owner="MaskingNoise", low=0.0, high=1.0, high_inclusive=False)
            check_float(self.fill, name="fill", owner="MaskingNoise", finite=True)

    @property
    def prevents_identity(self) -> bool:  # type: ignore[override]
        """Masking with p=0 changes nothing, so it cannot keep a wide code from copying its input."""
        return self.config.p > 0

    def forward(self, x: Tensor) -> Tensor:
        dropped = torch.rand_like(x) < self.config.p  # (batch, *sample_shape) bool
        return x.masked_fill(dropped, self.config.fill)
