"""train_codec(transform="pca"): the linear block codec against PCA and the high-rate step formula."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from aekit.compression.codec import QUALITY_LEVELS, random_patches, train_codec
from aekit.errors import AekitError
from tests.compression.conftest import gradient_image


@pytest.fixture(scope="module")
def tiles() -> np.ndarray:
    return random_patches([gradient_image(64, 64)], 600, 8, seed=0)  # (600, 3, 8, 8)


def _weights(codec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    project, head = codec.model.bottleneck.project, codec.model.decoder.head
    return (project.weight.detach().double().numpy(), project.bias.detach().double().numpy(),
            head.weight.detach().double().numpy(), head.bias.detach().double().numpy())


def test_pca_codec_is_the_principal_components_at_the_high_rate_step(tiles: np.ndarray, tmp_path: Path) -> None:
    torch.manual_seed(0)
    codec = train_codec(tiles, tmp_path / "pca", kind="image", quality=3, latent_dim=12, transform="pca", epochs=2,
                        lr=1e-2)
    encoder, encoder_bias, decoder, decoder_bias = _weights(codec)
    d = tiles[0].size
    step = math.sqrt(6 * QUALITY_LEVELS[3] / math.log(2))  # lambda per value is the quality's lambda
    flat = tiles.reshape(len(tiles), -1).astype(np.float64)
    reference = PCA(n_components=12).fit(flat)
    # rows of the encoder are orthogonal, of length 1 / step, and span the same subspace as PCA's components
    np.testing.assert_allclose(encoder @ encoder.T * step**2, np.eye(12), atol=1e-4)
    np.testing.assert_allclose(step**2 * encoder.T @ encoder, reference.components_.T @ reference.components_,
                               atol=1e-4)
    # the decoder inverts the encoder on that subspace and adds the mean back
    np.testing.assert_allclose(decoder @ encoder, reference.components_.T @ reference.components_, atol=1e-4)
    np.testing.assert_allclose(decoder_bias, flat.mean(0), atol=1e-5)
    np.testing.assert_allclose(encoder_bias, -encoder @ flat.mean(0), atol=1e-4)
    # so the code is the rounded PCA scores over the step, and the model reports the same
    scores = (flat - flat.mean(0)) @ encoder.T
    np.testing.assert_array_equal(codec.analyze(tiles), np.round(scores).astype(np.int32))
    assert codec.model.config.latent_dim == 12 and encoder.shape == (12, d)


def test_pca_transform_stays_fixed_while_the_entropy_model_trains(tiles: np.ndarray, tmp_path: Path) -> None:
    short = train_codec(tiles, tmp_path / "short", kind="image", quality=2, transform="pca", epochs=1, lr=1e-2)
    long = train_codec(tiles, tmp_path / "long", kind="image", quality=2, transform="pca", epochs=4, lr=1e-2)
    for a, b in zip(_weights(short), _weights(long)):
        np.testing.assert_array_equal(a, b)
    assert short.model.config.latent_dim == tiles[0].size  # every component by default
    assert all(p.requires_grad for p in long.model.parameters())  # the saved model is an ordinary one

    def densities(codec) -> list[torch.Tensor]:
        return [p for name, p in codec.model.bottleneck.named_parameters() if not name.startswith("project")]

    assert any(not torch.equal(a, b) for a, b in zip(densities(short), densities(long)))


def test_pca_transform_needs_a_linear_codec(tiles: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(AekitError, match="transform='pca' needs a linear codec .preset 'codec-linear'.; this one's "
                                         "'conv' backbone has layers of its own. Pass preset='codec-linear' or "
                                         "transform='learned'."):
        train_codec(tiles, tmp_path / "x", kind="image", transform="pca", preset="codec", epochs=1)
    with pytest.raises(AekitError, match="The 'transform' parameter of train_codec must be one of learned, pca"):
        train_codec(tiles, tmp_path / "x", kind="image", transform="kl", epochs=1)
    with pytest.raises(AekitError, match="The 'latent_dim' parameter of train_codec must be .*192"):
        train_codec(tiles, tmp_path / "x", kind="image", transform="pca", latent_dim=500, epochs=1)
    with pytest.raises(AekitError, match="The 'latent_dim' parameter of train_codec must be .*1"):
        train_codec(tiles, tmp_path / "x", kind="image", transform="pca", latent_dim=0, epochs=1)  # not "all"
