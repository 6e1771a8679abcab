"""The composable autoencoder: wiring of registered parts, one config, one output object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from aekit.config import from_dict, to_dict
from aekit.errors import AekitError
from aekit.parts import (
    BACKBONES,
    BOTTLENECKS,
    CORRUPTIONS,
    LIKELIHOODS,
    REGULARIZERS,
    PartSpec,
    RegularizerContext,
)
from aekit.parts.base import build_config

__all__ = ["AutoencoderConfig", "Autoencoder", "AutoencoderOutput"]


@dataclass(frozen=True)
class AutoencoderConfig:
    """Architecture of an :class:`Autoencoder`: the input shape, the code size and one spec per part.

    Round-trips through JSON with :func:`aekit.config.to_dict` / :meth:`from_json_dict`.
    """

    input_shape: tuple[int, ...]
    latent_dim: int
    backbone: PartSpec = field(default_factory=lambda: PartSpec("dense"))
    bottleneck: PartSpec = field(default_factory=lambda: PartSpec("deterministic"))
    likelihood: PartSpec = field(default_factory=lambda: PartSpec("mse"))
    regularizers: tuple[PartSpec, ...] = ()
    corruption: PartSpec | None = None

    def __post_init__(self) -> None:
        if isinstance(self.latent_dim, bool) or not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise AekitError(
                f"The 'latent_dim' parameter of Autoencoder must be an int in [1, inf]. Got {self.latent_dim!r} "
                "instead."
            )
        shape = tuple(self.input_shape)
        if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
            raise AekitError(
                f"The 'input_shape' parameter of Autoencoder must be a non-empty list of positive ints. Got "
                f"{self.input_shape!r} instead."
            )
        object.__setattr__(self, "input_shape", shape)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> AutoencoderConfig:
        return from_dict(cls, data, owner="AutoencoderConfig")

    def to_json_dict(self) -> dict[str, Any]:
        return to_dict(self)


@dataclass
class AutoencoderOutput:
    """The result of :meth:`Autoencoder.forward`.

    Attributes
    ----------
    x_hat : reconstruction (the likelihood's mean), shape of the input.
    z : code, shape (batch, latent_dim).
    params : likelihood parameters from the decoder (e.g. logits).
    nll : per-sample reconstruction loss, shape (batch,).
    losses : named, weighted scalar loss terms (``reconstruction``, bottleneck terms, one per regularizer).
    loss : their sum, the training objective.
    stats : diagnostics from the bottleneck (no gradients needed).
    """

    x_hat: Tensor
    z: Tensor
    params: Tensor
    nll: Tensor
    losses: dict[str, Tensor]
    loss: Tensor
    stats: dict[str, Tensor] = field(default_factory=dict)


def _infer_out_features(encoder: nn.Module, input_shape: tuple[int, ...]) -> int:
    out = getattr(encoder, "out_features", None)
    if isinstance(out, int):
        return out
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        probe = next(encoder.parameters(), torch.zeros(()))
        h = encoder(torch.zeros(2, *input_shape, dtype=probe.dtype, device=probe.device))
    encoder.train(was_training)
    return int(h.shape[-1])


class Autoencoder(nn.Module):
    """An autoencoder composed from registered parts (see :mod:`aekit.parts`).

    Parameters
    ----------
    config : the architecture.
    encoder, decoder : optional modules replacing the backbone's. The encoder maps (batch, *input_shape) to
        features (batch, out_features) (an ``out_features`` attribute is used if present, else a probe); the
        decoder maps (batch, latent_dim) to the likelihood's parameters (batch, *param_shape).

    Hooks a part may offer (found by attribute, so nothing here names a part):
    ``decoder.needs_target = True``: ``forward`` calls ``decoder(z, target=x_clean)`` (teacher forcing), while
    ``decode`` calls ``decoder(z)`` (free-running generation). Any submodule's ``set_progress(fraction)`` is
    called by the trainer before every step with the fraction of training done (warm-ups, annealing).
    """

    def __init__(self, config: AutoencoderConfig, *, encoder: nn.Module | None = None,
                 decoder: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        shape, latent_dim = config.input_shape, config.latent_dim
        self.likelihood = LIKELIHOODS.get(config.likelihood.name)(build_config(LIKELIHOODS, config.likelihood))
        backbone = BACKBONES.get(config.backbone.name)(build_config(BACKBONES, config.backbone))
        self.custom_modules = encoder is not None or decoder is not None
        self.encoder = encoder if encoder is not None else backbone.build_encoder(shape)
        bottleneck_cls = BOTTLENECKS.get(config.bottleneck.name)
        self.bottleneck = bottleneck_cls(build_config(BOTTLENECKS, config.bottleneck),
                                         in_features=_infer_out_features(self.encoder, shape), latent_dim=latent_dim)
        param_shape = self.likelihood.param_shape(shape)
        self.decoder = decoder if decoder is not None else backbone.build_decoder(latent_dim, shape, param_shape)
        self.regularizers = nn.ModuleDict()
        for spec in config.regularizers:
            name = spec.name if spec.name not in self.regularizers else f"{spec.name}_{len(self.regularizers)}"
            cls = REGULARIZERS.get(spec.name)
            self.regularizers[name] = cls(build_config(REGULARIZERS, spec), latent_dim=latent_dim)
        self.corruption = None
        if config.corruption is not None:
            cls = CORRUPTIONS.get(config.corruption.name)
            self.corruption = cls(build_config(CORRUPTIONS, config.corruption))

    # ------------------------------------------------------------------------------------------- inference
    def encode(self, x: Tensor) -> Tensor:
        """Code of ``x`` (batch, *input_shape) -> (batch, latent_dim); deterministic in eval mode."""
        return self.bottleneck(self.encoder(x)).z

    def decode(self, z: Tensor) -> Tensor:
        """Reconstruction (the likelihood's mean) of codes ``z`` (batch, latent_dim)."""
        return self.likelihood.mean(self.decoder(z))

    def reconstruct(self, x: Tensor) -> Tensor:
        """``decode(encode(x))``, never corrupting the input."""
        return self.decode(self.encode(x))

    # ------------------------------------------------------------------------------------------- training
    def forward(self, x: Tensor, target: Tensor | None = None) -> AutoencoderOutput:
        """Encode, decode and score ``x``.

        ``target`` is the clean data the reconstruction is scored against (defaults to ``x``); the input is
        corrupted only in training mode.
        """
        x_clean = x if target is None else target
        x_tilde = self.corruption(x) if (self.training and self.corruption is not None) else x
        h = self.encoder(x_tilde)  # (batch, ..., out_features)
        bottleneck = self.bottleneck(h)  # z: (batch, ..., latent_dim)
        # sequence decoders train with teacher forcing: they see the clean target, shifted, besides the code
        if getattr(self.decoder, "needs_target", False):
            params = self.decoder(bottleneck.z, target=x_clean)  # (batch, *param_shape)
        else:
            params = self.decoder(bottleneck.z)  # (batch, *param_shape)
        nll = self.likelihood.nll(params, x_clean)  # (batch,)
        losses = {"reconstruction": nll.mean(), **bottleneck.losses}
        if len(self.regularizers):
            context = RegularizerContext(x=x_clean, x_tilde=x_tilde, h=h, z=bottleneck.z, encode=self.encode)
            for name, regularizer in self.regularizers.items():
                losses[name] = regularizer.config.weight * regularizer(context)
        terms = list(losses.values())
        loss = terms[0]
        for term in terms[1:]:
            loss = loss + term
        return AutoencoderOutput(x_hat=self.likelihood.mean(params), z=bottleneck.z, params=params, nll=nll,
                                 losses=losses, loss=loss, stats=bottleneck.stats)
