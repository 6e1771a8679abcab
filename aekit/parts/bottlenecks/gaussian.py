"""The variational bottleneck (Kingma & Welling, 2014): a diagonal Gaussian posterior and a KL to N(0, I).

Besides ``forward`` it offers the two hooks generic code looks for (``Autoencoder.sample``,
``Autoencoder.log_likelihood``): ``posterior(h)`` and ``prior()``, both ``torch.distributions`` objects with
event shape (latent_dim,), so sampling and importance weights need no knowledge of this class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from aekit.errors import check_float
from aekit.parts.base import BOTTLENECKS, Bottleneck, BottleneckOutput, warmup_ramp

__all__ = ["GaussianBottleneck", "gaussian_kl"]

# A code unit counts as active when its posterior mean varies across inputs: Cov_x(E_q[z_j]) > 0.01
# (Burda et al., 2016, section 5.2), computed over the batch at hand.
ACTIVE_UNIT_THRESHOLD = 0.01


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """Closed-form KL(N(mu, exp(logvar)) || N(0, 1)) per element, in nats; same shape as ``mu``."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)


@BOTTLENECKS.register("variational")
class GaussianBottleneck(Bottleneck):
    """``q(z|h) = N(mu(h), diag(exp(logvar(h))))`` with two linear heads; prior ``N(0, I)``.

    Training mode returns a reparameterized sample ``z = mu + exp(logvar / 2) * eps`` (eps from torch's global
    RNG); eval mode returns the posterior mean, so ``encode`` is deterministic.

    Loss term ``"kl"`` (a scalar, the batch mean of the per-sample KL in nats, times a weight):

    - ``beta`` weights the KL (1: the ELBO; >1: beta-VAE, Higgins et al., 2017);
    - ``warmup``: the weight rises linearly from 0 to ``beta`` over this fraction of training (Bowman et al.,
      2016; Sønderby et al., 2016), driven by the trainer's ``set_progress(fraction)`` hook. Outside a trainer
      the progress is 1, i.e. the full weight;
    - ``free_bits``: each latent dimension's batch-mean KL is floored at this many nats (Kingma et al., 2016),
      so the optimizer gains nothing by pushing a unit's KL below the floor (which fights posterior collapse).

    Warm-up and free bits shape the *training* objective only. In eval mode the term is ``beta`` times the raw
    KL, so validation losses are the same objective at every epoch and best-epoch selection is not fooled by a
    small warm-up weight.

    ``stats`` (unweighted, no gradients): ``kl`` (nats per sample), ``kl_per_dim`` (nats per latent dimension,
    averaged over the dimensions), ``kl_by_unit`` (latent_dim,) the same per dimension, ``active_units``
    (dimensions whose posterior mean has batch variance above 0.01) and ``kl_weight`` (the weight applied to this
    batch).
    """

    loss_names = ("kl",)

    @dataclass(frozen=True)
    class Config:
        # 1.0 makes loss = -ELBO (with a "sum" likelihood), the objective whose bound log_likelihood tightens.
        beta: float = 1.0
        # Off for the part itself (its early training losses are not -ELBO); the VAE presets set 0.1, which
        # fights posterior collapse. The trainer never picks a best epoch from inside the warm-up.
        warmup: float = 0.0
        # Off by default: any floor > 0 makes the training loss an upper bound no longer equal to -ELBO.
        free_bits: float = 0.0

        def __post_init__(self) -> None:
            check_float(self.beta, name="beta", owner="GaussianBottleneck", low=0.0, finite=True)
            check_float(self.warmup, name="warmup", owner="GaussianBottleneck", low=0.0, high=1.0)
            check_float(self.free_bits, name="free_bits", owner="GaussianBottleneck", low=0.0, finite=True)

    def __init__(self, config: Config, *, in_features: int, latent_dim: int) -> None:
        super().__init__(config, in_features=in_features, latent_dim=latent_dim)
        self.mu = nn.Linear(in_features, latent_dim)
        self.logvar = nn.Linear(in_features, latent_dim)
        self.progress = 1.0  # fraction of training done; the trainer sets it before every step

    # ------------------------------------------------------------------------------------------- hooks
    def set_progress(self, fraction: float) -> None:
        """Called by the trainer before every step with the fraction of training done, in [0, 1]."""
        self.progress = float(fraction)

    @property
    def warmup_end(self) -> float:
        """The fraction of training after which the training objective is final (the trainer's hook)."""
        return self.config.warmup

    @property
    def prevents_identity(self) -> bool:
        """With a KL to pay per nat of information, a code wider than the input cannot simply copy it."""
        return self.config.beta > 0

    @property
    def kl_weight(self) -> float:
        """The KL weight of a training step now: ``beta``, scaled by the warm-up ramp while it lasts."""
        return self.config.beta * warmup_ramp(self.progress, self.config.warmup)

    def posterior(self, h: Tensor) -> Independent:
        """``q(z|h)``: batch shape ``h.shape[:-1]``, event shape (latent_dim,)."""
        mu, logvar = self.mu(h), self.logvar(h)  # (..., latent_dim) each
        return Independent(Normal(mu, (0.5 * logvar).exp()), 1)

    def prior(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Independent:
        """``p(z) = N(0, I)``: batch shape (), event shape (latent_dim,); ``sample((n,))`` gives (n, latent_dim)."""
        probe = self.mu.weight
        device = probe.device if device is None else device
        dtype = probe.dtype if dtype is None else dtype
        zeros = torch.zeros(self.latent_dim, device=device, dtype=dtype)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, h: Tensor) -> BottleneckOutput:
        mu, logvar = self.mu(h), self.logvar(h)  # (..., latent_dim) each
        if self.training:
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)  # reparameterization: gradients reach mu, logvar
        else:
            z = mu  # the posterior mean: deterministic encode
        kl = gaussian_kl(mu, logvar)  # (batch, ..., latent_dim) nats
        per_dim = kl.flatten(0, -2).mean(0)  # (latent_dim,) mean over the batch (and any code positions)
        positions = kl[0].numel() // self.latent_dim  # 1, or T for sequence codes (batch, T, latent_dim)
        if self.training:
            weight = self.kl_weight
            per_dim_loss = per_dim.clamp_min(self.config.free_bits) if self.config.free_bits > 0 else per_dim
        else:
            weight, per_dim_loss = self.config.beta, per_dim
        # positions * sum over units of the batch-mean KL = the batch mean of the per-sample KL
        loss = weight * positions * per_dim_loss.sum()
        with torch.no_grad():
            flat = mu.detach().flatten(0, -2)  # (batch * positions, latent_dim)
            variance = flat.var(0, unbiased=False)  # (latent_dim,) across the batch
            stats = {
                "kl": kl.detach().flatten(1).sum(1).mean(),
                "kl_per_dim": per_dim.detach().mean(),
                "kl_by_unit": per_dim.detach(),  # (latent_dim,): which units carry information (the report's chart)
                "active_units": (variance > ACTIVE_UNIT_THRESHOLD).sum().to(mu.dtype),
                "kl_weight": torch.tensor(float(weight), dtype=mu.dtype, device=mu.device),
                # the moments of mu, from which pool_stats counts the active units over a whole data set
                "_mu_mean": flat.mean(0),
                "_mu_square_mean": flat.square().mean(0),
            }
        return BottleneckOutput(z=z, losses={"kl": loss}, stats=stats)

    def pool_stats(self, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Active units by the variance of mu across the whole data set (a batch's is noisier, one sample's 0)."""
        if "_mu_mean" in stats and "_mu_square_mean" in stats:
            variance = stats["_mu_square_mean"] - np.square(stats["_mu_mean"])  # (latent_dim,)
            stats = {**stats, "active_units": np.asarray(float((variance > ACTIVE_UNIT_THRESHOLD).sum()))}
        return super().pool_stats(stats)

