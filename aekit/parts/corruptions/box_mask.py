"""Random boxes blanked out: the inpainting task's degradation (Pathak et al., 2016, context encoders)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aekit.errors import check_float, check_int
from aekit.parts.base import CORRUPTIONS, Corruption
from aekit.parts.corruptions.downsample import spatial_ndim


@CORRUPTIONS.register("box_mask")
class BoxMask(Corruption):
    """Sets ``num_boxes`` axis-aligned boxes per sample, across all channels, to ``fill``.

    Each box's side along every spatial axis is ``max(1, round(box_size * side))`` (``box_size`` is a fraction
    of the sample's size, so one setting fits 28x28 digits and 64x64 photos); boxes are placed uniformly at
    random, wholly inside the sample, independently per sample (they may overlap), from torch's global RNG.
    Works on signals (C, L), images (C, H, W) and volumes. ``fill`` defaults to 0, the minimum of min-max scaled
    data.
    """

    @dataclass(frozen=True)
    class Config:
        # A quarter of each side (1/16 of the area): a hole the context can still explain.
        box_size: float = 0.25
        num_boxes: int = 1
        fill: float = 0.0

        def __post_init__(self) -> None:
            check_float(self.box_size, name="box_size", owner="BoxMask", low=0.0, high=1.0, low_inclusive=False)
            check_int(self.num_boxes, name="num_boxes", owner="BoxMask", low=1)
            check_float(self.fill, name="fill", owner="BoxMask", finite=True)

    def box_mask(self, x: Tensor) -> Tensor:
        """A fresh boolean mask (batch, 1, *spatial), True inside the boxes."""
        spatial_ndim(x, owner="box_mask")
        batch, size = x.shape[0], tuple(x.shape[2:])
        inside = torch.ones(batch, self.config.num_boxes, *(1 for _ in size), dtype=torch.bool, device=x.device)
        for axis, side in enumerate(size):
            box = max(1, round(self.config.box_size * side))
            start = torch.randint(0, side - box + 1, (batch, self.config.num_boxes, 1), device=x.device)
            position = torch.arange(side, device=x.device)  # (side,)
            along = (position >= start) & (position < start + box)  # (batch, num_boxes, side)
            view = [batch, self.config.num_boxes] + [1] * len(size)
            view[2 + axis] = side
            inside = inside & along.view(view)  # (batch, num_boxes, *spatial) after the last axis
        return inside.any(dim=1, keepdim=True)  # (batch, 1, *spatial)

    def forward(self, x: Tensor) -> Tensor:
        return x.masked_fill(self.box_mask(x), self.config.fill)  # the mask broadcasts over channels
