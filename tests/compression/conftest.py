"""Small codecs trained once per session: an array codec on the digits and an image codec on a few tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aekit.compression.codec import Codec, random_patches, train_codec
from aekit.data.scalers import Scaler


@pytest.fixture(scope="session")
def array_codec(tmp_path_factory: pytest.TempPathFactory, digits: np.ndarray) -> Codec:
    torch.manual_seed(0)
    scaler = Scaler("minmax").fit(digits)
    return train_codec(scaler.transform(digits).astype(np.float32), tmp_path_factory.mktemp("codecs") / "digits",
                       kind="array", quality=3, latent_dim=16, epochs=3, scaler=scaler)


def gradient_image(height: int = 37, width: int = 45, channels: int = 3) -> np.ndarray:
    """A smooth test image with an edge, (H, W, C) uint8."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = 120 + 80 * np.sin(xx / 7.0) * np.cos(yy / 5.0) + 40 * (xx > width // 2)
    image = np.stack([base + 10 * c for c in range(channels)], axis=-1)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def image_codec(tmp_path_factory: pytest.TempPathFactory) -> Codec:
    torch.manual_seed(0)
    tiles = random_patches([gradient_image(64, 64)], 512, 16)
    return train_codec(tiles, tmp_path_factory.mktemp("codecs") / "image", kind="image", quality=5, latent_dim=16,
                       epochs=6, batch_size=32, lr=3e-3)


@pytest.fixture
def png(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "picture.png"
    Image.fromarray(gradient_image()).save(path)
    return path
