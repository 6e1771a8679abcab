"""Dense (MLP) encoder/decoder: the baseline backbone for tabular data and flattened images."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from aekit.errors import AekitError, check_float
from aekit.parts.base import BACKBONES, Backbone, make_activation

Norm = Literal["batch", "layer"] | None


def mlp(widths: list[int], *, activation: str, dropout: float, norm: Norm, owner: str) -> nn.Sequential:
    """Linear -> norm -> activation -> dropout for each consecutive pair of ``widths``."""
    layers: list[nn.Module] = []
    for width_in, width_out in zip(widths[:-1], widths[1:]):
        layers.append(nn.Linear(width_in, width_out))
        if norm == "batch":
            layers.append(nn.BatchNorm1d(width_out))
        elif norm == "layer":
            layers.append(nn.LayerNorm(width_out))
        layers.append(make_activation(activation, owner=owner))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class DenseEncoder(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], config: DenseBackbone.Config) -> None:
        super().__init__()
        widths = [math.prod(input_shape), *config.hidden_dims]
        self.net = mlp(widths, activation=config.activation, dropout=config.dropout, norm=config.norm,
                       owner="DenseEncoder")
        self.out_features = widths[-1]
        self.skip = nn.Linear(widths[0], widths[-1], bias=False) if config.skip else None

    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)  # (batch, prod(input_shape))
        h = self.net(flat)  # (batch, out_features)
        return h if self.skip is None else h + self.skip(flat)


class DenseDecoder(nn.Module):
    def __init__(self, latent_dim: int, output_shape: tuple[int, ...], config: DenseBackbone.Config) -> None:
        super().__init__()
        widths = [latent_dim, *reversed(config.hidden_dims)]
        self.net = mlp(widths, activation=config.activation, dropout=config.dropout, norm=config.norm,
                       owner="DenseDecoder")
        self.head = nn.Linear(widths[-1], math.prod(output_shape))  # no activation: the likelihood owns it
        self.skip = nn.Linear(latent_dim, math.prod(output_shape), bias=False) if config.skip else None
        self.output_shape = output_shape

    def forward(self, z: Tensor) -> Tensor:
        out = self.head(self.net(z))  # (batch, prod(output_shape))
        if self.skip is not None:
            out = out + self.skip(z)
        return out.unflatten(-1, self.output_shape)  # (batch, *output_shape)


@BACKBONES.register("dense")
class DenseBackbone(Backbone):
    """A multilayer perceptron; the decoder mirrors the encoder's ``hidden_dims``."""

    @dataclass(frozen=True)
    class Config:
        # Two tapering layers fit tabular data and 28x28 images alike without tuning.
        hidden_dims: tuple[int, ...] = (256, 128)
        activation: str = "relu"
        dropout: float = 0.0
        norm: Norm = None
        # A linear path beside each MLP (input -> features, code -> output), so the model is at least a linear
        # (PCA-like) autoencoder from the first steps and the MLP learns what is left. The dense codec uses it:
        # on MNIST (15 epochs) it lifted the reconstruction from 19.7 to 22.6 dB while spending fewer bits.
        skip: bool = False

        def __post_init__(self) -> None:
            if any(not isinstance(w, int) or w < 1 for w in self.hidden_dims):
                raise AekitError(
                    "The 'hidden_dims' parameter of DenseBackbone must be a list of positive ints. "
                    f"Got {list(self.hidden_dims)!r} instead."
                )
            check_float(self.dropout, name="dropout", owner="DenseBackbone", low=0.0, high=1.0,
                        high_inclusive=False)

    def build_encoder(self, input_shape: tuple[int, ...]) -> nn.Module:
        return DenseEncoder(input_shape, self.config)

    def build_decoder(self, latent_dim: int, input_shape: tuple[int, ...],
                      output_shape: tuple[int, ...]) -> nn.Module:
        return DenseDecoder(latent_dim, output_shape, self.config)
