"""Corruptions: each against its definition (noise level, masked fraction, luma, block means, boxes), errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from aekit import Autoencoder, AutoencoderConfig, PartSpec
from aekit.errors import AekitError
from aekit.parts import CORRUPTIONS
from aekit.parts.base import build_config


def corruption(name: str, **options: object) -> torch.nn.Module:
    return CORRUPTIONS.get(name)(build_config(CORRUPTIONS, PartSpec(name, dict(options))))


# ------------------------------------------------------------------------------------------------ gaussian
@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.0])
def test_gaussian_noise_has_the_requested_std(sigma: float) -> None:
    x = torch.rand(64, 3, 32, 32)
    noise = corruption("gaussian", sigma=sigma)(x) - x
    assert abs(noise.mean().item()) < 0.01 * sigma + 1e-3
    assert noise.std().item() == pytest.approx(sigma, rel=0.01)


def test_gaussian_clamp_is_off_by_default_and_keeps_unit_range_when_on() -> None:
    x = torch.rand(16, 1, 28, 28)
    assert corruption("gaussian", sigma=0.5)(x).min() < 0  # standardized data would be wrongly clipped otherwise
    clamped = corruption("gaussian", sigma=0.5, clamp=True)(x)
    assert clamped.min() >= 0 and clamped.max() <= 1


def test_gaussian_sigma_zero_is_the_identity() -> None:
    x = torch.randn(4, 10)
    assert torch.equal(corruption("gaussian", sigma=0.0)(x), x)


# -------------------------------------------------------------------------------------- masking, s&p
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_masking_drops_the_requested_fraction(p: float) -> None:
    x = torch.rand(64, 3, 32, 32) + 0.5  # no zeros, so a zero marks a dropped element
    x_tilde = corruption("masking", p=p)(x)
    dropped = x_tilde == 0
    assert dropped.float().mean().item() == pytest.approx(p, abs=0.01)
    assert torch.equal(x_tilde[~dropped], x[~dropped])  # kept elements are not rescaled


def test_masking_fill_value() -> None:
    x = torch.rand(8, 100) + 2
    x_tilde = corruption("masking", p=0.5, fill=-1.0)(x)
    assert set(torch.unique(x_tilde[x_tilde < 2]).tolist()) == {-1.0}


@pytest.mark.parametrize("p", [0.1, 0.4])
def test_salt_and_pepper_hits_the_requested_fraction_half_each(p: float) -> None:
    x = torch.rand(64, 3, 32, 32) * 0.8 + 0.1  # strictly inside (0, 1)
    x_tilde = corruption("salt_and_pepper", p=p)(x)
    pepper, salt = x_tilde == 0, x_tilde == 1
    assert (pepper | salt).float().mean().item() == pytest.approx(p, abs=0.01)
    assert pepper.float().mean().item() == pytest.approx(p / 2, abs=0.01)
    untouched = ~(pepper | salt)
    assert torch.equal(x_tilde[untouched], x[untouched])


def test_salt_and_pepper_uses_the_data_range() -> None:
    x = torch.zeros(4, 1000)
    values = set(torch.unique(corruption("salt_and_pepper", p=1.0, low=-3.0, high=3.0)(x)).tolist())
    assert values == {-3.0, 3.0}


# ----------------------------------------------------------------------------------------------- grayscale
def test_grayscale_matches_bt601_luma_and_pil() -> None:
    rgb = torch.randint(0, 256, (5, 3, 9, 11), dtype=torch.uint8)
    gray = corruption("grayscale")(rgb.float() / 255)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 0], gray[:, 2])  # replicated
    expected = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    assert torch.allclose(gray[:, 0] * 255, expected.float(), atol=1e-3)
    for i in range(len(rgb)):  # PIL's "L" mode is the same ITU-R 601-2 luma, rounded to 8 bits
        pil = np.asarray(Image.fromarray(rgb[i].permute(1, 2, 0).numpy()).convert("L"), dtype=np.float32)
        assert np.abs(gray[i, 0].numpy() * 255 - pil).max() <= 1.0


def test_grayscale_is_the_identity_on_one_channel_and_1d_signals_work() -> None:
    x = torch.rand(4, 1, 7, 7)
    assert torch.equal(corruption("grayscale")(x), x)
    signal = torch.rand(2, 3, 50)  # (batch, RGB, length)
    assert torch.allclose(corruption("grayscale")(signal)[:, 2], 0.299 * signal[:, 0] + 0.587 * signal[:, 1]
                          + 0.114 * signal[:, 2])


@pytest.mark.parametrize("shape", [(4, 2, 8, 8), (4, 12)])
def test_grayscale_rejects_other_channel_counts(shape: tuple[int, ...]) -> None:
    with pytest.raises(AekitError, match="1 or 3 \\(RGB\\) channels. Got samples of shape"):
        corruption("grayscale")(torch.rand(*shape))


# ---------------------------------------------------------------------------------------------- downsample
def test_downsample_is_the_block_mean_repeated() -> None:
    x = torch.rand(3, 2, 12, 8)
    x_tilde = corruption("downsample", factor=4)(x)
    blocks = x.reshape(3, 2, 3, 4, 2, 4).mean(dim=(3, 5))  # (batch, C, 3, 2) block means
    expected = blocks.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)
    assert torch.allclose(x_tilde, expected, atol=1e-6)
    assert torch.allclose(corruption("downsample", factor=4)(x_tilde), x_tilde, atol=1e-6)  # a projection


def test_downsample_is_a_low_pass_filter() -> None:
    checkerboard = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2  # the highest frequency
    x = checkerboard.float().expand(2, 1, 16, 16)
    for interpolation in ("nearest", "linear"):
        assert torch.allclose(corruption("downsample", interpolation=interpolation)(x), torch.full_like(x, 0.5))
    smooth = torch.linspace(0, 1, 16).expand(1, 1, 16, 16)  # low frequencies mostly survive
    spectrum = torch.fft.rfft2(corruption("downsample")(smooth)).abs()
    assert (spectrum[..., 0, 0] - torch.fft.rfft2(smooth).abs()[..., 0, 0]).abs().max() < 1e-3  # mean kept


def test_downsample_keeps_odd_sizes_signals_and_range() -> None:
    x = torch.rand(2, 3, 7, 9)
    x_tilde = corruption("downsample", factor=2)(x)
    assert x_tilde.shape == x.shape
    assert torch.allclose(x_tilde[..., 6, 8], x[..., 6, 8])  # the last 1x1 block is its own mean
    assert torch.allclose(x_tilde[..., 6, 0], x[..., 6, :2].mean(-1))  # a 1x2 edge block
    linear = corruption("downsample", factor=3, interpolation="linear")(x)
    assert linear.shape == x.shape and linear.min() >= x.min() and linear.max() <= x.max()
    signal = torch.rand(2, 1, 10)
    assert torch.allclose(corruption("downsample", factor=5)(signal)[..., 0], signal[..., :5].mean(-1))


def test_downsample_rejects_tables_and_factor_one() -> None:
    with pytest.raises(AekitError, match="downsample corruption needs samples shaped.*Got samples of shape \\(12,\\)"):
        corruption("downsample")(torch.rand(4, 12))
    with pytest.raises(AekitError, match="'factor' parameter of Downsample must be an int in \\[2, inf\\]. Got 1"):
        corruption("downsample", factor=1)


# ------------------------------------------------------------------------------------------------ box_mask
def test_box_mask_blanks_one_box_of_the_requested_size_on_every_channel() -> None:
    x = torch.rand(32, 3, 28, 20) + 1  # no zeros
    x_tilde = corruption("box_mask", box_size=0.25)(x)
    blanked = x_tilde == 0  # (batch, C, H, W)
    assert torch.equal(blanked[:, 0], blanked[:, 1]) and torch.equal(blanked[:, 0], blanked[:, 2])
    for mask in blanked[:, 0]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert len(rows) == 7 and len(cols) == 5  # round(0.25 * 28), round(0.25 * 20)
        assert rows.max() - rows.min() == 6 and cols.max() - cols.min() == 4  # contiguous
        assert mask.sum() == 35  # a full rectangle
    assert torch.equal(x_tilde[~blanked], x[~blanked])


def test_box_mask_positions_vary_and_several_boxes_cover_more() -> None:
    x = torch.ones(1000, 1, 16, 16)
    one = corruption("box_mask", box_size=0.25)(x) == 0  # 4x4 boxes, top row in 0..12
    top = one[:, 0].any(2).float().argmax(1)  # (batch,) first blanked row
    assert set(top.tolist()) == set(range(13))  # every placement inside the image occurs
    assert top.float().mean().item() == pytest.approx(6.0, abs=0.4)  # uniformly
    three = corruption("box_mask", box_size=0.25, num_boxes=3, fill=-1.0)(x) == -1
    assert three.flatten(1).sum(1).float().mean() > one.flatten(1).sum(1).float().mean() * 2


def test_box_mask_bad_options() -> None:
    with pytest.raises(AekitError, match="'box_size' parameter of BoxMask must be a float in \\(0, 1\\]. Got 2"):
        corruption("box_mask", box_size=2)
    with pytest.raises(AekitError, match="'num_boxes' parameter of BoxMask must be an int in \\[1, inf\\]. Got 0"):
        corruption("box_mask", num_boxes=0)


# -------------------------------------------------------------------------------------------------- common
@pytest.mark.parametrize(("name", "options", "message"), [
    ("gaussian", {"sigma": -0.1}, "'sigma' parameter of GaussianNoise must be a finite float in \\[0, inf\\). "
                                  "Got -0.1"),
    ("masking", {"fill": float("inf")}, "'fill' parameter of MaskingNoise must be a finite float in \\(-inf, inf\\). "
                                        "Got inf"),
    ("masking", {"p": 1.0}, "'p' parameter of MaskingNoise must be a float in \\[0, 1\\). Got 1.0"),
    ("salt_and_pepper", {"p": 1.5}, "'p' parameter of SaltAndPepperNoise must be a float in \\[0, 1\\]. Got 1.5"),
    ("salt_and_pepper", {"low": 1.0, "high": 0.0}, "'low' parameter of SaltAndPepperNoise must be smaller"),
    ("gaussian", {"sigmaa": 0.1}, "Unknown option 'sigmaa' for GaussianNoise.*Did you mean 'sigma'"),
])
def test_bad_options_are_explained(name: str, options: dict, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        corruption(name, **options)


@pytest.mark.parametrize("name", ["gaussian", "masking", "salt_and_pepper", "box_mask"])
def test_random_corruptions_follow_torchs_global_seed(name: str) -> None:
    x = torch.rand(4, 3, 8, 8)
    torch.manual_seed(1)
    first = corruption(name)(x)
    torch.manual_seed(1)
    assert torch.equal(corruption(name)(x), first)
    assert not torch.equal(corruption(name)(x), first)


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_training_scores_against_the_clean_input(name: str) -> None:
    model = Autoencoder(AutoencoderConfig((3, 8, 8), 4, backbone=PartSpec("conv"), corruption=PartSpec(name)))
    x = torch.rand(4, 3, 8, 8)
    out = model.train()(x)
    assert torch.allclose(out.nll, (out.params - x).square().flatten(1).mean(1))  # target: the clean x
    assert not torch.equal(model.corruption(x), x)  # every built-in corruption changes RGB images


def test_a_colorization_model_on_one_channel_warns_when_built_for_training() -> None:
    import warnings

    from aekit.errors import AekitUserWarning

    config = AutoencoderConfig((1, 8, 8), 4, backbone=PartSpec("conv"), corruption=PartSpec("grayscale"))
    with pytest.warns(AekitUserWarning, match=r"leaves 1-channel samples \(1, 8, 8\) as they are, so a model trained "
                                              r"on them learns the identity, not colour. .*--color rgb"):
        Autoencoder(config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Autoencoder(AutoencoderConfig((3, 8, 8), 4, backbone=PartSpec("conv"), corruption=PartSpec("grayscale")))
    with pytest.raises(AekitError, match="1 or 3 \\(RGB\\) channels. Got samples of shape \\(2, 8, 8\\)"):
        Autoencoder(AutoencoderConfig((2, 8, 8), 4, backbone=PartSpec("conv"), corruption=PartSpec("grayscale")))
