"""Salt-and-pepper noise: a random fraction of the elements set to the minimum or the maximum value."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aekit.errors import AekitError, check_float
from aekit.parts.base import CORRUPTIONS, Corruption


@CORRUPTIONS.register("salt_and_pepper")
class SaltAndPepperNoise(Corruption):
    """Each element is hit with probability ``p``; a hit element becomes ``low`` or ``high`` with equal chance.

    ``low`` / ``high`` default to 0 and 1, the range of min-max scaled data (aekit's default scaling of images);
    set them to the data's range otherwise (e.g. -3 and 3 for standardized data).
    """

    @dataclass(frozen=True)
    class Config:
        # 10% of the pixels flipped: heavy enough to matter, light enough that a median filter still copes.
        p: float = 0.1
        low: float = 0.0
        high: float = 1.0

        def __post_init__(self) -> None:
            check_float(self.p, name="p", owner="SaltAndPepperNoise", low=0.0, high=1.0)
            check_float(self.low, name="low", owner="SaltAndPepperNoise", finite=True)
            check_float(self.high, name="high", owner="SaltAndPepperNoise", finite=True)
            if not self.low < self.high:
                raise AekitError(
                    f"The 'low' parameter of SaltAndPepperNoise must be smaller than 'high'={self.high!r}. Got "
                    f"{self.low!r} instead. Pass the data's minimum as low and its maximum as high."
                )

    @property
    def prevents_identity(self) -> bool:  # type: ignore[override]
        """Noise with p=0 changes nothing, so it cannot keep a wide code from copying its input."""
        return self.config.p > 0

    def forward(self, x: Tensor) -> Tensor:
        u = torch.rand_like(x)  # (batch, *sample_shape): u < p/2 -> pepper, p/2 <= u < p -> salt
        half = self.config.p / 2
        x_tilde = x.masked_fill(u < half, self.config.low)
        return x_tilde.masked_fill((u >= half) & (u < self.config.p), self.config.high)
