"""Reconstruction likelihoods: mse, l1, bce (on logits), ce (categorical), gaussian and laplace.

Every likelihood has ``nll(params, x)``, the training loss (mean or sum over elements, constants dropped where
that is the convention), and ``log_prob(params, x)``, the exact log density (or mass) of ``x`` summed over its
elements with every normalising constant, shape (batch,): what ``Autoencoder.log_likelihood`` needs for a
proper NLL in nats. ``density`` says which: True for densities over real values (a change of units adds a
log-Jacobian), False for probability masses (Bernoulli, categorical).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from aekit.errors import AekitError, check_float, warn
from aekit.parts.base import LIKELIHOODS, Likelihood

logger = logging.getLogger(__name__)

Reduction = Literal["mean", "sum"]

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)
_LOG_TWO = math.log(2.0)


@LIKELIHOODS.register("mse")
class MSELikelihood(Likelihood):
    """Squared error: a Gaussian with fixed unit variance, up to constants.

    ``log_prob`` is the exact log density of that Gaussian, ``-(x - x_hat)^2 / 2 - log(2 pi) / 2`` per element:
    note the factor 1/2, which ``nll`` (plain squared error) leaves out. For another variance use "gaussian".
    """

    density: ClassVar[bool] = True

    @dataclass(frozen=True)
    class Config:
        # "mean" over elements matches the MSE practitioners report; variational models use "sum" (a true NLL).
        reduction: Reduction = "mean"

    def elementwise(self, params: Tensor, x: Tensor) -> Tensor:
        return (params - x).square()

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """Exact log N(x; params, 1) summed over elements, shape (batch,)."""
        return -(0.5 * (params - x).square() + _HALF_LOG_TWO_PI).flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return params


@LIKELIHOODS.register("l1")
class L1Likelihood(Likelihood):
    """Absolute error: a Laplace with fixed scale, up to constants; robust to outlying pixels or values.

    ``log_prob`` is the exact log density of a Laplace with scale 1, ``-|x - x_hat| - log 2`` per element. For
    another scale use "laplace".
    """

    density: ClassVar[bool] = True

    @dataclass(frozen=True)
    class Config:
        reduction: Reduction = "mean"

    def elementwise(self, params: Tensor, x: Tensor) -> Tensor:
        return (params - x).abs()

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """Exact log Laplace(x; params, 1) summed over elements, shape (batch,)."""
        return -((params - x).abs() + _LOG_TWO).flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return params


@LIKELIHOODS.register("bce")
class BCELikelihood(Likelihood):
    """Bernoulli cross-entropy on logits (stable log-sum-exp form); targets are clamped to [0, 1].

    ``log_prob`` is the exact Bernoulli log mass for binary ``x``; for grey values in (0, 1) it is the usual
    cross-entropy score, which is not a normalised density (binarize the data for a true likelihood).
    """

    density: ClassVar[bool] = False
    target_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)

    @dataclass(frozen=True)
    class Config:
        reduction: Reduction = "mean"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._warned = False  # about clamped targets: once per model

    def elementwise(self, params: Tensor, x: Tensor) -> Tensor:
        if self.training and not self._warned and bool(((x < 0) | (x > 1)).any()):
            # the estimators refuse such training data; a module user training on it hears of it once (held-out
            # data a little outside the training range is clamped without a word)
            self._warned = True
            warn(logger, f"The bce likelihood got targets outside [0, 1] (from {float(x.min()):.3g} to "
                 f"{float(x.max()):.3g}); they are clamped to [0, 1], so the model learns the clamped data. Scale "
                 "the data to [0, 1] (min-max) or use the 'mse' likelihood.")
        return F.binary_cross_entropy_with_logits(params, x.clamp(0.0, 1.0), reduction="none")

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """Exact log Bernoulli(x; sigmoid(params)) summed over elements, shape (batch,)."""
        return -self.elementwise(params, x).flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)


@LIKELIHOODS.register("ce")
class CategoricalLikelihood(Likelihood):
    """Categorical cross-entropy: each element of x is a class id in [0, num_classes).

    The decoder emits ``num_classes`` logits per element, class axis first: (batch, num_classes, *input_shape).
    ``log_prob`` is the exact log mass, summed over the elements that are not ``ignore_index``.
    """

    discrete = True
    density: ClassVar[bool] = False

    @dataclass(frozen=True)
    class Config:
        num_classes: int = 256  # bytes / 8-bit pixels, the most common categorical reconstruction target
        reduction: Reduction = "mean"
        # a class id that scores nothing (sequence padding); "mean" then averages over the other elements
        ignore_index: int | None = None

        def __post_init__(self) -> None:
            if not isinstance(self.num_classes, int) or self.num_classes < 2:
                raise AekitError(
                    "The 'num_classes' parameter of CategoricalLikelihood must be an int in [2, inf]. "
                    f"Got {self.num_classes!r} instead."
                )

    def param_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.config.num_classes, *input_shape)

    def elementwise(self, params: Tensor, x: Tensor) -> Tensor:
        target = x.long()
        ignore = self.config.ignore_index
        valid = target if ignore is None else target[target != ignore]
        # one check, so one host-device sync a batch: fractions (cut by long()) or ids out of range
        fractional = (x != torch.round(x)) if x.is_floating_point() else torch.zeros_like(x, dtype=torch.bool)
        out_of_range = ((valid < 0) | (valid >= self.config.num_classes)).any() if valid.numel() else False
        if bool(fractional.any() | out_of_range):
            if fractional.any():
                raise AekitError(f"The categorical likelihood needs whole class ids; the data holds fractions such "
                                 f"as {float(x[fractional][0]):.6g}, which it would cut to whole numbers. Pass class "
                                 "ids, or use loss 'mse'.")
            raise AekitError(
                f"The categorical likelihood needs class ids in [0, {self.config.num_classes - 1}]; the data has "
                f"values in [{int(valid.min())}, {int(valid.max())}]. Set num_classes or use loss 'mse'."
            )
        # half-precision logits (autocast) go up to float32 for a stable log-softmax; float64 stays float64
        logits = params.float() if params.dtype in (torch.float16, torch.bfloat16) else params
        return F.cross_entropy(logits, target, reduction="none", ignore_index=-100 if ignore is None else ignore)

    def nll(self, params: Tensor, x: Tensor) -> Tensor:
        if self.config.reduction == "sum" or self.config.ignore_index is None:
            return super().nll(params, x)
        per_element = self.elementwise(params, x).flatten(1)  # (batch, n_elements), 0 where ignored
        counted = (x.long() != self.config.ignore_index).flatten(1).sum(1).clamp_min(1)
        return per_element.sum(1) / counted

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """Exact log Categorical(x; softmax(params)) summed over the scored elements, shape (batch,)."""
        return -self.elementwise(params, x).flatten(1).sum(1)  # ignored elements are 0 there

    def mean(self, params: Tensor) -> Tensor:
        return params.argmax(dim=1).to(params.dtype)


class _LocationScaleLikelihood(Likelihood):
    """Shared plumbing of "gaussian" and "laplace": a fixed ``scale``, or a learned one per element.

    With ``learned_variance`` the decoder emits two values per element, stacked on a leading axis
    (``param_shape`` = (2, *input_shape)): the location, then a raw value mapped to the scale by
    ``min_scale + softplus(raw)``; softplus keeps the scale positive with gradients that neither explode nor
    vanish, and ``min_scale`` stops the density diverging on constant pixels (MNIST borders).
    """

    density: ClassVar[bool] = True

    def param_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (2, *input_shape) if self.config.learned_variance else input_shape

    def loc_scale(self, params: Tensor) -> tuple[Tensor, Tensor]:
        """Location (batch, *input_shape) and scale (the same shape, or a 0-d tensor when fixed)."""
        if self.config.learned_variance:
            loc, raw = params.unbind(1)  # (batch, *input_shape) each
            return loc, F.softplus(raw) + self.config.min_scale
        return params, torch.tensor(self.config.scale, dtype=params.dtype, device=params.device)

    def log_density(self, loc: Tensor, scale: Tensor, x: Tensor) -> Tensor:
        raise NotImplementedError

    def elementwise(self, params: Tensor, x: Tensor) -> Tensor:
        loc, scale = self.loc_scale(params)
        return -self.log_density(loc, scale, x)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """Exact log density summed over elements, shape (batch,)."""
        return -self.elementwise(params, x).flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return self.loc_scale(params)[0]


def _check_scales(config: Any, owner: str) -> None:
    check_float(config.scale, name="scale", owner=owner, low=0.0, low_inclusive=False, finite=True)
    check_float(config.min_scale, name="min_scale", owner=owner, low=0.0, low_inclusive=False, finite=True)
    if not isinstance(config.learned_variance, bool):
        raise AekitError(f"The 'learned_variance' parameter of {owner} must be a bool. Got "
                         f"{config.learned_variance!r} instead.")


@LIKELIHOODS.register("gaussian")
class GaussianLikelihood(_LocationScaleLikelihood):
    """A Gaussian ``N(x; x_hat, scale^2)`` per element, with a fixed or a learned (per-element) scale.

    The field is ``scale`` (the standard deviation, in the units the model sees), not ``sigma``: the gaussian
    corruption's ``sigma`` is the input noise, and options route by field name to every part that has it.
    """

    @dataclass(frozen=True)
    class Config:
        # 1.0 in [0, 1]-scaled data is a weak likelihood; learn the variance or set it to the data's noise.
        scale: float = 1.0
        learned_variance: bool = False
        # Floor of a learned scale: 1/1000 of the [0, 1] range, below any 8-bit quantisation step.
        min_scale: float = 1e-3
        # "sum": the NLL in nats, on the same scale as a KL term; "mean" divides it by the number of elements.
        reduction: Reduction = "sum"

        def __post_init__(self) -> None:
            _check_scales(self, "GaussianLikelihood")

    def log_density(self, loc: Tensor, scale: Tensor, x: Tensor) -> Tensor:
        return -0.5 * ((x - loc) / scale).square() - scale.log() - _HALF_LOG_TWO_PI


@LIKELIHOODS.register("laplace")
class LaplaceLikelihood(_LocationScaleLikelihood):
    """A Laplace ``exp(-|x - x_hat| / scale) / (2 scale)`` per element, with a fixed or a learned scale.

    Heavier tails than "gaussian": outlying pixels or values cost linearly, not quadratically.
    """

    @dataclass(frozen=True)
    class Config:
        scale: float = 1.0
        learned_variance: bool = False
        min_scale: float = 1e-3  # as for "gaussian"
        reduction: Reduction = "sum"  # as for "gaussian"

        def __post_init__(self) -> None:
            _check_scales(self, "LaplaceLikelihood")

    def log_density(self, loc: Tensor, scale: Tensor, x: Tensor) -> Tensor:
        return -(x - loc).abs() / scale - scale.log() - _LOG_TWO
