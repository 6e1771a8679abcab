"""Reconstruction likelihoods: mse, l1, bce (on logits) and ce (categorical)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from aekit.errors import AekitError
from aekit.parts.base import LIKELIHOODS, Likelihood

Reduction = Literal["mean", "sum"]


@LIKELIHOODS.register("mse")
class MSELikelihood(Likelihood):
    """Squared error: a Gaussian with fixed unit variance, up to constants."""

    @dataclass(frozen=True)
    class Config:
        # "mean" over elements matches the MSE practitioners report; variational models use "sum" (a true NLL).
        reduction: Reduction = "mean"

    def elementwise(self, params: Tensor, x: Tensor) -> Tensor:
        return (params - x).square()

    def mean(self, params: Tensor) -> Tensor:
        return params


@LIKELIHOODS.register("l1")
class L1Likelihood(Likelihood):
    """Absolute error: a Laplace with fixed scale, up to constants; robust to outlying pixels or values."""

    @dataclass(frozen=True)
    class Config:
        reduction: Reduction = "mean"

    def elementwise(self, params: Tensor, x: Tensor) -> Tensor:
        return (params - x).abs()

    def mean(self, params: Tensor) -> Tensor:
        return params


@LIKELIHOODS.register("bce")
class BCELikelihood(Likelihood):
    """Bernoulli cross-entropy on logits (stable log-sum-exp form); targets are clamped to [0, 1]."""

    @dataclass(frozen=True)
    class Config:
        reduction: Reduction = "mean"

    def elementwise(self, params: Tensor, x: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(params, x.clamp(0.0, 1.0), reduction="none")

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)


@LIKELIHOODS.register("ce")
class CategoricalLikelihood(Likelihood):
    """Categorical cross-entropy: each element of x is a class id in [0, num_classes).

    The decoder emits ``num_classes`` logits per element, class axis first: (batch, num_classes, *input_shape).
    """

    discrete = True

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
        if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= self.config.num_classes):
            raise AekitError(
                f"The categorical likelihood needs class ids in [0, {self.config.num_classes - 1}]; the data has "
                f"values in [{int(valid.min())}, {int(valid.max())}]. Set num_classes or use loss 'mse'."
            )
        return F.cross_entropy(params.float(), target, reduction="none",
                               ignore_index=-100 if ignore is None else ignore)

    def nll(self, params: Tensor, x: Tensor) -> Tensor:
        if self.config.reduction == "sum" or self.config.ignore_index is None:
            return super().nll(params, x)
        per_element = self.elementwise(params, x).flatten(1)  # (batch, n_elements), 0 where ignored
        counted = (x.long() != self.config.ignore_index).flatten(1).sum(1).clamp_min(1)
        return per_element.sum(1) / counted

    def mean(self, params: Tensor) -> Tensor:
        return params.argmax(dim=1).to(params.dtype)
