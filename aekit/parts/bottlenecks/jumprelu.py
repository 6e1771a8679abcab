"""JumpReLU codes (Rajamanoharan et al., 2024, "Jumping Ahead"): a learned threshold per unit and an L0 penalty.

``z_j = a_j * H(a_j - theta_j)`` with ``a = W h + b``. The Heaviside step has no useful gradient, so its
threshold derivative is replaced by a straight-through estimate: a rectangle kernel of width ``bandwidth``
around the threshold, ``d/dtheta H(a - theta) ~ -(1/bandwidth) * rect((a - theta)/bandwidth)``. The L0 penalty
``l0_weight * sum_j H(a_j - theta_j)`` is then trainable directly, with no shrinkage of the kept values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from aekit.errors import check_float
from aekit.parts.base import BOTTLENECKS, Bottleneck, BottleneckOutput, warmup_ramp
from aekit.parts.bottlenecks.topk import sparsity_stats

_MIN_THRESHOLD = 1e-6  # keeps theta > 0: a JumpReLU at theta <= 0 would pass negative values


def _rectangle(u: Tensor) -> Tensor:
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


def _sum_to(grad: Tensor, like: Tensor) -> Tensor:
    """Sum a broadcast gradient (..., latent_dim) back to the threshold's shape (latent_dim,); a threshold given
    per element (gathered for a sparse evaluation) keeps its gradient per element."""
    if grad.shape == like.shape:
        return grad.to(like.dtype)
    return grad.reshape(-1, like.shape[-1]).sum(0).to(like.dtype)


class _JumpReLU(torch.autograd.Function):
    """``a * H(a - theta)``; d/da = H(a - theta); d/dtheta = -(theta / bandwidth) * rect((a - theta) / bandwidth)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(a, threshold)
        ctx.bandwidth = bandwidth
        return a * (a > threshold).to(a.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        a, threshold = ctx.saved_tensors
        bandwidth = ctx.bandwidth
        grad_a = grad * (a > threshold).to(grad.dtype)
        grad_threshold = -(threshold / bandwidth) * _rectangle((a - threshold) / bandwidth) * grad
        return grad_a, _sum_to(grad_threshold, threshold), None


class _Step(torch.autograd.Function):
    """``H(a - theta)``; d/da = 0; d/dtheta = -(1 / bandwidth) * rect((a - theta) / bandwidth)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(a, threshold)
        ctx.bandwidth = bandwidth
        return (a > threshold).to(a.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor, None]:
        a, threshold = ctx.saved_tensors
        bandwidth = ctx.bandwidth
        grad_threshold = -(1.0 / bandwidth) * _rectangle((a - threshold) / bandwidth) * grad
        return None, _sum_to(grad_threshold, threshold), None


@BOTTLENECKS.register("jumprelu")
class JumpReLUBottleneck(Bottleneck):
    """Sparse codes with a learned threshold per unit, trained with an L0 penalty (loss term ``l0``).

    The ``l0`` loss is ``l0_weight * mean over samples of the number of active units``; with ``l0_warmup``
    > 0 its coefficient rises linearly from 0 over that fraction of training (the trainer calls
    :meth:`set_progress`). ``stats`` reports ``l0`` and ``active_fraction``.
    """

    loss_names = ("l0",)

    @dataclass(frozen=True)
    class Config:
        # Against a per-element MSE: on centred MNIST with 128 units, 1e-3 ends near 11 active units and 1e-4
        # near 50 after 600 steps (benchmarks/sparse_tradeoff.py --quick): a clearly sparse default.
        l0_weight: float = 1e-3
        # Rajamanoharan et al. use 0.001 on inputs normalized to unit mean-square norm and batches of 4096
        # tokens; with small batches and codes of order 0.1-1 a wider window lets enough pre-activations
        # land near the threshold for it to move every step.
        bandwidth: float = 0.05
        initial_threshold: float = 0.05
        l0_warmup: float = 0.0  # fraction of training over which the L0 coefficient ramps up from 0

        def __post_init__(self) -> None:
            owner = "JumpReLUBottleneck"
            check_float(self.l0_weight, name="l0_weight", owner=owner, low=0.0, finite=True)
            check_float(self.bandwidth, name="bandwidth", owner=owner, low=0.0, low_inclusive=False, finite=True)
            check_float(self.initial_threshold, name="initial_threshold", owner=owner, low=0.0,
                        low_inclusive=False, finite=True)
            check_float(self.l0_warmup, name="l0_warmup", owner=owner, low=0.0, high=1.0)

    def __init__(self, config: Config, *, in_features: int, latent_dim: int) -> None:
        super().__init__(config, in_features=in_features, latent_dim=latent_dim)
        self.project = nn.Linear(in_features, latent_dim)
        # The threshold itself is the parameter, not its log as in the paper's code: Adam moves a parameter by
        # about lr per step, so a log-threshold grows by a factor e^(lr * steps) at most, far too slowly for
        # the few hundred steps of a small data set (on digits, 150 steps left it nearly where it started).
        # Positivity is kept by a floor in `threshold`.
        self.raw_threshold = nn.Parameter(torch.full((latent_dim,), config.initial_threshold))
        # Outside the trainer the penalty applies in full; the trainer sets the progress before every step.
        self.progress = 1.0

    @property
    def threshold(self) -> Tensor:
        """``theta`` (latent_dim,): the parameter floored at a tiny positive value, with the gradient passed
        straight through the floor so a threshold that overshoots below zero can still come back."""
        raw = self.raw_threshold
        return raw + (raw.clamp_min(_MIN_THRESHOLD) - raw).detach()

    @property
    def prevents_identity(self) -> bool:
        """An active L0 penalty keeps an overcomplete code from copying its input."""
        return self.config.l0_weight > 0

    def set_progress(self, fraction: float) -> None:
        self.progress = fraction

    @property
    def warmup_end(self) -> float:
        """The fraction of training after which the L0 coefficient is final (the trainer's hook)."""
        return self.config.l0_warmup

    def l0_coefficient(self) -> float:
        """``l0_weight``, scaled by the warm-up when one is set."""
        return self.config.l0_weight * warmup_ramp(self.progress, self.config.l0_warmup)

    def forward(self, h: Tensor) -> BottleneckOutput:
        return self._code(self.project(h), self.threshold)  # pre-activations (..., latent_dim)

    # Sparse evaluation (used by aekit.sae): the code only at gathered units, never the dense (..., latent_dim) one.
    def support(self, a: Tensor) -> Tensor:
        """Units (..., latent_dim) bool where the code or its gradients can be non-zero: at or above the threshold
        less half the straight-through window."""
        return a > self.threshold.detach() - self.config.bandwidth / 2

    def code_at(self, a: Tensor, indices: Tensor) -> BottleneckOutput:
        """The code at the units ``indices`` (..., m) given their pre-activations ``a`` (..., m); exact (value,
        gradients and the L0 loss) when the gathered units hold the :meth:`support`."""
        return self._code(a, self.threshold[indices])

    def _code(self, a: Tensor, threshold: Tensor) -> BottleneckOutput:
        bandwidth = self.config.bandwidth
        z = _JumpReLU.apply(a, threshold, bandwidth)  # (..., latent_dim)
        active = _Step.apply(a, threshold, bandwidth)  # (..., latent_dim), 0/1
        losses: dict[str, Tensor] = {}
        if self.config.l0_weight > 0:
            l0 = active.reshape(-1, active.shape[-1]).sum(-1).mean()  # mean active units per sample
            losses["l0"] = self.l0_coefficient() * l0
        stats = sparsity_stats(active > 0, active.shape[-1])
        stats["active_fraction"] = stats["l0"] / self.latent_dim
        return BottleneckOutput(z=z, losses=losses, stats=stats)
