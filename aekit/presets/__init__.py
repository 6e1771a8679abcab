"""Presets: named autoencoder recipes (``"dense"``, ``"conv"``, ...), each a thin function, not a class.

Each family's presets live in one module of this package (``core.py``: dense, conv); every module here is
imported on start-up, so a new preset is one function in one file.

A preset returns the part specs of an :class:`~aekit.model.AutoencoderConfig` minus the data-dependent
``input_shape`` and ``latent_dim``. :func:`build_config` applies a user's flat ``options`` dict, routing each
key to every part whose ``Config`` has that field (``"k"`` -> the bottleneck; ``"num_classes"`` -> both the
recurrent backbone and the categorical likelihood, since a field name means the same thing everywhere);
``"part.key"`` (``"backbone.dropout"``) sets it on one part only.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aekit.errors import AekitError, did_you_mean
from aekit.model import AutoencoderConfig
from aekit.parts import BACKBONES, BOTTLENECKS, CORRUPTIONS, LIKELIHOODS, REGULARIZERS, PartSpec
from aekit.registry import Registry

__all__ = ["Preset", "PRESETS", "build_config", "list_models"]


@dataclass(frozen=True)
class Preset:
    """The parts of a recipe. ``description`` is the one line ``aekit list-models`` shows."""

    description: str
    backbone: PartSpec = field(default_factory=lambda: PartSpec("dense"))
    bottleneck: PartSpec = field(default_factory=lambda: PartSpec("deterministic"))
    likelihood: PartSpec = field(default_factory=lambda: PartSpec("mse"))
    regularizers: tuple[PartSpec, ...] = ()
    corruption: PartSpec | None = None


PRESETS: Registry[Callable[[], Preset]] = Registry("model")


def list_models(pattern: str = "*") -> dict[str, str]:
    """Every preset matching ``pattern`` (shell-style, ``"sparse*"``) with its one-line description."""
    return {name: PRESETS.get(name)().description for name in PRESETS.names(pattern)}


_SLOTS = {"backbone": BACKBONES, "bottleneck": BOTTLENECKS, "likelihood": LIKELIHOODS,
          "corruption": CORRUPTIONS}


def _slots(preset: Preset) -> dict[str, tuple[Registry[Any], PartSpec]]:
    slots = {slot: (registry, getattr(preset, slot)) for slot, registry in _SLOTS.items()
             if getattr(preset, slot) is not None}
    for spec in preset.regularizers:
        slots[spec.name] = (REGULARIZERS, spec)
    return slots


def option_names(preset: Preset) -> dict[str, list[str]]:
    """Option key -> the slots ("backbone", "bottleneck", ...) whose config has that field."""
    owners: dict[str, list[str]] = {}
    for slot, (registry, spec) in _slots(preset).items():
        for f in dataclasses.fields(registry.get(spec.name).Config):
            owners.setdefault(f.name, []).append(slot)
    return owners


def build_config(model: str, *, input_shape: tuple[int, ...], latent_dim: int,
                 options: dict[str, Any] | None = None, likelihood: str | None = None) -> AutoencoderConfig:
    """The config of preset ``model`` for this data, with ``options`` routed to the parts that own them.

    Parameters
    ----------
    model : a preset name (see :func:`list_models`).
    input_shape : shape of one sample.
    latent_dim : code size.
    options : flat ``{"k": 16, "hidden_dims": [64, 32]}``; ``"slot.key"`` picks the part explicitly.
    likelihood : replaces the preset's likelihood (``"mse"``, ``"bce"``, ``"l1"``, ``"ce"``).
    """
    preset = PRESETS.get(model)()
    if options is not None and not isinstance(options, Mapping):
        raise AekitError(f"The 'options' parameter of build_config must be a mapping of option names to values, e.g. "
                         f"{{'hidden_dims': [64, 32]}}. Got {options!r} instead.")
    if likelihood is not None:
        fields = {f.name for f in dataclasses.fields(LIKELIHOODS.get(likelihood).Config)}  # did-you-mean on typos
        # keep what the preset chose that the new likelihood also has (a VAE's reduction="sum" stays a true NLL)
        kept = {k: v for k, v in preset.likelihood.options.items() if k in fields}
        preset = dataclasses.replace(preset, likelihood=PartSpec(likelihood, kept))
    slots = _slots(preset)
    owners = option_names(preset)
    routed: dict[str, dict[str, Any]] = {slot: dict(spec.options) for slot, (_, spec) in slots.items()}
    for key, value in (options or {}).items():
        slot, _, name = key.rpartition(".")
        if slot:
            if slot not in slots or slot not in owners.get(name, []):
                valid = sorted({f"{s}.{n}" for n, ss in owners.items() for s in ss})
                raise AekitError(f"Unknown option {key!r} for model {model!r}. Valid options: {', '.join(valid)}."
                                 f"{did_you_mean(key, valid)}")
            targets = [slot]
        elif name in owners:
            targets = owners[name]
        else:
            valid = sorted(owners)
            raise AekitError(f"Unknown option {name!r} for model {model!r}. Valid options: {', '.join(valid)}."
                             f"{did_you_mean(name, valid)}")
        for target in targets:
            routed[target][name] = value
    specs = {slot: PartSpec(spec.name, routed[slot]) for slot, (_, spec) in slots.items()}
    return AutoencoderConfig(
        input_shape=input_shape,
        latent_dim=latent_dim,
        backbone=specs["backbone"],
        bottleneck=specs["bottleneck"],
        likelihood=specs["likelihood"],
        regularizers=tuple(specs[spec.name] for spec in preset.regularizers),
        corruption=specs.get("corruption"),
    )


def _import_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_all()
