"""A quantizing bottleneck with a learned factorized entropy model (Ballé et al., 2018, "variational image
compression with a scale hyperprior", appendix 6.1): the code is rounded to integers and each code unit has its
own learned, non-parametric density, so the model knows how many bits every code costs.

Training replaces rounding by additive uniform noise (a differentiable stand-in with the same marginal); the
rate in bits enters the loss, ``loss = distortion + rate_weight * bits``, so one ``rate_weight`` per quality
level trades size against error. In eval mode the code is rounded, which is what an entropy coder writes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aekit.errors import AekitError, check_float
from aekit.parts.base import BOTTLENECKS, Bottleneck, BottleneckOutput

# The smallest probability the entropy model hands out: -log2(1e-9) = 30 bits caps the cost of one symbol,
# which keeps the rate finite for a code far in a tail without distorting any probability that matters.
MIN_LIKELIHOOD = 1e-9


@BOTTLENECKS.register("factorized")
class FactorizedBottleneck(Bottleneck):
    """``z = round(code_gain * (W h + b))`` with a learned density ``p_j`` per code unit; ``losses["rate"]`` is
    ``rate_weight`` times the mean number of bits per sample, ``-sum_j log2 P(z_j)``.

    Each density is a monotone function ``c_j(v)`` (the logit of a CDF) built from small matrices with
    softplus-positive weights; the probability of the integer ``k`` is ``sigmoid(c_j(k + 1/2)) -
    sigmoid(c_j(k - 1/2))``. ``code_pmf(low, high)`` tabulates these for an entropy coder. ``stats`` reports
    ``bits`` (per sample) and ``active_fraction`` (units not rounded to zero).
    """

    loss_names = ("rate",)

    @dataclass(frozen=True)
    class Config:
        # lambda in loss = distortion + lambda * bits per sample: the quality knob (smaller: bigger, better files).
        rate_weight: float = 1e-3
        # Width of each density's hidden layers; (3, 3, 3) is the configuration of Ballé et al. (2018).
        filters: tuple[int, ...] = (3, 3, 3)
        # Initial spread of the densities in code units; 10 covers the range a freshly initialized code spans.
        init_scale: float = 10.0
        # Fixed factor on the projection, z = round(code_gain * (W h + b)). A fresh projection of features in [0, 1]
        # spans a fraction of one quantization step, so the training noise drowns it and short trainings collapse
        # to an empty code; a gain of ~10 starts the code at a few steps wide (the dense codec preset uses it).
        code_gain: float = 1.0

        def __post_init__(self) -> None:
            check_float(self.rate_weight, name="rate_weight", owner="FactorizedBottleneck", low=0.0)
            for name in ("init_scale", "code_gain"):
                check_float(getattr(self, name), name=name, owner="FactorizedBottleneck", low=0.0,
                            low_inclusive=False)
            if not self.filters or any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in self.filters):
                raise AekitError("The 'filters' parameter of FactorizedBottleneck must be a non-empty list of positive "
                                 f"ints. Got {list(self.filters)!r} instead.")

    @property
    def prevents_identity(self) -> bool:
        """Every bit of the code costs ``rate_weight`` in the loss, so a code as wide as the input cannot copy it
        for free."""
        return self.config.rate_weight > 0

    def __init__(self, config: Config, *, in_features: int, latent_dim: int) -> None:
        super().__init__(config, in_features=in_features, latent_dim=latent_dim)
        self.project = nn.Linear(in_features, latent_dim)
        widths = (1, *config.filters, 1)
        scale = config.init_scale ** (1.0 / (len(widths) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
            init = math.log(math.expm1(1.0 / scale / w_out))  # softplus(init) * width spreads by init_scale
            self.matrices.append(nn.Parameter(torch.full((latent_dim, w_out, w_in), init)))
            self.biases.append(nn.Parameter(torch.rand(latent_dim, w_out, 1) - 0.5))
            if i < len(widths) - 2:
                # small non-zero start so the non-linearity's parameters get a gradient from the first step
                self.factors.append(nn.Parameter(torch.full((latent_dim, w_out, 1), 1e-3)))

    def cdf_logits(self, values: Tensor) -> Tensor:
        """Logit of each unit's CDF at ``values`` (latent_dim, n) -> (latent_dim, n); monotone in the values."""
        v = values.unsqueeze(1)  # (latent_dim, 1, n)
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            v = torch.matmul(F.softplus(matrix), v) + bias  # (latent_dim, width, n)
            if i < len(self.factors):
                v = v + torch.tanh(self.factors[i]) * torch.tanh(v)
        return v.squeeze(1)

    def likelihood(self, values: Tensor) -> Tensor:
        """Probability mass of the unit-width bin around each of ``values`` (latent_dim, n), floored."""
        lower = self.cdf_logits(values - 0.5)
        upper = self.cdf_logits(values + 0.5)
        # evaluate in the tail where the sigmoids are small, so the difference keeps its precision
        sign = -torch.sign(lower + upper).detach()
        mass = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return mass.clamp_min(MIN_LIKELIHOOD)

    def bits(self, z: Tensor) -> Tensor:
        """Bits of each code under the entropy model: (..., latent_dim) -> (...)."""
        flat = z.reshape(-1, self.latent_dim).transpose(0, 1)  # (latent_dim, n)
        return -torch.log2(self.likelihood(flat)).sum(0).reshape(z.shape[:-1])

    @torch.no_grad()
    def code_pmf(self, low: Tensor, high: Tensor) -> Tensor:
        """Probabilities of the integers ``low[j]..high[j]`` for every unit: (latent_dim, width), zero-padded.

        ``width = max(high - low) + 1``; row ``j`` holds ``P(z_j = low[j] + k)`` for ``k <= high[j] - low[j]``.
        """
        width = int((high - low).max()) + 1
        steps = torch.arange(width, dtype=torch.float32, device=low.device)
        values = low.float().unsqueeze(1) + steps  # (latent_dim, width)
        mass = self.likelihood(values)
        return torch.where(steps <= (high - low).unsqueeze(1).float(), mass, torch.zeros_like(mass))

    def forward(self, h: Tensor) -> BottleneckOutput:
        y = self.config.code_gain * self.project(h)  # (..., latent_dim)
        if self.training:
            z = y + torch.rand_like(y) - 0.5  # additive uniform noise: a differentiable proxy for rounding
        else:
            z = torch.round(y)
        bits = self.bits(z)  # (...)
        losses = {"rate": self.config.rate_weight * bits.mean()}
        active = (torch.round(z) != 0).float().mean().detach()
        return BottleneckOutput(z=z, losses=losses, stats={"bits": bits.mean().detach(), "active_fraction": active})
