"""The transformer backbone: windows of any length, the padded last patch, positional encodings, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aekit import Autoencoder, AutoencoderConfig, PartSpec
from aekit.errors import AekitError
from aekit.parts.backbones.transformer import TransformerBackbone, sinusoidal_encoding

SMALL = {"d_model": 16, "num_heads": 2, "num_layers": 1, "dim_feedforward": 32, "patch_size": 4}


def _model(shape: tuple[int, ...], latent_dim: int = 3, likelihood: PartSpec | None = None, **options) -> Autoencoder:
    return Autoencoder(AutoencoderConfig(shape, latent_dim, backbone=PartSpec("transformer", {**SMALL, **options}),
                                         likelihood=likelihood or PartSpec("mse")))


@pytest.mark.parametrize("length", [1, 3, 4, 5, 37, 64])
@pytest.mark.parametrize("latent", ["pooled", "tokens"])
@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_windows_of_any_length_come_back_at_their_length(length: int, latent: str, positional: str) -> None:
    model = _model((2, length), latent_dim=min(3, 2 * length), latent=latent, positional=positional)
    x = torch.randn(3, 2, length)
    out = model(x)
    assert out.x_hat.shape == x.shape and torch.isfinite(out.loss)
    n_patches = math.ceil(length / 4)
    assert model.encoder.out_features == (16 if latent == "pooled" else 16 * n_patches)


def test_last_patch_is_padded_by_repeating_the_final_value() -> None:
    """A 9-point window encodes exactly like the 12-point window that repeats its last value three times."""
    torch.manual_seed(0)
    short, full = _model((2, 9)), _model((2, 12))
    full.load_state_dict(short.state_dict())  # 3 patches of 4 either way: the same parameters
    x = torch.randn(3, 2, 9)
    padded = torch.cat([x, x[..., -1:].expand(-1, -1, 3)], dim=-1)
    short.eval(), full.eval()
    with torch.no_grad():
        torch.testing.assert_close(short.encoder(x), full.encoder(padded))
        torch.testing.assert_close(short.decode(torch.ones(1, 3)), full.decode(torch.ones(1, 3))[..., :9])


def test_categorical_likelihood_gets_class_logits_per_channel_and_point() -> None:
    model = _model((2, 10), likelihood=PartSpec("ce", {"num_classes": 5}))
    x = torch.randint(0, 5, (3, 2, 10)).float()
    out = model(x)
    assert out.params.shape == (3, 5, 2, 10) and out.x_hat.shape == x.shape


def test_sinusoidal_encoding_matches_the_closed_form() -> None:
    table = sinusoidal_encoding(7, 6).numpy()
    for pos in range(7):
        for i in range(3):
            angle = pos / 10000 ** (2 * i / 6)
            assert table[pos, 2 * i] == pytest.approx(np.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1] == pytest.approx(np.cos(angle), abs=1e-6)
    assert sinusoidal_encoding(3, 5).shape == (3, 5)  # odd widths end with a sine column


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_positions_make_pooled_features_order_aware(positional: str) -> None:
    """Mean pooling alone ignores patch order; the positional encoding is what tells patches apart."""
    torch.manual_seed(0)
    model = _model((1, 8), latent="pooled", positional=positional).eval()
    if positional == "learned":
        with torch.no_grad():
            model.encoder.position.normal_()
    x = torch.randn(2, 1, 8)
    swapped = torch.cat([x[..., 4:], x[..., :4]], dim=-1)  # the two patches exchanged
    with torch.no_grad():
        assert not torch.allclose(model.encoder(x), model.encoder(swapped), atol=1e-4)


def test_decoder_queries_start_at_the_sinusoidal_table() -> None:
    model = _model((1, 12), positional="sinusoidal")
    torch.testing.assert_close(model.decoder.queries.detach(), sinusoidal_encoding(3, 16))
    assert "encoder.position" not in model.state_dict()  # a fixed table is rebuilt, not saved


def test_replicate_padding_reference() -> None:
    x = torch.arange(6.0).reshape(1, 2, 3)
    assert F.pad(x, (0, 2), mode="replicate").tolist() == [[[0, 1, 2, 2, 2], [3, 4, 5, 5, 5]]]


# ----------------------------------------------------------------------------------------------- errors
def test_rejects_samples_that_are_not_windows() -> None:
    with pytest.raises(AekitError, match=r"windows shaped \(channels, length\). Got \(12,\).*make_windows"):
        _model((12,))
    with pytest.raises(AekitError, match=r"Got \(1, 8, 8\)"):
        _model((1, 8, 8))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"d_model": 10, "num_heads": 4}, ("'d_model' parameter of TransformerBackbone must be a multiple of "
                                          "num_heads=4. Got 10")),
        ({"patch_size": 0}, "'patch_size' parameter of TransformerBackbone must be an int in \\[1, inf\\]. Got 0"),
        ({"num_layers": 0}, "'num_layers'.*Got 0"),
        ({"dropout": -0.1}, "'dropout'.*Got -0.1"),
        ({"latent": "pool"}, ("'latent' parameter of TransformerBackbone must be one of pooled, tokens.*"
                             "Did you mean 'pooled'")),
        ({"positional": "sin"}, "'positional' parameter of TransformerBackbone must be one of learned, sinusoidal"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        TransformerBackbone.Config(**options)


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(AekitError, match="Unknown option 'n_heads'.*num_heads.*Did you mean 'num_heads'"):
        _model((1, 8), n_heads=2)
