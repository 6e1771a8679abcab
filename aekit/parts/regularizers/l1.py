"""L1 sparsity: a penalty on the absolute value of the code."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from aekit.errors import check_float
from aekit.parts.base import REGULARIZERS, Regularizer, RegularizerContext


@REGULARIZERS.register("l1")
class L1Regularizer(Regularizer):
    """``mean over samples of sum_j |z_j|``: with ReLU codes, most units become exactly zero.

    The penalty is the code's L1 norm per sample (summed over units, so a wider code pays for every unit it
    uses), averaged over the batch.
    """

    @dataclass(frozen=True)
    class Config:
        # Against a per-element MSE: on centred MNIST with 128 ReLU units, 1e-3 leaves about 50 active and 3e-3
        # about 20 after 600 steps (benchmarks/sparse_tradeoff.py --quick). Raise it for sparser codes.
        weight: float = 1e-3

        def __post_init__(self) -> None:
            check_float(self.weight, name="weight", owner="L1Regularizer", low=0.0)

    @property
    def prevents_identity(self) -> bool:
        """An active sparsity penalty keeps an overcomplete code from copying its input."""
        return self.config.weight > 0

    def forward(self, context: RegularizerContext) -> Tensor:
        z = context.z.reshape(-1, context.z.shape[-1])  # (samples, latent_dim)
        return z.abs().sum(-1).mean()
