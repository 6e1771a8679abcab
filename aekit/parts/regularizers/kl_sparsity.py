"""KL sparsity (Ng's sparse autoencoder): each code unit's mean activation is pulled towards a small ``rho``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from aekit.errors import check_float, warn
from aekit.parts.base import REGULARIZERS, Regularizer, RegularizerContext

logger = logging.getLogger(__name__)

# keeps log(rho_hat) and log(1 - rho_hat) finite when a unit is always off or always on
_EPS = 1e-6


def kl_bernoulli(rho: float, rho_hat: Tensor) -> Tensor:
    """``KL(Bernoulli(rho) || Bernoulli(rho_hat))`` element-wise; ``rho_hat`` is clamped into (0, 1)."""
    rho_hat = rho_hat.clamp(_EPS, 1.0 - _EPS)
    return rho * torch.log(rho / rho_hat) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - rho_hat))


@REGULARIZERS.register("kl_sparsity")
class KLSparsityRegularizer(Regularizer):
    """``sum_j KL(rho || rho_hat_j)``, where ``rho_hat_j`` is unit ``j``'s mean activation over the batch.

    Needs codes in [0, 1] (``code_activation="sigmoid"``, as the ``sparse-kl`` preset sets); codes outside
    that range are clamped and a warning says so once.
    """

    @dataclass(frozen=True)
    class Config:
        # rho = 0.05 and a weight of order 0.1 against a per-element MSE are the values of Ng's lecture notes
        # scaled to a mean (not summed) reconstruction error.
        rho: float = 0.05
        weight: float = 0.1

        def __post_init__(self) -> None:
            check_float(self.rho, name="rho", owner="KLSparsityRegularizer", low=0.0, high=1.0,
                        low_inclusive=False, high_inclusive=False)
            check_float(self.weight, name="weight", owner="KLSparsityRegularizer", low=0.0)

    def __init__(self, config: Config, *, latent_dim: int) -> None:
        super().__init__(config, latent_dim=latent_dim)
        self._checked = False  # the range is checked on the first batch only: no device sync per step

    @property
    def prevents_identity(self) -> bool:
        """An active sparsity penalty keeps an overcomplete code from copying its input."""
        return self.config.weight > 0

    def forward(self, context: RegularizerContext) -> Tensor:
        z = context.z.reshape(-1, context.z.shape[-1])  # (samples, latent_dim)
        if not self._checked:
            self._checked = True
            self._check_range(z)
        rho_hat = z.float().mean(0)  # (latent_dim,)
        return kl_bernoulli(self.config.rho, rho_hat).sum()

    def _check_range(self, z: Tensor) -> None:
        z = z.detach()
        if bool((z < 0).any()) or bool((z > 1).any()):
            message = (f"kl_sparsity expects codes in [0, 1], but they span [{float(z.min()):.3g}, "
                       f"{float(z.max()):.3g}]; their means are clamped. Use code_activation='sigmoid'.")
            warn(logger, message, stacklevel=3)
