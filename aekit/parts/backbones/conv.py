"""Convolutional encoder/decoder for 1-D signals (C, L) and 2-D images (C, H, W) of any size.

The encoder halves the spatial size with strided convolutions; the decoder records every intermediate size
and restores it exactly (transposed convolutions with the right ``output_padding``, or interpolation to the
recorded size), so 28x28, 8x8, 37x53 or a length-1000 signal all reconstruct at their own size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from aekit.errors import AekitError
from aekit.parts.base import BACKBONES, Backbone, make_activation

Norm = Literal["batch", "layer"] | None
_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}


def _norm(kind: Norm, channels: int, n_spatial: int) -> list[nn.Module]:
    if kind == "batch":
        return [_BATCH_NORM[n_spatial](channels)]
    if kind == "layer":
        return [nn.GroupNorm(1, channels)]  # LayerNorm over (C, *spatial), independent of the input size
    return []


def _down_size(size: int, kernel: int, stride: int) -> int:
    padding = kernel // 2
    return (size + 2 * padding - kernel) // stride + 1


def _check_shape(input_shape: tuple[int, ...]) -> int:
    if len(input_shape) not in (2, 3):
        raise AekitError(
            f"The conv backbone needs samples shaped (channels, length) or (channels, height, width). Got "
            f"{input_shape} instead. Reshape the data (images: (n, C, H, W)) or use the 'dense' backbone."
        )
    return len(input_shape) - 1


def spatial_sizes(input_shape: tuple[int, ...], config: ConvBackbone.Config) -> list[tuple[int, ...]]:
    """Spatial size before the first and after every downsampling stage."""
    sizes = [tuple(input_shape[1:])]
    for _ in config.hidden_dims:
        sizes.append(tuple(_down_size(s, config.kernel_size, config.stride) for s in sizes[-1]))
    return sizes


class ConvEncoder(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], config: ConvBackbone.Config) -> None:
        super().__init__()
        n_spatial = _check_shape(input_shape)
        channels = [input_shape[0], *config.hidden_dims]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers.append(_CONV[n_spatial](c_in, c_out, config.kernel_size, config.stride, config.kernel_size // 2))
            layers += _norm(config.norm, c_out, n_spatial)
            layers.append(make_activation(config.activation, owner="ConvEncoder"))
        self.net = nn.Sequential(*layers)
        self.out_features = channels[-1] * math.prod(spatial_sizes(input_shape, config)[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten(1)  # (batch, C, *spatial) -> (batch, out_features)


class ConvDecoder(nn.Module):
    def __init__(self, latent_dim: int, output_shape: tuple[int, ...], config: ConvBackbone.Config,
                 input_shape: tuple[int, ...]) -> None:
        super().__init__()
        n_spatial = len(input_shape) - 1
        sizes = spatial_sizes(input_shape, config)
        # channels per stage, deepest first; the last stage emits the likelihood's parameters
        out_channels = math.prod(output_shape[: len(output_shape) - n_spatial])
        channels = [*reversed(config.hidden_dims), out_channels]
        self.start_shape = (channels[0], *sizes[-1])
        self.project = nn.Linear(latent_dim, math.prod(self.start_shape))
        self.first_activation = make_activation(config.activation, owner="ConvDecoder")
        layers: list[nn.Module] = []
        kernel, stride, padding = config.kernel_size, config.stride, config.kernel_size // 2
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
            size_in, size_out = sizes[-1 - i], sizes[-2 - i]
            if config.upsampling == "transpose":
                natural = [(s - 1) * stride - 2 * padding + kernel for s in size_in]
                output_padding = tuple(t - n for t, n in zip(size_out, natural))  # in [0, stride - 1]
                layers.append(_CONV_T[n_spatial](c_in, c_out, kernel, stride, padding, output_padding))
            else:
                mode = "nearest" if config.upsampling == "nearest" else ("linear", "bilinear")[n_spatial - 1]
                layers.append(nn.Upsample(size=size_out, mode=mode))
                layers.append(_CONV[n_spatial](c_in, c_out, kernel, 1, padding))
            if i < len(channels) - 2:
                layers += _norm(config.norm, c_out, n_spatial)
                layers.append(make_activation(config.activation, owner="ConvDecoder"))
        self.net = nn.Sequential(*layers)
        self.output_shape = output_shape

    def forward(self, z: Tensor) -> Tensor:
        h = self.first_activation(self.project(z)).unflatten(-1, self.start_shape)  # (batch, C, *spatial)
        return self.net(h).reshape(z.shape[0], *self.output_shape)


@BACKBONES.register("conv")
class ConvBackbone(Backbone):
    """Strided convolutions down, transposed convolutions (or interpolation + convolution) up; 1-D or 2-D."""

    sample_ndims = (2, 3)

    @dataclass(frozen=True)
    class Config:
        # Channel count per downsampling stage; two stages take 28x28 to 7x7, the classic MNIST conv AE.
        hidden_dims: tuple[int, ...] = (32, 64)
        kernel_size: int = 3
        stride: int = 2
        activation: str = "relu"
        norm: Norm = None
        upsampling: Literal["transpose", "nearest", "bilinear"] = "transpose"

        def __post_init__(self) -> None:
            if not self.hidden_dims or any(not isinstance(c, int) or c < 1 for c in self.hidden_dims):
                raise AekitError(
                    "The 'hidden_dims' parameter of ConvBackbone must be a non-empty list of positive ints "
                    f"(channels per stage). Got {list(self.hidden_dims)!r} instead."
                )
            if self.kernel_size < 1 or self.kernel_size % 2 == 0:
                raise AekitError(
                    f"The 'kernel_size' parameter of ConvBackbone must be an odd int >= 1. Got {self.kernel_size!r} "
                    "instead."
                )
            if not 1 <= self.stride <= self.kernel_size:
                raise AekitError(
                    f"The 'stride' parameter of ConvBackbone must be an int in [1, kernel_size={self.kernel_size}]. "
                    f"Got {self.stride!r} instead."
                )

    def build_encoder(self, input_shape: tuple[int, ...]) -> nn.Module:
        return ConvEncoder(input_shape, self.config)

    def build_decoder(self, latent_dim: int, input_shape: tuple[int, ...],
                      output_shape: tuple[int, ...]) -> nn.Module:
        _check_shape(input_shape)
        return ConvDecoder(latent_dim, output_shape, self.config, input_shape)
