"""How far a block-transform image codec can go: an estimate for the family the shipped codecs belong to,
against JPEG and WebP with the same BD-rate as ``compression_images.py``.

The shipped image codecs transform each tile on its own and code it under a static (factorized) entropy model.
This benchmark estimates what that family reaches with an ideal code length, with and without an entropy model
that adapts to each block, and asks whether it could reach the targets (BD-rate <= -30% against JPEG, <= -10%
against WebP). It is an estimate, not a strict ceiling: its histograms come from the unaugmented training
images, and the shipped static codecs (learned densities, augmented tiles) do somewhat better than its static
figures.

1. Transform: the KLT of 8x8 blocks (all channels together) of the codec training images (scikit-image's
   bundled photos at full, half and third size, as ``make pretrained``): the optimal linear block transform
   for squared error at high rate. Uniform quantization of the coefficients with one step per point.
2. Rate: the ideal code length (no coder overhead, no header) of each coefficient under the histogram of the
   same coefficient in the training images, conditioned on the block's activity class, ``round(1.5 *
   log2(1 + sum |q_AC|))`` capped at ``classes - 1`` (a forward-adaptive stand-in for a hyperprior), plus the
   class itself under its training histogram. ``classes=1`` is a static factorized model, as shipped.
3. Images and anchors as in ``compression_images.py``: china.jpg, flower.jpg (RGB), the Fashion-MNIST test
   mosaic (grayscale, cropped to whole blocks), Pillow's JPEG and WebP at qualities 5..95.

    .venv/bin/python benchmarks/compression_images_bound.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import BenchmarkSkipped, machine_info, markdown_table, now, write_results
from benchmarks.compression_images import QUALITIES, TARGETS, bd_rate, benchmark_images, pillow_points, psnr

BLOCK = 8
STEPS = (4, 6, 8, 12, 16, 24, 32, 48, 64)  # quantization steps, in 8-bit pixel units of the orthonormal KLT
CLASSES = (1, 16)


def crop(image: np.ndarray) -> np.ndarray:
    """``image`` (H, W, C) without its ragged edge: whole 8x8 blocks only."""
    return image[:image.shape[0] // BLOCK * BLOCK, :image.shape[1] // BLOCK * BLOCK]


def blocks(image: np.ndarray) -> np.ndarray:
    """Whole 8x8 blocks (n, 64 * C) float64 of an image (H, W, C), row-major; the ragged edge is dropped."""
    rows, cols, channels = image.shape[0] // BLOCK, image.shape[1] // BLOCK, image.shape[2]
    cropped = crop(image).astype(np.float64)
    return cropped.reshape(rows, BLOCK, cols, BLOCK, channels).transpose(0, 2, 1, 3, 4).reshape(rows * cols, -1)


def training_blocks(color: str) -> np.ndarray:
    """Blocks of the codec training images at every scale ``make pretrained`` uses."""
    from aekit.compression.codec import shrink_image
    from aekit.compression.pretrain import SCALES, training_images

    return np.concatenate([blocks(shrink_image(image, factor)) for image in training_images(color)
                           for factor in SCALES])


def activity(q: np.ndarray, classes: int) -> np.ndarray:
    """Class of each block of quantized coefficients (n, d): its rounded log AC magnitude, capped."""
    return np.minimum(np.round(1.5 * np.log2(1 + np.abs(q[:, 1:]).sum(1))).astype(int), classes - 1)


def ideal_bits(train: np.ndarray, test: np.ndarray, classes: int) -> float:
    """Bits of the test coefficients (n, d) under the training histograms per (class, coefficient), plus the
    classes; each histogram gets 0.1 pseudo-counts over the union of both ranges so no symbol is impossible."""
    train_class, test_class = activity(train, classes), activity(test, classes)
    counts = np.bincount(train_class, minlength=classes) + 0.5
    total = float(-np.log2(counts[test_class] / counts.sum()).sum()) if classes > 1 else 0.0
    for k in np.unique(test_class):
        tr, te = train[train_class == k], test[test_class == k]
        for j in range(train.shape[1]):
            low = int(min(te[:, j].min(), tr[:, j].min() if len(tr) else 0))
            high = int(max(te[:, j].max(), tr[:, j].max() if len(tr) else 0))
            histogram = np.bincount((tr[:, j] - low).astype(int), minlength=high - low + 1) + 0.1
            total += float(-np.log2(histogram[(te[:, j] - low).astype(int)] / histogram.sum()).sum())
    return total


def bound_points(image: np.ndarray, train: np.ndarray, steps: tuple[int, ...]) -> dict[int, list[dict[str, float]]]:
    """Rate-distortion points of the KLT block codec on ``image`` (whole blocks, see :func:`crop`) for each
    number of classes."""
    mean = train.mean(0)
    _, _, basis = np.linalg.svd(train - mean, full_matrices=False)  # rows: KLT basis vectors
    test = blocks(image)
    rows, cols = image.shape[0] // BLOCK, image.shape[1] // BLOCK
    coefficients, train_coefficients = (test - mean) @ basis.T, (train - mean) @ basis.T
    points: dict[int, list[dict[str, float]]] = {k: [] for k in CLASSES}
    for step in steps:
        q, q_train = np.round(coefficients / step), np.round(train_coefficients / step)
        rebuilt = (q * step) @ basis + mean
        decoded = np.clip(np.round(rebuilt), 0, 255).astype(np.uint8)
        decoded = decoded.reshape(rows, cols, BLOCK, BLOCK, -1).transpose(0, 2, 1, 3, 4).reshape(image.shape)
        quality = psnr(image, decoded)
        for classes in CLASSES:
            points[classes].append({"step": step, "bpp": ideal_bits(q_train, q, classes) / image[..., 0].size,
                                    "psnr": quality})
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="400 Fashion-MNIST images, fewer steps and qualities")
    args = parser.parse_args(argv)
    info, started, clock = machine_info(), now(), time.perf_counter()
    try:
        images = benchmark_images(args.quick)
    except BenchmarkSkipped as exc:
        print(f"skipped: {exc}")
        return 0
    steps = STEPS[::2] if args.quick else STEPS
    qualities = QUALITIES[::2] if args.quick else QUALITIES
    train = {color: training_blocks(color) for color in ("grayscale", "rgb")}
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "block": BLOCK, "images": {}}
    rows = []
    for name, image in images.items():
        cropped = crop(image)
        anchors = {"jpeg": pillow_points(cropped, "JPEG", qualities), "webp": pillow_points(cropped, "WEBP", qualities)}
        ours = bound_points(cropped, train["grayscale" if image.shape[2] == 1 else "rgb"], steps)
        entry: dict[str, Any] = {"points": {**{f"klt_{k}_classes": p for k, p in ours.items()}, **anchors}}
        for classes, points in ours.items():
            cells = []
            for anchor in ("jpeg", "webp"):
                value, method = bd_rate(anchors[anchor], points)
                entry[f"bd_rate_{classes}_classes_vs_{anchor}_percent"] = None if value is None else round(value, 1)
                cells.append(f"n/a ({method})" if value is None else f"{value:+.1f}% (target {TARGETS[anchor]:+.0f}%)")
            rows.append([name, "static (1 class)" if classes == 1 else f"{classes} activity classes", *cells])
        results["images"][name] = entry
    summary = "\n\n".join([
        ("Estimate for a block-transform codec (see the module doc): KLT of 8x8 blocks learned on the codec "
         "training images, uniform quantization, ideal code length under training-image histograms per "
         "coefficient, static or conditioned on the block's activity class. No header, no coder overhead."),
        markdown_table(["image", "entropy model", "BD-rate vs JPEG", "BD-rate vs WebP"], rows),
    ])
    write_results("compression_images_bound", results, summary, info=info, started=started,
                  seconds=time.perf_counter() - clock)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
