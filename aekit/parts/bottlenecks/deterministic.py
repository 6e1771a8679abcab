"""The plain bottleneck: a linear map to the code, optionally squashed."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aekit.parts.base import BOTTLENECKS, Bottleneck, BottleneckOutput, make_activation


@BOTTLENECKS.register("deterministic")
class DeterministicBottleneck(Bottleneck):
    """``z = code_activation(W h + b)``; the undercomplete autoencoder's code (PCA's nonlinear cousin)."""

    @dataclass(frozen=True)
    class Config:
        # Linear codes by default: a bounded activation caps what the code can express and slows training.
        code_activation: str = "identity"

    def __init__(self, config: Config, *, in_features: int, latent_dim: int) -> None:
        super().__init__(config, in_features=in_features, latent_dim=latent_dim)
        self.project = nn.Linear(in_features, latent_dim)
        self.activation = make_activation(config.code_activation, owner="DeterministicBottleneck")

    def forward(self, h: Tensor) -> BottleneckOutput:
        return BottleneckOutput(z=self.activation(self.project(h)))  # (..., latent_dim)

    # Sparse evaluation (used by aekit.sae): the code only at gathered units, never the dense (..., latent_dim) one.
    def support(self, a: Tensor) -> Tensor:
        """Units (..., latent_dim) bool where the code can be non-zero: a > 0 for ReLU codes, everywhere else."""
        if self.config.code_activation == "relu":
            return a > 0
        return torch.ones_like(a, dtype=torch.bool)

    def code_at(self, a: Tensor, indices: Tensor) -> BottleneckOutput:
        """The code at the units ``indices`` (..., m) given their pre-activations ``a`` (..., m)."""
        return BottleneckOutput(z=self.activation(a))
