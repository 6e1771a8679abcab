"""The sparse, overcomplete, contractive and stacked families end to end: presets, options, the warning."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from aekit import AutoEncoder, Autoencoder, AutoencoderConfig, PartSpec, build_config, list_models
from aekit.cli import main
from aekit.errors import AekitError

FAMILY = ["contractive", "jumprelu", "overcomplete", "sparse-kl", "sparse-l1", "stacked", "topk"]


@pytest.fixture(scope="module")
def digits01(digits) -> torch.Tensor:
    return torch.from_numpy((digits / 16.0).astype(np.float32))  # (1797, 64) in [0, 1]


def test_presets_are_listed_with_a_description() -> None:
    models = list_models()
    assert set(FAMILY) <= set(models)
    assert all(models[name] for name in FAMILY)


@pytest.mark.parametrize(("model", "options", "slot", "expected"), [
    ("topk", {"k": 3}, "bottleneck", {"k": 3}),
    ("jumprelu", {"l0_weight": 0.1, "l0_warmup": 0.2}, "bottleneck", {"l0_weight": 0.1, "l0_warmup": 0.2}),
    ("sparse-kl", {"rho": 0.1}, "regularizers", {"rho": 0.1}),
    ("sparse-l1", {"weight": 0.01}, "regularizers", {"weight": 0.01}),
    ("contractive", {"method": "projection"}, "regularizers", {"method": "projection"}),
    ("stacked", {"pretrain": "none", "pretrain_epochs": 2}, "backbone", {"pretrain": "none", "pretrain_epochs": 2}),
])
def test_flat_options_reach_their_part(model: str, options: dict, slot: str, expected: dict) -> None:
    config = build_config(model, input_shape=(16,), latent_dim=8, options=options)
    spec = config.regularizers[0] if slot == "regularizers" else getattr(config, slot)
    assert expected.items() <= spec.options.items()
    Autoencoder(config)  # the options are valid for the part


def test_pretrain_is_not_an_option_of_other_presets() -> None:
    with pytest.raises(AekitError, match="Unknown option 'pretrain' for model 'dense'"):
        build_config("dense", input_shape=(16,), latent_dim=4, options={"pretrain": "layerwise"})


@pytest.mark.parametrize("model", FAMILY)
def test_every_family_preset_fits_and_encodes(model: str, digits) -> None:
    options = {"pretrain_epochs": 1} if model == "stacked" else None
    estimator = AutoEncoder(model, latent_dim=8, hidden_dims=(16,), model_options=options, max_epochs=1,
                            batch_size=64, random_state=0).fit(digits[:200])
    codes = estimator.transform(digits[200:210])
    assert codes.shape == (10, 8) and np.isfinite(codes).all()
    assert estimator.reconstruct(digits[200:210]).shape == (10, 64)


def test_stacked_pretrain_option_survives_get_params_and_clone(digits) -> None:
    options = {"pretrain": "layerwise", "pretrain_epochs": 1}
    estimator = AutoEncoder(model="stacked", model_options=options, hidden_dims=(16,), max_epochs=1,
                            random_state=0)
    assert estimator.get_params()["model_options"] is options
    assert clone(estimator).get_params()["model_options"] == options
    estimator.fit(digits[:200])
    assert estimator.get_params()["model_options"] == {"pretrain": "layerwise", "pretrain_epochs": 1}
    assert estimator.model_.encoder.pretrain == "layerwise"
    assert estimator.config_.backbone.options["pretrain"] == "layerwise"


def test_cli_set_pretrain(tmp_path, capsys, digits) -> None:
    table = tmp_path / "digits.csv"
    pd.DataFrame(digits[:200], columns=[f"px{i}" for i in range(64)]).to_csv(table, index=False)
    out = tmp_path / "run"
    main(["train", str(table), "--out", str(out), "--model", "stacked", "--set", "pretrain=layerwise",
          "--set", "pretrain_epochs=1", "--epochs", "1", "--latent-dim", "4", "--hidden-dims", "16"])
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["backbone"]["options"]["pretrain"] == "layerwise"


# ----------------------------------------------------------------------------------------- overcomplete
def _overcomplete(**options) -> Autoencoder:
    torch.manual_seed(0)
    return Autoencoder(build_config("overcomplete", input_shape=(64,), latent_dim=128, options=options))


def test_overcomplete_with_sparsity_does_not_learn_the_identity(digits01) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sparsity on: no identity warning
        model = _overcomplete()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        loss = model(digits01[torch.randint(0, 1500, (128,))]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    held_out = digits01[1500:]
    noise = torch.rand(300, 64, generator=torch.Generator().manual_seed(1))  # never seen, uniform on [0, 1]
    with torch.no_grad():
        data_error = (model.reconstruct(held_out) - held_out).square().mean().item()
        noise_error = (model.reconstruct(noise) - noise).square().mean().item()
    assert noise_error > 10 * data_error
    assert noise_error > 1 / 12  # worse than predicting 0.5 everywhere: far from a copy


def test_a_code_as_wide_as_the_input_warns_too() -> None:
    with pytest.warns(UserWarning, match=r"latent_dim=8 equals the 8 input features .* learn the identity"):
        Autoencoder(build_config("dense", input_shape=(8,), latent_dim=8))


@pytest.mark.parametrize(("model", "options"), [
    ("overcomplete", {"weight": 0.0}),
    ("dense", {}),
    ("jumprelu", {"l0_weight": 0.0}),
    ("topk", {"k": 16}),  # k = latent_dim: no constraint
    ("denoising", {"sigma": 0.0}),  # a corruption that changes nothing
])
def test_an_unconstrained_wide_code_warns(model: str, options: dict, caplog) -> None:
    config = build_config(model, input_shape=(8,), latent_dim=16, options=options)
    with caplog.at_level(logging.WARNING, logger="aekit.model"):
        with pytest.warns(UserWarning, match=r"latent_dim=16 exceeds the 8 input features .* learn the identity"):
            Autoencoder(config)
    assert "learn the identity" in caplog.text


@pytest.mark.parametrize("config", [
    build_config("overcomplete", input_shape=(8,), latent_dim=16),
    build_config("sparse-kl", input_shape=(8,), latent_dim=16),
    build_config("topk", input_shape=(8,), latent_dim=16, options={"k": 4}),
    build_config("jumprelu", input_shape=(8,), latent_dim=16),
    build_config("contractive", input_shape=(8,), latent_dim=16),
    AutoencoderConfig((8,), 16, corruption=PartSpec("gaussian")),
    AutoencoderConfig((8,), 16, corruption=PartSpec("masking")),
    build_config("codec-dense", input_shape=(8,), latent_dim=8),  # every bit of the code costs rate
    build_config("dense", input_shape=(8,), latent_dim=7),
], ids=["overcomplete", "sparse-kl", "topk", "jumprelu", "contractive", "corruption", "masking", "codec",
        "narrower"])
def test_a_constrained_or_narrow_code_does_not_warn(config: AutoencoderConfig) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Autoencoder(config)


def test_the_estimator_warns_for_an_unconstrained_wide_code(digits) -> None:
    with pytest.warns(UserWarning, match="learn the identity"):
        AutoEncoder("dense", latent_dim=80, hidden_dims=(16,), max_epochs=1, random_state=0).fit(digits[:100])
