"""Additive Gaussian noise: the classic denoising autoencoder's corruption (Vincent et al., 2008/2010)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aekit.errors import check_float
from aekit.parts.base import CORRUPTIONS, Corruption


@CORRUPTIONS.register("gaussian")
class GaussianNoise(Corruption):
    """``x_tilde = x + sigma * eps`` with ``eps ~ N(0, 1)`` drawn per element from torch's global RNG.

    ``sigma`` is in the units of the data the model sees, i.e. after aekit's scaler (images: [0, 1]).
    ``clamp=True`` clips ``x_tilde`` to [0, 1], as a sensor or an 8-bit image would; it is correct only for data
    in [0, 1] (min-max scaled tables and images), never for standardized data, so it is off by default.
    """

    @dataclass(frozen=True)
    class Config:
        # A tenth of the [0, 1] range: clearly visible noise (20 dB PSNR) that leaves the content recognisable.
        sigma: float = 0.1
        clamp: bool = False

        def __post_init__(self) -> None:
            check_float(self.sigma, name="sigma", owner="GaussianNoise", low=0.0, finite=True)

    @property
    def prevents_identity(self) -> bool:  # type: ignore[override]
        """Noise of sigma 0 changes nothing, so it cannot keep a wide code from copying its input."""
        return self.config.sigma > 0

    def forward(self, x: Tensor) -> Tensor:
        x_tilde = x + self.config.sigma * torch.randn_like(x)  # (batch, *sample_shape)
        return x_tilde.clamp(0.0, 1.0) if self.config.clamp else x_tilde
