"""The part interfaces and their registries: backbones, bottlenecks, likelihoods, regularizers, corruptions.

An autoencoder (``aekit.model.Autoencoder``) is wiring of these parts::

    x -> corruption (training only) -> encoder -> h -> bottleneck -> z -> decoder -> params
    loss = likelihood.nll(params, x_clean) + bottleneck losses + sum(weight * regularizer penalty)

A new variant is one file with a ``Config`` dataclass and a class registered in the registry below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from torch import Tensor, nn

from aekit.config import FrozenOptions, from_dict, to_dict
from aekit.errors import AekitError, check_choice
from aekit.registry import Registry

__all__ = [
    "BACKBONES",
    "BOTTLENECKS",
    "LIKELIHOODS",
    "REGULARIZERS",
    "CORRUPTIONS",
    "PartSpec",
    "Backbone",
    "Bottleneck",
    "BottleneckOutput",
    "Likelihood",
    "Regularizer",
    "RegularizerContext",
    "Corruption",
    "make_activation",
    "warmup_ramp",
    "build_config",
    "drop_helper_stats",
]


@dataclass(frozen=True)
class PartSpec:
    """A registered part by name plus its options (the fields of that part's ``Config``)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.options, Mapping):
            raise AekitError(f"The options of part {self.name!r} must be a mapping of option names to values, e.g. "
                             f"{{'hidden_dims': [64, 32]}}. Got {self.options!r} instead.")
        object.__setattr__(self, "options", FrozenOptions(self.options))  # a copy the caller cannot change


def build_config(registry: Registry[Any], spec: PartSpec) -> Any:
    """Validate ``spec.options`` against the registered class's ``Config``; unknown keys list the valid ones."""
    cls = registry.get(spec.name)
    return from_dict(cls.Config, spec.options, owner=cls.__name__)


_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


def make_activation(name: str, *, owner: str) -> nn.Module:
    """An activation module by name (``relu``, ``gelu``, ``silu``, ``tanh``, ...)."""
    check_choice(name, sorted(_ACTIVATIONS), name="activation", owner=owner)
    return _ACTIVATIONS[name]()


class Part(nn.Module):
    """A module configured by a frozen dataclass ``Config``."""

    Config: ClassVar[type]

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in to_dict(self.config).items())


# ----------------------------------------------------------------------------------------------- backbones
class Backbone:
    """Builds a matching encoder/decoder pair for one input shape.

    ``build_encoder(input_shape)`` returns a module mapping ``x`` (batch, *input_shape) to features ``h`` whose
    last dimension is the module's ``out_features``; ``build_decoder(latent_dim, input_shape, output_shape)``
    returns a module mapping ``z`` (batch, ..., latent_dim) to likelihood parameters (batch, *output_shape),
    where ``output_shape`` is the likelihood's ``param_shape(input_shape)``.
    """

    Config: ClassVar[type]
    # Lengths of sample shape the backbone accepts (conv: (C, L) or (C, H, W)); None accepts any (flattens).
    sample_ndims: ClassVar[tuple[int, ...] | None] = None
    # "values": real-valued features; "tokens": integer ids in [0, num_classes) for the 'ce' likelihood
    input_kind: ClassVar[str] = "values"

    def __init__(self, config: Any) -> None:
        self.config = config

    def build_encoder(self, input_shape: tuple[int, ...]) -> nn.Module:
        raise NotImplementedError

    def build_decoder(self, latent_dim: int, input_shape: tuple[int, ...],
                      output_shape: tuple[int, ...]) -> nn.Module:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------- bottlenecks
def drop_helper_stats(stats: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``stats`` without the helper values a part pools from (names starting with ``_``)."""
    return {name: value for name, value in stats.items() if not name.startswith("_")}


@dataclass
class BottleneckOutput:
    """What a bottleneck hands back: the code, its weighted loss terms (scalars) and diagnostics."""

    z: Tensor
    losses: dict[str, Tensor] = field(default_factory=dict)
    stats: dict[str, Tensor] = field(default_factory=dict)


def warmup_ramp(progress: float, warmup: float) -> float:
    """The factor of a linear warm-up: ``progress / warmup`` clipped to [0, 1], and 1 without a warm-up.

    ``progress`` is the fraction of training done (a part's ``set_progress`` hook), ``warmup`` the fraction over
    which a penalty rises from 0 to its full weight."""
    return 1.0 if warmup <= 0.0 else min(1.0, max(0.0, progress) / warmup)


class Bottleneck(Part):
    """Maps encoder features ``h`` (..., in_features) to the code ``z`` (..., latent_dim).

    In eval mode the mapping must be deterministic (a variational bottleneck returns the posterior mean).

    Optional hooks, found by attribute: ``prior()`` and ``posterior(h)`` (torch distributions with event shape
    (latent_dim,)) make the model generative (``Autoencoder.sample`` / ``log_likelihood``);
    ``prevents_identity`` (True when a sparsity constraint is active) allows latent_dim > input size without
    a warning; ``set_progress(fraction)`` follows training progress for warm-ups, and ``warmup_end`` (the
    fraction of training after which the training objective stops changing) keeps the trainer from choosing
    the best epoch by losses taken mid-warm-up.

    A bottleneck with a codebook offers ``code_indices(h)``: for features ``h`` (..., in_features), the entry
    chosen at each code position, an integer tensor (..., positions) (``Autoencoder.code_indices``); others
    have none.
    """

    # the names of the loss terms forward returns (BottleneckOutput.losses): a regularizer of one of these names
    # would replace that term, so the model refuses it when built
    loss_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any, *, in_features: int, latent_dim: int) -> None:
        super().__init__(config)
        self.in_features = in_features
        self.latent_dim = latent_dim

    def forward(self, h: Tensor) -> BottleneckOutput:
        raise NotImplementedError

    def pool_stats(self, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Data-set figures from ``stats``, each the mean of its per-batch values weighted by batch size
        (:meth:`aekit.AutoEncoder.bottleneck_stats`). A figure that is not such a mean (how many codebook entries
        a whole data set uses, a variance across samples) is recomputed here from ones that are, and helper
        values (names starting with ``_``) are dropped. The default keeps the means as they are."""
        return drop_helper_stats(stats)


# --------------------------------------------------------------------------------------------- likelihoods
class Likelihood(Part):
    """The reconstruction term: turns decoder output ``params`` into a per-sample negative log-likelihood.

    ``discrete`` likelihoods model integer class ids and must see unscaled data. Each built-in likelihood also
    has ``log_prob(params, x) -> (batch,)``, the exact log density (``density = True``) or log mass, used for
    importance-weighted log-likelihoods. ``target_range`` is the interval the (scaled) data must lie in, when
    the likelihood has one (Bernoulli: [0, 1]).
    """

    discrete: ClassVar[bool] = False
    target_range: ClassVar[tuple[float, float] | None] = None

    def param_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the decoder output for one sample."""
        return input_shape

    def elementwise(self, params: Tensor, x: Tensor) -> Tensor:
        """Per-element loss, shape (batch, *input_shape)."""
        raise NotImplementedError

    def mean(self, params: Tensor) -> Tensor:
        """The reconstruction ``x_hat`` in data space (the likelihood's mean or mode)."""
        raise NotImplementedError

    def nll(self, params: Tensor, x: Tensor) -> Tensor:
        """Per-sample loss (batch,), the mean or sum over elements as ``config.reduction`` says."""
        per_element = self.elementwise(params, x).flatten(1)  # (batch, n_elements)
        return per_element.sum(1) if self.config.reduction == "sum" else per_element.mean(1)


# -------------------------------------------------------------------------------------------- regularizers
@dataclass
class RegularizerContext:
    """Everything a penalty may look at: the clean input, the encoder input, features, code, and the encoder."""

    x: Tensor
    x_tilde: Tensor
    h: Tensor
    z: Tensor
    encode: Callable[[Tensor], Tensor]


class Regularizer(Part):
    """A penalty added to the loss as ``config.weight * penalty``; ``Config`` must have a ``weight`` field.

    Statistics work as a bottleneck's do: :meth:`stats` gives a batch's figures, each a mean over the batch's
    samples (the model files them under the regularizer's name, ``"l1.l0"``), and :meth:`pool_stats` turns
    their batch-size-weighted means into the figures of a whole data set
    (:meth:`aekit.AutoEncoder.bottleneck_stats`).
    """

    def __init__(self, config: Any, *, latent_dim: int) -> None:
        super().__init__(config)
        self.latent_dim = latent_dim

    def forward(self, context: RegularizerContext) -> Tensor:  # scalar, unweighted
        raise NotImplementedError

    def stats(self, context: RegularizerContext, penalty: Tensor) -> dict[str, Tensor]:
        """Diagnostics of one batch without gradients, given the batch and this regularizer's unweighted
        ``penalty`` on it: scalars or per-unit vectors, each a mean over the batch's samples, so that their
        batch-size-weighted mean is the data set's. The default reports nothing."""
        return {}

    def pool_stats(self, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Data-set figures from the batch-size-weighted means of :meth:`stats` (as
        :meth:`Bottleneck.pool_stats`): figures that are no such mean are recomputed here, helpers (names
        starting with ``_``) dropped. The default keeps the means as they are."""
        return drop_helper_stats(stats)


# --------------------------------------------------------------------------------------------- corruptions
class Corruption(Part):
    """Corrupts or degrades the encoder input during training only; the target stays clean.

    ``prevents_identity``: whether it keeps a code as wide as the input from learning to copy it (False for a
    corruption set to change nothing, such as noise of sigma 0).
    """

    prevents_identity: bool = True

    def check_input_shape(self, input_shape: tuple[int, ...]) -> None:
        """Called when a model is built for training: refuse, or warn about, samples of this shape (the
        default takes any)."""

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError


def _part_checker(kind: str) -> Callable[[str, Any], None]:
    """What a part registry checks on ``register``: a class with a dataclass ``Config`` (configs are built from
    it, so without one the part would fail only when a model first names it)."""

    def check(name: str, obj: Any) -> None:
        config = getattr(obj, "Config", None) if isinstance(obj, type) else None
        if not isinstance(obj, type):
            raise AekitError(f"Cannot register {obj!r} as {kind} {name!r}: parts are registered as classes. "
                             "Decorate the class itself.")
        if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
            found = "has no Config" if config is None else f"has a Config that is not a dataclass ({config!r})"
            raise AekitError(f"Cannot register {obj.__name__} as {kind} {name!r}: it {found}. Give it a nested "
                             "@dataclass(frozen=True) class Config holding its options (with no fields if it has "
                             "none).")

    return check


BACKBONES: Registry[type[Backbone]] = Registry("backbone", _part_checker("backbone"))
BOTTLENECKS: Registry[type[Bottleneck]] = Registry("bottleneck", _part_checker("bottleneck"))
LIKELIHOODS: Registry[type[Likelihood]] = Registry("likelihood", _part_checker("likelihood"))
REGULARIZERS: Registry[type[Regularizer]] = Registry("regularizer", _part_checker("regularizer"))
CORRUPTIONS: Registry[type[Corruption]] = Registry("corruption", _part_checker("corruption"))


