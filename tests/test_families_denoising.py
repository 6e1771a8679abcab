"""The denoising and restoration presets: what they build, how options reach the corruption, and that a
denoising autoencoder really denoises (noisy MNIST)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from aekit import AutoEncoder
from aekit.errors import AekitError
from aekit.presets import build_config, list_models
from tests.conftest import shared_data

PRESETS = {  # preset -> (backbone, corruption)
    "denoising": ("dense", "gaussian"),
    "denoising-conv": ("conv", "gaussian"),
    "colorization": ("conv", "grayscale"),
    "super-resolution": ("conv", "downsample"),
    "inpainting": ("conv", "box_mask"),
}


def test_presets_are_listed_with_their_parts() -> None:
    assert set(PRESETS) <= set(list_models())
    for name, (backbone, corruption) in PRESETS.items():
        config = build_config(name, input_shape=(3, 8, 8), latent_dim=4)
        assert (config.backbone.name, config.corruption.name) == (backbone, corruption)


@pytest.mark.parametrize(("name", "options", "expected"), [
    ("denoising-conv", {"sigma": 0.3, "clamp": True}, {"sigma": 0.3, "clamp": True}),
    ("super-resolution", {"factor": 4, "interpolation": "linear"}, {"factor": 4, "interpolation": "linear"}),
    ("inpainting", {"box_size": 0.5, "num_boxes": 2}, {"box_size": 0.5, "num_boxes": 2}),
])
def test_options_reach_the_corruption(name: str, options: dict, expected: dict) -> None:
    config = build_config(name, input_shape=(1, 8, 8), latent_dim=4, options={**options, "hidden_dims": [4]})
    assert config.corruption.options == expected
    assert config.backbone.options == {"hidden_dims": [4]}


def test_an_unknown_option_lists_the_corruptions() -> None:
    with pytest.raises(AekitError, match="Unknown option 'sigam' for model 'denoising'.*sigma.*Did you mean 'sigma'"):
        build_config("denoising", input_shape=(4,), latent_dim=2, options={"sigam": 0.1})


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_fits_and_restores_at_the_input_size(name: str) -> None:
    X = np.random.default_rng(0).random((24, 3, 8, 8), dtype=np.float32)
    model = AutoEncoder(name, latent_dim=4, hidden_dims=(4,) if name != "denoising" else (16,), max_epochs=2,
                        batch_size=8, validation_fraction=0, random_state=0, device="cpu").fit(X)
    restored = model.reconstruct(X)
    assert restored.shape == X.shape and np.isfinite(restored).all()
    assert np.array_equal(model.reconstruct(X), restored)  # no corruption at inference


# ------------------------------------------------------------------------------------------- noisy MNIST
def _mnist(split: str, n: int) -> np.ndarray:
    """The first n images of an MNIST split, (n, 784) float32 in [0, 1]."""
    with gzip.open(shared_data("mnist", f"{split}-images-idx3-ubyte.gz")) as f:
        pixels = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return pixels.reshape(-1, 784)[:n].astype(np.float32) / 255


def _psnr(estimate: np.ndarray, clean: np.ndarray) -> float:
    """Mean per-image PSNR in dB for pixels in [0, 1]."""
    mse = np.mean((estimate - clean) ** 2, axis=1)
    return float(np.mean(10 * np.log10(1.0 / mse)))


def test_denoising_autoencoder_beats_the_noisy_input_and_a_plain_autoencoder() -> None:
    train, test = _mnist("train", 3000), _mnist("t10k", 500)
    sigma = 0.5  # heavy noise (6 dB): a plain AE, trained on clean digits only, is thrown off by it
    noisy = np.clip(test + sigma * np.random.default_rng(0).standard_normal(test.shape, dtype=np.float32), 0, 1)
    settings = {"latent_dim": 32, "max_epochs": 8, "lr": 3e-3, "validation_fraction": 0, "random_state": 0,
                "device": "cpu"}
    denoiser = AutoEncoder("denoising", model_options={"sigma": sigma, "clamp": True}, **settings).fit(train)
    plain = AutoEncoder("dense", **settings).fit(train)
    psnr_noisy = _psnr(noisy, test)
    psnr_denoiser = _psnr(denoiser.reconstruct(noisy), test)
    psnr_plain = _psnr(plain.reconstruct(noisy), test)
    assert psnr_denoiser > psnr_noisy + 3, (psnr_denoiser, psnr_noisy)
    assert psnr_denoiser > psnr_plain + 1, (psnr_denoiser, psnr_plain)
