"""Registries and configs: did-you-mean errors, duplicates, JSON round trips."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from aekit.config import from_dict, to_dict
from aekit.errors import AekitError
from aekit.parts import BOTTLENECKS
from aekit.registry import Registry


def test_unknown_name_lists_available_and_suggests() -> None:
    with pytest.raises(AekitError) as info:
        BOTTLENECKS.get("determinstic")
    assert "Unknown bottleneck 'determinstic'. Available: deterministic" in str(info.value)
    assert "Did you mean 'deterministic'?" in str(info.value)


def test_duplicate_registration_raises() -> None:
    registry: Registry[object] = Registry("thing")
    registry.register("a")(object)
    with pytest.raises(KeyError, match="already registered"):
        registry.register("a")(int)


def test_the_same_definition_run_again_replaces_the_registered_one() -> None:
    registry: Registry[object] = Registry("thing")
    for _ in range(2):  # a notebook cell run twice: a new class object, the same definition

        class Part:
            pass

        registry.register("part")(Part)
    assert registry.get("part") is Part


@pytest.mark.parametrize("name", [5, "", "a b", "TopK2", " topk"])
def test_names_that_configs_cannot_hold_are_refused(name: object) -> None:
    with pytest.raises(KeyError, match="Invalid thing name"):
        Registry("thing").register(name)  # type: ignore[arg-type]


def test_model_configs_take_numpy_ints_and_refuse_what_is_not_a_shape_or_a_part() -> None:
    import numpy as np

    from aekit import AutoencoderConfig, PartSpec, build_config, list_models

    config = build_config("dense", input_shape=[np.int64(64)], latent_dim=np.int32(4))
    assert config.input_shape == (64,) and type(config.latent_dim) is int
    with pytest.raises(AekitError, match="'input_shape' parameter of Autoencoder must be a non-empty list of positive"):
        build_config("dense", input_shape=64, latent_dim=8)  # type: ignore[arg-type]
    with pytest.raises(AekitError, match="'options' parameter of build_config must be a mapping"):
        build_config("dense", input_shape=(64,), latent_dim=8, options=[("beta", 2)])  # type: ignore[arg-type]
    with pytest.raises(AekitError, match=r"'backbone' parameter of AutoencoderConfig takes PartSpec values, e.g. "
                                         r"PartSpec\('dense'\)"):
        AutoencoderConfig((64,), 8, backbone="dense")  # type: ignore[arg-type]
    for regularizers in ("l1", ("l1", PartSpec("kl_sparsity"))):  # every one is checked, not the last only
        with pytest.raises(AekitError, match="'regularizers' parameter of AutoencoderConfig takes"):
            AutoencoderConfig((64,), 8, regularizers=regularizers)  # type: ignore[arg-type]
    with pytest.raises(AekitError, match="name pattern must be a string"):
        list_models(None)  # type: ignore[arg-type]


def test_names_filter_with_patterns() -> None:
    registry: Registry[int] = Registry("thing")
    for name in ("sparse-l1", "sparse-kl", "vae"):
        registry.register(name)(1)
    assert registry.names("sparse*") == ["sparse-kl", "sparse-l1"]
    assert "vae" in registry and len(registry) == 3


@dataclass(frozen=True)
class Example:
    hidden_dims: tuple[int, ...] = (4, 2)
    norm: str | None = None
    rate: float = 0.5
    steps: int = 3


def test_config_round_trip_and_coercion() -> None:
    config = from_dict(Example, {"hidden_dims": [8, 4], "rate": 1, "steps": 2.0})
    assert config == Example((8, 4), None, 1.0, 2)
    assert from_dict(Example, to_dict(config)) == config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"hiden_dims": [1]}, "Unknown option 'hiden_dims' for Example. Valid options: hidden_dims, norm, rate, "
                              "steps. Did you mean 'hidden_dims'?"),
        ({"rate": "fast"}, "The 'rate' parameter of Example must be of type float. Got 'fast' instead."),
        ({"steps": 1.5}, "The 'steps' parameter of Example must be of type int. Got 1.5 instead."),
        ({"hidden_dims": 3}, "must be a list of values. Got 3 instead."),
    ],
)
def test_config_errors(data: dict, message: str) -> None:
    with pytest.raises(AekitError) as info:
        from_dict(Example, data)
    assert message in str(info.value)


@pytest.mark.parametrize("category", [UserWarning, RuntimeWarning])
def test_a_warning_is_logged_once_and_raised_as_an_aekit_warning(category, caplog) -> None:
    import logging

    from aekit.errors import AekitWarning, warn

    with pytest.warns(category, match="^mind the gap$") as record:
        warn(logging.getLogger("aekit.test"), "mind the gap", category, stacklevel=1)
    assert len(record) == 1 and isinstance(record[0].message, AekitWarning)
    assert record[0].filename == __file__  # stacklevel 1: this line, as warnings.warn would (not aekit.errors)
    assert [r.getMessage() for r in caplog.records if r.name == "aekit.test"] == ["mind the gap"]


@pytest.mark.parametrize("preset", ["contractive", "codec", "topk", "dense"])
def test_a_preset_config_equals_itself_read_back_from_json(preset: str) -> None:
    import json

    from aekit import AutoencoderConfig, build_config

    config = build_config(preset, input_shape=(1, 16, 16) if preset == "codec" else (64,), latent_dim=8)
    assert AutoencoderConfig.from_json_dict(json.loads(json.dumps(config.to_json_dict()))) == config


def test_part_options_are_a_frozen_copy() -> None:
    import copy
    import pickle

    from aekit import PartSpec, build_config

    options = {"k": 3, "hidden_dims": [8]}
    config = build_config("topk", input_shape=(16,), latent_dim=4, options=options)
    options["k"] = 5  # the caller's dict is not the config's
    assert config.bottleneck.options["k"] == 3 and config.backbone.options["hidden_dims"] == (8,)
    with pytest.raises(TypeError):
        config.bottleneck.options["k"] = 8  # type: ignore[index]
    assert pickle.loads(pickle.dumps(config)) == config == copy.deepcopy(config)
    assert PartSpec("dense", {"hidden_dims": [4]}) == PartSpec("dense", {"hidden_dims": (4,)})
    with pytest.raises(AekitError, match="The options of part 'dense' must be a mapping"):
        PartSpec("dense", [("hidden_dims", [4])])  # type: ignore[arg-type]


def test_a_part_without_a_config_dataclass_is_refused_when_registered() -> None:
    from torch import nn

    from aekit.parts import BACKBONES, REGULARIZERS

    class NoConfig(nn.Module):
        pass

    with pytest.raises(AekitError, match=r"Cannot register NoConfig as backbone 'no_config': it has no Config. Give it "
                                         r"a nested @dataclass\(frozen=True\) class Config holding its options"):
        BACKBONES.register("no_config")(NoConfig)

    class PlainConfig(nn.Module):
        class Config:  # not a dataclass: from_dict could not build it
            weight = 1.0

    with pytest.raises(AekitError, match="it has a Config that is not a dataclass"):
        REGULARIZERS.register("plain_config")(PlainConfig)
    with pytest.raises(AekitError, match="Cannot register <function .*> as regularizer 'a_function': parts are "
                                         "registered as classes"):
        REGULARIZERS.register("a_function")(lambda config: None)
    assert "no_config" not in BACKBONES and "plain_config" not in REGULARIZERS and "a_function" not in REGULARIZERS
