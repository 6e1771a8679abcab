"""Colour to grayscale: the colorization task's degradation (the model learns to put the colour back)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from aekit.errors import AekitError, warn
from aekit.parts.base import CORRUPTIONS, Corruption

# ITU-R BT.601 luma weights for (R, G, B): the Y of JPEG and of PIL's convert("L").
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

logger = logging.getLogger(__name__)


@CORRUPTIONS.register("grayscale")
class Grayscale(Corruption):
    """Replaces the colour channels by their ITU-R BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B``, replicated.

    Samples are (channels, ...) with the channels first, as for the conv backbone: 3 channels (RGB) become
    three copies of ``Y``, so shapes stay. On 1-channel input it is the identity (the data is already gray, and
    a colorization model trained on it learns the identity). Luma is a convex combination, so values stay in the
    data's range. It is deterministic: the same image always degrades the same way.
    """

    @dataclass(frozen=True)
    class Config:
        pass

    def check_input_shape(self, input_shape: tuple[int, ...]) -> None:
        _check_channels(input_shape)
        if input_shape[0] == 1:
            warn(logger, f"The grayscale corruption (colorization) leaves 1-channel samples {input_shape} as they "
                 "are, so a model trained on them learns the identity, not colour. Train on RGB images "
                 "(n, 3, H, W) (CLI: --color rgb).")

    def forward(self, x: Tensor) -> Tensor:
        _check_channels(tuple(x.shape[1:]))
        if x.shape[1] == 1:
            return x
        weights = torch.tensor(LUMA_WEIGHTS, dtype=x.dtype, device=x.device)
        luma = torch.einsum("bc...,c->b...", x, weights).unsqueeze(1)  # (batch, 1, *spatial)
        return luma.expand_as(x).contiguous()  # (batch, 3, *spatial)


def _check_channels(sample_shape: tuple[int, ...]) -> None:
    if len(sample_shape) < 2 or sample_shape[0] not in (1, 3):
        raise AekitError(
            f"The grayscale corruption needs samples shaped (channels, ...) with 1 or 3 (RGB) channels. Got "
            f"samples of shape {sample_shape} instead. Use images shaped (n, 3, H, W), or another "
            "corruption ('gaussian', 'masking') for other data."
        )
