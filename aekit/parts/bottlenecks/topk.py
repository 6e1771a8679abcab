"""Top-k sparse codes (Makhzani & Frey, 2013; Gao et al., 2024): ReLU, then keep the k largest units."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aekit.errors import AekitError
from aekit.parts.base import BOTTLENECKS, Bottleneck, BottleneckOutput


def sparsity_stats(active: Tensor, latent_dim: int) -> dict[str, Tensor]:
    """``l0``: mean number of non-zero units per sample; ``active_fraction``: that over ``latent_dim``."""
    l0 = active.reshape(-1, latent_dim).float().sum(-1).mean().detach()
    return {"l0": l0, "active_fraction": l0 / latent_dim}


@BOTTLENECKS.register("topk")
class TopKBottleneck(Bottleneck):
    """``z = TopK_k(ReLU(W h + b))``: at most ``k`` non-zero units per sample, exactly ``k`` when at least ``k``
    pre-activations are positive (always, in practice, for a trained model).

    The sparsity is set directly, with no penalty to tune: gradients flow through the kept units only.
    ``stats`` reports ``l0`` and ``active_fraction``.
    """

    @dataclass(frozen=True)
    class Config:
        # None: a quarter of the code, at least 1, so the default fits any latent_dim.
        k: int | None = None

    def __init__(self, config: Config, *, in_features: int, latent_dim: int) -> None:
        super().__init__(config, in_features=in_features, latent_dim=latent_dim)
        k = config.k if config.k is not None else max(1, latent_dim // 4)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= latent_dim:
            raise AekitError(f"The 'k' parameter of TopKBottleneck must be an int in [1, latent_dim={latent_dim}]. "
                             f"Got {k!r} instead.")
        self.k = k
        self.project = nn.Linear(in_features, latent_dim)

    @property
    def prevents_identity(self) -> bool:
        """Fewer than ``latent_dim`` active units keep an overcomplete code from copying its input."""
        return self.k < self.latent_dim

    def forward(self, h: Tensor) -> BottleneckOutput:
        dense = torch.relu(self.project(h))  # (..., latent_dim)
        values, indices = dense.topk(self.k, dim=-1)  # (..., k)
        z = torch.zeros_like(dense).scatter(-1, indices, values)  # (..., latent_dim), <= k non-zeros
        return BottleneckOutput(z=z, stats=sparsity_stats(z != 0, self.latent_dim))

    # Sparse evaluation (used by aekit.sae): the code only at gathered units, never the dense (..., latent_dim) one.
    def support(self, a: Tensor) -> Tensor:
        """Units (..., latent_dim) bool where the code of pre-activations ``a`` can be non-zero: the top k."""
        indices = a.topk(self.k, dim=-1).indices  # (..., k)
        return torch.zeros_like(a, dtype=torch.bool).scatter(-1, indices, True)

    def code_at(self, a: Tensor, indices: Tensor) -> BottleneckOutput:
        """The code at the units ``indices`` (..., m) given their pre-activations ``a`` (..., m), which must hold
        the top k: the same values as ``forward`` there."""
        return BottleneckOutput(z=torch.relu(a))
