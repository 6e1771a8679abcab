"""KL sparsity (Ng's sparse autoencoder): each code unit's mean activation is pulled towards a small ``rho``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from aekit.errors import check_float, warn
from aekit.parts.base import REGULARIZERS, Regularizer, RegularizerContext

logger = logging.getLogger(__name__)

# keeps log(rho_hat) and log(1 - rho_hat) finite when a unit is always off or always on
_EPS = 1e-6
# A unit is "near rho" when its mean activation is within this factor of rho either way: the penalty is doing its
# job on it. A factor, not an absolute band, so that it means the same for rho = 0.01 as for rho = 0.2.
NEAR_RHO_FACTOR = 2.0


def kl_bernoulli(rho: float, rho_hat: Tensor) -> Tensor:
    """``KL(Bernoulli(rho) || Bernoulli(rho_hat))`` element-wise; ``rho_hat`` is clamped into (0, 1)."""
    rho_hat = rho_hat.clamp(_EPS, 1.0 - _EPS)
    return rho * torch.log(rho / rho_hat) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - rho_hat))


@REGULARIZERS.register("kl_sparsity")
class KLSparsityRegularizer(Regularizer):
    """``sum_j KL(rho || rho_hat_j)``, where ``rho_hat_j`` is unit ``j``'s mean activation over the batch.

    Needs codes in [0, 1] (``code_activation="sigmoid"``, as the ``sparse-kl`` preset sets); codes outside
    that range are clamped and a warning says so once.

    ``stats`` (sigmoid codes are never exactly zero, so an L0 says nothing about them; these do):
    ``mean_activation_by_unit`` (latent_dim,) each unit's mean activation ``rho_hat_j``, ``mean_activation``
    its mean over the units, ``near_rho_fraction`` the share of units with ``rho_hat_j``
    within a factor 2 of ``rho`` and ``kl``, the penalty ``sum_j KL(rho || rho_hat_j)``. Over a data set
    (``pool_stats``) the last two come from the data set's ``rho_hat``, not from batch means, and ``rho``, the
    target, is given beside them.
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
            check_float(self.weight, name="weight", owner="KLSparsityRegularizer", low=0.0, finite=True)

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

    def stats(self, context: RegularizerContext, penalty: Tensor) -> dict[str, Tensor]:
        z = context.z.detach().reshape(-1, context.z.shape[-1])  # (samples, latent_dim)
        return self._figures(z.float().mean(0))

    def pool_stats(self, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The share near rho and the KL from the data set's mean activations (batch means differ)."""
        stats = super().pool_stats(stats)
        if "mean_activation_by_unit" in stats:
            figures = self._figures(torch.from_numpy(np.asarray(stats["mean_activation_by_unit"], dtype=np.float64)))
            stats.update({name: value.numpy() for name, value in figures.items()})
            stats["rho"] = np.asarray(self.config.rho)  # the target beside them (a setting, not a batch figure)
        return stats

    def _figures(self, rho_hat: Tensor) -> dict[str, Tensor]:
        """The statistics of mean activations ``rho_hat`` (latent_dim,)."""
        rho = self.config.rho
        near = (rho_hat >= rho / NEAR_RHO_FACTOR) & (rho_hat <= rho * NEAR_RHO_FACTOR)  # (latent_dim,)
        return {"mean_activation_by_unit": rho_hat, "mean_activation": rho_hat.mean(),
                "near_rho_fraction": near.to(rho_hat.dtype).mean(), "kl": kl_bernoulli(rho, rho_hat).sum()}

    def _check_range(self, z: Tensor) -> None:
        z = z.detach()
        if bool((z < 0).any()) or bool((z > 1).any()):
            message = (f"kl_sparsity expects codes in [0, 1], but they span [{float(z.min()):.3g}, "
                       f"{float(z.max()):.3g}]; their means are clamped. Use code_activation='sigmoid'.")
            warn(logger, message, stacklevel=3)
