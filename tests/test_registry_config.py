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
