"""Train the shipped image codecs (``make pretrained``): grayscale and RGB, one per quality level.

    python -m aekit.compression.pretrain --out aekit/pretrained [--epochs 8] [--qualities 1,2,3,4,5]
        [--colors grayscale,rgb]

Each codec is a linear block codec (preset ``codec-linear``, ``transform="pca"``): the principal components
of 8x8 tiles (all channels together: a 192-point Karhunen-Loeve transform for RGB, 64 for grayscale) at the
quantization step of its quality level, and a factorized entropy model fitted to the codes for ``--epochs``.
Why not the conv codec of earlier releases: 128 units per 16x16 RGB tile capped its quality at about 25 dB on
china.jpg whatever the rate (BD-rate +69% against JPEG), and a deeper, wider conv codec with a hyperprior
needs far more training than two CPU cores give (see ``benchmarks/compression_images_bound.py`` for what
block codecs can and cannot reach).

The training data is random 8x8 patches of the images bundled with scikit-image, at full size and shrunk 2x
and 3x, flipped, transposed and (RGB) with their channels shuffled: a handful of photos is little data, and
without these the codecs learn those photos' colours and scales. The run needs no download and gives the same
codecs on the same machine (seeded, one torch thread). The benchmark photos (scikit-learn's china.jpg and
flower.jpg) are not among them.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from aekit.compression.codec import random_patches, train_codec
from aekit.io import write_json

logger = logging.getLogger(__name__)

TILE = 8
SCALES = (1, 2, 3)  # each image also at half and a third of its size
# natural photographs only: mostly-black or synthetic images (hubble_deep_field, retina, colorwheel) would fill
# the training set with easy tiles and bias the codec away from photos
RGB_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")
GRAY_ONLY_IMAGES = ("camera", "coins", "moon", "page", "text", "grass", "gravel", "brick", "clock", "cell")


def training_images(color: str) -> list[np.ndarray]:
    """The bundled images as (H, W, C) uint8: RGB ones for "rgb", all of them as luma for "grayscale"."""
    import skimage.data
    from skimage.color import rgb2gray

    rgb = [getattr(skimage.data, name)() for name in RGB_IMAGES]
    if color == "rgb":
        return rgb
    gray = [np.round(rgb2gray(image) * 255).astype(np.uint8) for image in rgb]
    gray += [getattr(skimage.data, name)() for name in GRAY_ONLY_IMAGES]
    return [image[..., None] for image in gray]


def patches(color: str, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` random tiles (n, C, 8, 8) in [0, 1] of the bundled images, augmented (see the module doc)."""
    return random_patches(training_images(color), n, TILE, seed=seed, scales=SCALES, permute_channels=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "pretrained")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of each level's entropy model")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--patches", type=int, default=60000)
    parser.add_argument("--qualities", default="1,2,3,4,5")
    parser.add_argument("--colors", default="grayscale,rgb")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    report = {}
    for color in args.colors.split(","):
        samples = patches(color, args.patches)
        for quality in sorted(int(q) for q in args.qualities.split(",")):
            started = time.perf_counter()
            name = f"{color}-q{quality}"
            data = {"source": "skimage.data bundled images", "patches": len(samples), "tile": TILE}
            codec = train_codec(samples, args.out / name, kind="image", quality=quality, lr=args.lr, seed=0,
                                epochs=args.epochs, transform="pca", half_precision=True, data=data,
                                overwrite=True)  # a rerun of `make pretrained` replaces the shipped codecs
            seconds = round(time.perf_counter() - started, 1)
            report[name] = {"seconds": seconds, "fingerprint": codec.fingerprint}
            logger.info("%s: %.1f s", name, seconds)
    for name, record in report.items():  # how long each codec took, beside it
        write_json(args.out / name / "training_time.json", record)


if __name__ == "__main__":
    main()
