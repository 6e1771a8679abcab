"""The composable autoencoder: wiring of registered parts, one config, one output object."""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from aekit.config import from_dict, to_dict
from aekit.errors import AekitError, check_choice, check_float, check_int, warn
from aekit.parts import (
    BACKBONES,
    BOTTLENECKS,
    CORRUPTIONS,
    LIKELIHOODS,
    REGULARIZERS,
    BottleneckOutput,
    PartSpec,
    RegularizerContext,
)
from aekit.parts.base import build_config

__all__ = ["LOG_LIKELIHOOD_TERMS", "AutoencoderConfig", "Autoencoder", "AutoencoderOutput"]

logger = logging.getLogger(__name__)

LOG_LIKELIHOOD_TERMS = ("bound", "reconstruction")  # what Autoencoder.log_likelihood computes (its 'term')


# the registry of each field of AutoencoderConfig that names parts (AutoencoderConfig.parts)
PART_REGISTRIES = {"backbone": BACKBONES, "bottleneck": BOTTLENECKS, "likelihood": LIKELIHOODS,
                   "corruption": CORRUPTIONS, "regularizers": REGULARIZERS}


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
        object.__setattr__(self, "latent_dim", check_int(self.latent_dim, name="latent_dim", owner="Autoencoder",
                                                         low=1))
        shape = tuple(self.input_shape) if isinstance(self.input_shape, (list, tuple, np.ndarray)) else ()
        if not shape or any(not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 1 for s in shape):
            raise AekitError(
                f"The 'input_shape' parameter of Autoencoder must be a non-empty list of positive ints, e.g. (64,) "
                f"or (1, 28, 28). Got {self.input_shape!r} instead."
            )
        object.__setattr__(self, "input_shape", tuple(int(s) for s in shape))
        if isinstance(self.regularizers, (str, PartSpec)) or not isinstance(self.regularizers, (list, tuple)):
            raise AekitError(f"The 'regularizers' parameter of AutoencoderConfig takes a tuple of PartSpec values, "
                             f"e.g. (PartSpec('l1'),). Got {self.regularizers!r} instead.")
        # a tuple, as from JSON: a list kept here could change under a model built from it, and would not compare
        # equal to the config read back
        object.__setattr__(self, "regularizers", tuple(self.regularizers))
        for name, spec in self.parts():
            if not isinstance(spec, PartSpec):
                example = f"PartSpec({spec!r})" if isinstance(spec, str) else "PartSpec('dense', {...})"
                raise AekitError(f"The '{name}' parameter of AutoencoderConfig takes PartSpec values, e.g. "
                                 f"{example}. Got {spec!r} instead.")

    def parts(self) -> list[tuple[str, PartSpec]]:
        """Every part the config names, as (field, spec): the backbone, the bottleneck, the likelihood, the
        corruption if there is one, then each regularizer (field "regularizers"); see :data:`PART_REGISTRIES`."""
        return [("backbone", self.backbone), ("bottleneck", self.bottleneck), ("likelihood", self.likelihood),
                *([("corruption", self.corruption)] if self.corruption is not None else []),
                *(("regularizers", spec) for spec in self.regularizers)]

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> AutoencoderConfig:
        """The config ``to_json_dict`` wrote; anything but such a mapping raises an :class:`AekitError`."""
        if not isinstance(data, Mapping):
            raise AekitError(f"AutoencoderConfig.from_json_dict takes a dict of the config's fields, as "
                             f"to_json_dict() writes it. Got {type(data).__name__} {data!r:.80} instead.")
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
    stats : diagnostics, no gradients: the bottleneck's under their own names, each regularizer's under
        ``"<regularizer>.<name>"`` (``"l1.l0"``), the regularizer named as in ``Autoencoder.regularizers``.
    """

    x_hat: Tensor
    z: Tensor
    params: Tensor
    nll: Tensor
    losses: dict[str, Tensor]
    loss: Tensor
    stats: dict[str, Tensor] = field(default_factory=dict)


def _probe_dtype_device(module: nn.Module) -> tuple[torch.dtype, torch.device]:
    probe = next((p for p in module.parameters() if p.is_floating_point()), None)
    if probe is None:
        return torch.get_default_dtype(), next(module.parameters(), torch.zeros(())).device
    return probe.dtype, probe.device


def _probe(module: nn.Module, what: str, batch: tuple[int, ...], fix: str) -> Tensor:
    """``module`` run on zeros of shape ``batch`` in eval mode without gradients (its mode restored): a module
    built for other shapes fails here, when the model is built, in one line instead of deep in the first step."""
    dtype, device = _probe_dtype_device(module)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros(batch, dtype=dtype, device=device))
    except AekitError:
        raise
    except Exception as exc:  # a user's module: whatever it raises, say where in one line
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        detail = detail if len(detail) <= 200 else detail[:200] + " (...)"
        advice = f"If it expects another input shape, {fix[0].lower()}{fix[1:]}"
        raise AekitError(f"The custom {what} fails on a probe batch of zeros of shape {batch} ({detail}). "
                         f"{advice}") from None
    finally:
        module.train(was_training)
    if not isinstance(out, Tensor):
        raise AekitError(f"The custom {what} returned {type(out).__name__} for a batch of shape {batch}, not a "
                         f"tensor. {fix}")
    return out


def _check_custom_module(module: Any, what: str) -> None:
    if not isinstance(module, nn.Module):
        raise AekitError(f"The '{what}' parameter of Autoencoder must be a torch.nn.Module. Got "
                         f"{type(module).__name__} instead. Wrap it in a module (a subclass of nn.Module whose "
                         "forward calls it), so its parameters train and save with the model.")


def _encoder_features(encoder: nn.Module, input_shape: tuple[int, ...], custom: bool) -> tuple[int, ...]:
    """The shape of the encoder's features for a batch of 2 samples, (2, ..., out_features): a backbone's
    ``out_features`` is trusted; a custom encoder is probed, and an ``out_features`` it declares is checked."""
    out = getattr(encoder, "out_features", None)
    if not custom and isinstance(out, int):
        return (2, out)
    dims = ", ".join(map(str, input_shape))
    h = _probe(encoder, "encoder", (2, *input_shape),
               f"Make it map (batch, {dims}), the model's input_shape, to features (batch, out_features).")
    if h.ndim < 2 or h.shape[0] != 2:
        raise AekitError(f"The custom encoder returned shape {tuple(h.shape)} for a batch of shape "
                         f"{(2, *input_shape)}. Make it return features (batch, out_features).")
    if out is not None and out != h.shape[-1]:
        raise AekitError(f"The custom encoder's out_features is {out!r}, but it returns {h.shape[-1]} features for a "
                         f"batch of shape {(2, *input_shape)}. Set out_features to {h.shape[-1]}, or remove it.")
    return tuple(h.shape)


def _check_custom_decoder(decoder: nn.Module, code_shape: tuple[int, ...], param_shape: tuple[int, ...],
                          likelihood: str) -> None:
    """Probe a custom decoder with codes of the shape the bottleneck gives, (2, ..., latent_dim)."""
    dims = ", ".join(map(str, param_shape))
    fix = f"Make it map codes (batch, {code_shape[-1]}), the model's latent_dim, to (batch, {dims})."
    params = _probe(decoder, "decoder", code_shape, fix)
    if tuple(params.shape) != (code_shape[0], *param_shape):
        raise AekitError(f"The custom decoder returned shape {tuple(params.shape)} for codes of shape {code_shape}; "
                         f"likelihood '{likelihood}' expects ({code_shape[0]}, {dims}). {fix}")


def regularizer_names(specs: tuple[PartSpec, ...]) -> list[str]:
    """The names of ``specs``' regularizers in ``Autoencoder.regularizers`` (their loss terms, statistics and
    ``settings()``): the registered name, numbered from the second of a name on (``l1``, ``l1_1``)."""
    names: list[str] = []
    for spec in specs:
        name, number = spec.name, len(names)
        while name in names:
            name = f"{spec.name}_{number}"
            number += 1
        names.append(name)
    return names


def describe(config: AutoencoderConfig) -> dict[str, Any]:
    """``config`` as JSON, every part's options filled in with their defaults (see :meth:`Autoencoder.settings`)."""
    described: dict[str, Any] = {"input_shape": list(config.input_shape), "latent_dim": config.latent_dim}
    for name, spec in config.parts():
        if name != "regularizers":
            described[name] = {"name": spec.name, **to_dict(build_config(PART_REGISTRIES[name], spec))}
    names = regularizer_names(config.regularizers)
    # each under its module's name: two regularizers of one kind are two terms, not one
    described["regularizers"] = {name: to_dict(build_config(REGULARIZERS, spec))
                                 for name, spec in zip(names, config.regularizers)}
    return described


def _warn_if_it_can_copy(model: Autoencoder) -> None:
    """Warn when the code is as wide as the input or wider and nothing (sparsity, a corruption) stops a copy.

    Token inputs are exempt: each id carries log2(num_classes) bits, so a code wider than the sequence is normal.
    """
    if BACKBONES.get(model.config.backbone.name).input_kind != "values":
        return
    n_inputs = math.prod(model.config.input_shape)
    corruption = [model.corruption] if model.corruption is not None else []
    parts = (model.bottleneck, *model.regularizers.values(), *corruption)
    constrained = any(getattr(part, "prevents_identity", False) for part in parts)
    # a one-feature input has no narrower code: the warning's advice would be impossible to follow
    if model.config.latent_dim < max(n_inputs, 2) or constrained:
        return
    wider = "exceeds" if model.config.latent_dim > n_inputs else "equals"
    message = (f"latent_dim={model.config.latent_dim} {wider} the {n_inputs} input features and nothing constrains "
               "the code, so the model can learn the identity. Add a sparsity regularizer or a corruption (e.g. "
               "model='overcomplete' or 'sparse-l1'), or use latent_dim < the number of features.")
    warn(logger, message, stacklevel=3)


def _not_a_config(config: Any) -> str:
    """The error for an ``Autoencoder(config)`` given something other than an AutoencoderConfig."""
    if isinstance(config, str):
        fix = (f"Build one from the preset: Autoencoder(build_config({config!r}, input_shape=..., latent_dim=...))."
               if config in _preset_names() else "Build one with aekit.build_config(preset, input_shape=..., "
               "latent_dim=...) or AutoencoderConfig(input_shape, latent_dim, ...).")
        return f"Autoencoder takes an AutoencoderConfig, not the string {config!r}. {fix}"
    if isinstance(config, Mapping):
        return ("Autoencoder takes an AutoencoderConfig, not a dict. Convert it first: "
                "Autoencoder(AutoencoderConfig.from_json_dict(data)).")
    return (f"Autoencoder takes an AutoencoderConfig. Got {type(config).__name__} instead. Build one with "
            "aekit.build_config(preset, input_shape=..., latent_dim=...).")


def _preset_names() -> list[str]:
    from aekit.presets import PRESETS  # the presets build on this module

    return PRESETS.names()


class Autoencoder(nn.Module):
    """An autoencoder composed from registered parts (see :mod:`aekit.parts`).

    Parameters
    ----------
    config : the architecture.
    encoder, decoder : optional modules replacing the backbone's. The encoder maps (batch, *input_shape) to
        features (batch, out_features) (an ``out_features`` attribute is used if present, else a probe); the
        decoder maps (batch, latent_dim) to the likelihood's parameters (batch, *param_shape).
    warn_identity : warn when the model can learn the identity: a code as wide as the input that nothing
        constrains, or a corruption that leaves these samples as they are (``Corruption.check_input_shape``).
        Loading a saved model passes False: it was said when the model was built for training.

    Hooks a part may offer (found by attribute, so nothing here names a part):
    ``decoder.needs_target = True``: ``forward`` calls ``decoder(z, target=x_clean)`` (teacher forcing), while
    ``decode`` calls ``decoder(z)`` (free-running generation). Any submodule's ``set_progress(fraction)`` is
    called by the trainer before every step with the fraction of training done (warm-ups, annealing).
    A bottleneck's ``prior()`` and ``posterior(h)`` (torch distributions, event shape (latent_dim,)) make the
    model generative: ``sample`` draws from the prior, ``log_likelihood`` importance-samples the posterior and
    scores with the likelihood's ``log_prob``.
    A bottleneck's or regularizer's ``prevents_identity = True`` (a sparsity constraint that is active) lets
    ``latent_dim`` exceed the input size without the warning that the model can learn the identity.
    Statistics: the bottleneck's ``BottleneckOutput.stats`` and each regularizer's ``stats(context, penalty)``
    fill ``AutoencoderOutput.stats``; :meth:`pool_stats` has each part turn their means over a data set into
    its figures. A bottleneck's ``code_indices(h)`` gives :meth:`code_indices`.
    """

    def __init__(self, config: AutoencoderConfig, *, encoder: nn.Module | None = None,
                 decoder: nn.Module | None = None, warn_identity: bool = True) -> None:
        super().__init__()
        if not isinstance(config, AutoencoderConfig):
            raise AekitError(_not_a_config(config))
        self.config = config
        shape, latent_dim = config.input_shape, config.latent_dim
        self.likelihood = LIKELIHOODS.get(config.likelihood.name)(build_config(LIKELIHOODS, config.likelihood))
        backbone = BACKBONES.get(config.backbone.name)(build_config(BACKBONES, config.backbone))
        for module, what in ((encoder, "encoder"), (decoder, "decoder")):
            if module is not None:
                _check_custom_module(module, what)
        # which of the backbone's modules were replaced: a saved model needs the same ones passed to load it
        self.custom_parts = tuple(what for module, what in ((encoder, "encoder"), (decoder, "decoder"))
                                  if module is not None)
        self.custom_modules = bool(self.custom_parts)
        self.encoder = encoder if encoder is not None else backbone.build_encoder(shape)
        features = _encoder_features(self.encoder, shape, encoder is not None or decoder is not None)
        bottleneck_cls = BOTTLENECKS.get(config.bottleneck.name)
        self.bottleneck = bottleneck_cls(build_config(BOTTLENECKS, config.bottleneck),
                                         in_features=features[-1], latent_dim=latent_dim)
        param_shape = self.likelihood.param_shape(shape)
        self.param_shape = tuple(param_shape)  # what the decoder returns per sample
        self.decoder = decoder if decoder is not None else backbone.build_decoder(latent_dim, shape, param_shape)
        if self.custom_modules:  # codes shaped as the bottleneck gives them: (2, ..., latent_dim)
            _check_custom_decoder(self.decoder, (*features[:-1], latent_dim), self.param_shape,
                                  config.likelihood.name)
        # a regularizer's penalty is a loss term under its name: one named like another term would replace it
        taken = {"reconstruction": "the reconstruction term",
                 **{name: f"a loss term of bottleneck '{config.bottleneck.name}'"
                    for name in getattr(bottleneck_cls, "loss_names", ())}}
        self.regularizers = nn.ModuleDict()
        for name, spec in zip(regularizer_names(config.regularizers), config.regularizers):
            if name in taken:
                raise AekitError(f"Regularizer {name!r} is named like {taken[name]}, whose value its penalty would "
                                 f"replace in the loss. Register the regularizer under another name.")
            cls = REGULARIZERS.get(spec.name)
            self.regularizers[name] = cls(build_config(REGULARIZERS, spec), latent_dim=latent_dim)
        self.corruption = None
        if config.corruption is not None:
            cls = CORRUPTIONS.get(config.corruption.name)
            self.corruption = cls(build_config(CORRUPTIONS, config.corruption))
        if warn_identity:
            _warn_if_it_can_copy(self)
            if self.corruption is not None:
                self.corruption.check_input_shape(shape)

    # ------------------------------------------------------------------------------------------- inference
    def encode(self, x: Tensor) -> Tensor:
        """Code of ``x`` (batch, *input_shape) -> (batch, latent_dim); deterministic in eval mode."""
        x = self._checked(x, "x", "encode")
        return self._code(self.encoder(x), x.shape[0]).z  # shape[0], not len(): a symbolic batch in export

    def _code(self, h: Tensor, batch: int) -> BottleneckOutput:
        """The bottleneck's output for features ``h``, checked (type and shape only, no sync): a custom
        bottleneck that returns something else fails here in one line, not deep in the decoder."""
        out = self.bottleneck(h)
        name = self.config.bottleneck.name
        if not isinstance(out, BottleneckOutput):
            raise AekitError(f"Bottleneck {name!r} returned {type(out).__name__}, not a BottleneckOutput. Make its "
                             "forward return BottleneckOutput(z=..., losses={...}, stats={...}).")
        z = out.z
        if not isinstance(z, Tensor) or z.ndim < 2 or z.shape[0] != batch or z.shape[-1] != self.config.latent_dim:
            got = f"shape {tuple(z.shape)}" if isinstance(z, Tensor) else type(z).__name__
            raise AekitError(f"Bottleneck {name!r} returned a code z of {got} for a batch of {batch}; the model's "
                             f"codes are (batch, ..., latent_dim={self.config.latent_dim}). Make its forward return "
                             "z of that shape.")
        return out

    def code_indices(self, x: Tensor) -> Tensor:
        """The codebook entry chosen at each code position of ``x`` (batch, *input_shape): int64 (batch,
        ..., positions) for a bottleneck with a codebook (``vq``: the ``latent_dim // embedding_dim`` code
        vectors); other bottlenecks raise, having no discrete codes. Deterministic in eval mode."""
        hook = getattr(self.bottleneck, "code_indices", None)
        if not callable(hook):
            raise AekitError(f"Model with bottleneck '{self.config.bottleneck.name}' has no codebook, so there are no "
                             "code indices. Use a vector-quantized preset such as 'vq-vae'.")
        return hook(self.encoder(self._checked(x, "x", "code_indices")))

    def decode(self, z: Tensor) -> Tensor:
        """Reconstruction (the likelihood's mean) of codes ``z`` (batch, latent_dim)."""
        return self.likelihood.mean(self.decoder(self._checked(z, "z", "decode", (self.config.latent_dim,))))

    def set_progress(self, fraction: float) -> None:
        """Tell the parts how far training is, ``fraction`` in [0, 1]: warm-ups follow it (a VAE bottleneck's KL
        weight, JumpReLU's L0 weight). aekit's trainer calls every part's hook before each step and leaves them at
        1 when training ends; in a loop of your own, call this before each step (``step / total_steps``). A model
        never told trains with every warm-up at its end, as a loaded model does."""
        if isinstance(fraction, Tensor) and fraction.numel() == 1:  # computed from tensors: step / total
            fraction = fraction.item()
        fraction = check_float(fraction, name="fraction", owner="Autoencoder.set_progress", low=0.0, high=1.0)
        for module in self.modules():
            hook = getattr(module, "set_progress", None)
            if module is not self and callable(hook):
                hook(fraction)

    def settings(self) -> dict[str, Any]:
        """The architecture as JSON, every part's options filled in with their defaults: configs that differ only
        by an option given at its default value describe one model alike (what resuming compares). Regularizers
        are listed under their names in :attr:`regularizers` (``l1``, ``l1_1``)."""
        return describe(self.config)

    def reconstruct(self, x: Tensor) -> Tensor:
        """``decode(encode(x))``, never corrupting the input."""
        return self.decode(self.encode(x))

    def pool_stats(self, stats: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The figures of a data set from ``stats``, the batch-size-weighted means of ``forward``'s statistics
        over its batches: each part pools its own (``Bottleneck.pool_stats``, ``Regularizer.pool_stats``), a
        regularizer's under its ``"<regularizer>.<name>"`` prefix."""
        owned: dict[str, dict[str, np.ndarray]] = {name: {} for name in self.regularizers}
        own: dict[str, np.ndarray] = {}
        for key, value in stats.items():
            owner, _, name = key.partition(".")
            if owner in owned and name:
                owned[owner][name] = value
            else:
                own[key] = value
        pooled = self.bottleneck.pool_stats(own)
        for owner, figures in owned.items():
            regularizer = self.regularizers[owner]
            pooled.update({f"{owner}.{name}": value for name, value in regularizer.pool_stats(figures).items()})
        return pooled

    # ----------------------------------------------------------------------------------------- generation
    # Generic over parts: a bottleneck that offers ``prior()`` (and ``posterior(h)``), both torch distributions
    # with event shape (latent_dim,), makes the model generative; nothing here names a bottleneck.
    @property
    def is_generative(self) -> bool:
        """True when the bottleneck has a prior to sample from (:meth:`sample` works)."""
        return callable(getattr(self.bottleneck, "prior", None))

    def _bottleneck_hook(self, name: str, what: str) -> Callable[..., Any]:
        hook = getattr(self.bottleneck, name, None)
        if not callable(hook):
            raise AekitError(f"Model with bottleneck '{self.config.bottleneck.name}' has no {name} {what}. Use a "
                             "variational preset such as 'vae'.")
        return hook

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` codes drawn from the bottleneck's prior: (n, *input_shape), the likelihood's mean.

        Parameters
        ----------
        n : number of samples.
        generator : a CPU ``torch.Generator`` that makes the draw reproducible (it is advanced; torch's global RNG
            is left as it was); None draws from the global RNG.

        Returns the decoded means (e.g. Bernoulli probabilities), not noisy draws from p(x|z). Call ``eval()``
        first when the decoder has dropout or batch norm.
        """
        n = check_int(n, name="n", owner="Autoencoder.sample", low=1)
        _check_generator(generator, "Autoencoder.sample")
        prior = self._bottleneck_hook("prior", "to sample from")()
        with _rng_from(generator, self._device()):
            z = prior.sample((n,))  # (n, latent_dim)
        return self.decode(z)

    def interpolate(self, a: Tensor, b: Tensor, steps: int = 8) -> Tensor:
        """Decode ``steps`` codes evenly spaced on the line from ``encode(a)`` to ``encode(b)``, ends included.

        ``a`` and ``b`` are one sample each, shaped ``input_shape`` or (1, *input_shape); the result is
        (steps, *input_shape). Works for every model (it needs only ``encode`` and ``decode``); in eval mode the
        codes are deterministic (a variational model's posterior means).
        """
        steps = check_int(steps, name="steps", owner="Autoencoder.interpolate", low=2)
        ends = torch.cat([self._one_sample(a, "a"), self._one_sample(b, "b")])  # (2, *input_shape)
        z = self.encode(ends)  # (2, latent_dim)
        t = torch.linspace(0.0, 1.0, steps, dtype=z.dtype, device=z.device).view(steps, *([1] * (z.ndim - 1)))
        return self.decode(z[0] + t * (z[1] - z[0]))  # (steps, latent_dim) -> (steps, *input_shape)

    def log_likelihood(self, x: Tensor, k: int = 100, *, chunk_size: int = 8192,
                       generator: torch.Generator | None = None, term: str = "bound",
                       common_draws: bool = False) -> Tensor:
        """Importance-weighted lower bound on ``log p(x)`` in nats (Burda et al., 2016), shape (batch,).

        ``log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)`` with ``z_i ~ q(z|x)``. With ``k=1`` it is a one-sample
        estimate of the ELBO; its expectation rises toward ``log p(x)`` as ``k`` grows (5000 is the usual value
        for reported test NLLs). Needs a bottleneck with ``posterior(h)`` and ``prior()`` and a likelihood with
        ``log_prob``. An evaluation metric: computed without gradients; call ``eval()`` first.

        Parameters
        ----------
        x : samples (batch, *input_shape), in the units the model sees.
        k : importance samples per input.
        chunk_size : at most this many (input, draw) pairs are decoded at once, which bounds memory for any k.
        generator : a CPU ``torch.Generator`` for reproducible draws; None uses torch's global RNG.
        term : ``"bound"``, the bound above; or ``"reconstruction"``, the reconstruction term alone,
            ``(1/k) sum_i log p(x|z_i)``: An and Cho's (2015) "reconstruction probability", the anomaly score of
            VAEs that leaves out how unusual the code is (no prior, no KL).
        common_draws : with a Gaussian posterior, use the same ``k`` standard-normal draws for every row, so a
            row's estimate does not depend on the rows scored with it or their order (the estimators' scores);
            False draws afresh for each row, so repeating a row gives independent estimates.
        """
        k = check_int(k, name="k", owner="Autoencoder.log_likelihood", low=1)
        chunk_size = check_int(chunk_size, name="chunk_size", owner="Autoencoder.log_likelihood", low=1)
        check_choice(term, LOG_LIKELIHOOD_TERMS, name="term", owner="Autoencoder.log_likelihood")
        _check_generator(generator, "Autoencoder.log_likelihood")
        posterior = self._bottleneck_hook("posterior", "to importance-sample from")
        prior = self._bottleneck_hook("prior", "to score codes against")()
        log_prob = getattr(self.likelihood, "log_prob", None)
        if not callable(log_prob):
            raise AekitError(f"Likelihood '{self.config.likelihood.name}' has no log_prob, so log_likelihood cannot "
                             "score data. Use a likelihood with one: bce, ce, gaussian, laplace, l1 or mse.")
        x = self._checked(x, "x", "log_likelihood")
        teacher_forced = getattr(self.decoder, "needs_target", False)
        results = []
        noise: Tensor | None = None
        with torch.no_grad(), _rng_from(generator, self._device()):
            for start in range(0, len(x), chunk_size):
                rows = x[start:start + chunk_size]  # (b, *input_shape)
                q = posterior(self.encoder(rows))  # batch (b, ...), event (latent_dim,)
                normal = q.base_dist if isinstance(q, Independent) else q
                if common_draws and isinstance(normal, Normal) and noise is None:
                    # the same k standard-normal draws for every row (common random numbers)
                    noise = torch.randn((k, *normal.loc.shape[1:]), device=normal.loc.device, dtype=normal.loc.dtype)
                per_chunk = max(1, chunk_size // len(rows))
                log_w = []
                for done in range(0, k, per_chunk):
                    m = min(per_chunk, k - done)
                    if noise is not None:
                        z = normal.loc + normal.scale * noise[done:done + m].unsqueeze(1)  # (m, b, ..., latent_dim)
                    else:
                        z = q.sample((m,))  # (m, b, ..., latent_dim)
                    target = rows.expand(m, *rows.shape).flatten(0, 1)  # (m * b, *input_shape)
                    codes = z.flatten(0, 1)  # (m * b, ..., latent_dim)
                    params = self.decoder(codes, target=target) if teacher_forced else self.decoder(codes)
                    log_px = log_prob(params, target).view(m, len(rows))  # (m, b)
                    if term == "reconstruction":
                        log_w.append(log_px)
                    else:
                        log_w.append(log_px + _sum_to_2d(prior.log_prob(z)) - _sum_to_2d(q.log_prob(z)))
                weights = torch.cat(log_w).double()  # (k, b)
                if term == "reconstruction":
                    results.append(weights.mean(0))
                else:
                    results.append(torch.logsumexp(weights, 0) - math.log(k))
        return torch.cat(results).to(x.dtype) if results else x.new_zeros(0)

    def _device(self) -> torch.device:
        return next(self.parameters(), torch.zeros(())).device

    def _checked(self, x: Tensor, name: str, method: str, shape: tuple[int, ...] | None = None) -> Tensor:
        """``x`` as the layers take it, or one clear error instead of a shape or dtype error from deep inside
        them (or, for a shape that broadcasts, a silently wrong loss). ``shape``: a sample's (the input's
        by default). Integer and bool tensors (ids, 0/1 pixels) become the weights' dtype."""
        shape = self.config.input_shape if shape is None else shape
        owner = f"Autoencoder.{method}"
        if not isinstance(x, Tensor):
            raise AekitError(f"{owner} expects '{name}' as a torch.Tensor. Got {type(x).__name__} instead. Convert "
                             "it, e.g. torch.as_tensor(X, dtype=torch.float32).")
        if tuple(x.shape[1:]) != shape:
            dims = ", ".join(map(str, shape))
            fix = ("add the batch axis: x.unsqueeze(0)" if tuple(x.shape) == shape else
                   f"pass samples of the model's {'code' if name == 'z' else 'input'} shape")
            raise AekitError(f"{owner} expects '{name}' of shape (batch, {dims}). Got shape {tuple(x.shape)} "
                             f"instead: {fix}.")
        if x.is_complex():  # torch would drop the imaginary part with only a warning
            raise AekitError(f"{owner} got '{name}' of complex dtype {x.dtype}; autoencoders here take real "
                             "values. Pass real data, e.g. x.real, or the real and imaginary parts as channels.")
        weights = next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.get_default_dtype())
        if not x.is_floating_point():
            return x.to(weights)
        if x.dtype != weights and not _autocast_on(x.device.type):
            raise AekitError(f"{owner} got '{name}' of dtype {x.dtype}, but the model's weights are {weights}. "
                             f"Cast the data (x.to({weights})) or the model (model.to({x.dtype})).")
        return x

    def _one_sample(self, x: Tensor, name: str) -> Tensor:
        shape = self.config.input_shape
        if not isinstance(x, Tensor):
            raise AekitError(f"The '{name}' argument of interpolate must be a torch.Tensor. Got {type(x).__name__} "
                             "instead. Convert it, e.g. torch.as_tensor(a, dtype=torch.float32).")
        if tuple(x.shape) == shape:
            return x.unsqueeze(0)
        if tuple(x.shape) == (1, *shape):
            return x
        raise AekitError(f"The '{name}' argument of interpolate must be one sample of shape {shape} (or (1, *shape)). "
                         f"Got shape {tuple(x.shape)} instead. Pass a single sample, e.g. X[i].")

    # ------------------------------------------------------------------------------------------- training
    def forward(self, x: Tensor, target: Tensor | None = None, *, corrupt: bool | None = None) -> AutoencoderOutput:
        """Encode, decode and score ``x``.

        ``target`` is the clean data the reconstruction is scored against (defaults to ``x``); the input is
        corrupted only in training mode.
        """
        x = self._checked(x, "x", "forward")
        if len(x) == 0:
            raise AekitError("Autoencoder.forward got an empty batch (0 samples), whose loss is undefined. Pass at "
                             "least one sample.")
        x_clean = x if target is None else self._checked(target, "target", "forward")
        if len(x_clean) != len(x):
            raise AekitError(f"Autoencoder.forward got {len(x)} samples in 'x' but {len(x_clean)} in 'target'. Pass "
                             "one target per sample.")
        corrupt = self.training if corrupt is None else corrupt
        x_tilde = self.corruption(x) if (corrupt and self.corruption is not None) else x
        h = self.encoder(x_tilde)  # (batch, ..., out_features)
        bottleneck = self._code(h, x.shape[0])  # z: (batch, ..., latent_dim)
        # sequence decoders train with teacher forcing: they see the clean target, shifted, besides the code
        if getattr(self.decoder, "needs_target", False):
            params = self.decoder(bottleneck.z, target=x_clean)  # (batch, *param_shape)
        else:
            params = self.decoder(bottleneck.z)  # (batch, *param_shape)
        if tuple(params.shape) != (len(x), *self.param_shape):  # a custom decoder's; else it may broadcast
            dims = ", ".join(map(str, self.param_shape))
            raise AekitError(f"The decoder returned shape {tuple(params.shape)}; likelihood "
                             f"'{self.config.likelihood.name}' expects (batch, {dims}) here, batch {len(x)}. Make the "
                             "decoder return that shape.")
        nll = self.likelihood.nll(params, x_clean)  # (batch,)
        losses = {"reconstruction": nll.mean(), **bottleneck.losses}
        stats = dict(bottleneck.stats)
        if len(self.regularizers):
            context = RegularizerContext(x=x_clean, x_tilde=x_tilde, h=h, z=bottleneck.z, encode=self.encode)
            for name, regularizer in self.regularizers.items():
                penalty = regularizer(context)  # scalar, unweighted
                if name in losses:  # a bottleneck's term that its class does not declare in loss_names
                    raise AekitError(f"Regularizer {name!r} is named like a loss term of bottleneck "
                                     f"'{self.config.bottleneck.name}', whose value its penalty would replace in the "
                                     "loss. Register the regularizer under another name.")
                losses[name] = regularizer.config.weight * penalty
                with torch.no_grad():
                    stats.update({f"{name}.{key}": value for key, value in regularizer.stats(context, penalty).items()})
        terms = list(losses.values())
        loss = terms[0]
        for term in terms[1:]:
            loss = loss + term
        return AutoencoderOutput(x_hat=self.likelihood.mean(params), z=bottleneck.z, params=params, nll=nll,
                                 losses=losses, loss=loss, stats=stats)


def _check_generator(generator: Any, owner: str) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise AekitError(f"The 'generator' parameter of {owner} must be a torch.Generator or None. Got "
                         f"{generator!r} instead. Pass one seeded, e.g. torch.Generator().manual_seed(0).")


def _autocast_on(device_type: str) -> bool:
    """Whether autocast is on for ``device_type`` (torch < 2.4 asks per device with its own functions)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def _sum_to_2d(log_p: Tensor) -> Tensor:
    """Sum log-probabilities over any code positions: (m, b, ...) -> (m, b)."""
    return log_p.flatten(2).sum(2) if log_p.ndim > 2 else log_p


@contextmanager
def _rng_from(generator: torch.Generator | None, device: torch.device) -> Iterator[None]:
    """Draw from torch's RNG seeded by ``generator`` (advancing it), leaving the global RNG as it was."""
    if generator is None:
        yield
        return
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    devices = [] if device.type == "cpu" else [device.index or 0]
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(seed)
        yield
