"""Sparsity against reconstruction on MNIST: ``sparse-l1``, ``topk`` and ``jumprelu`` compared at matched L0.

Protocol (the default; ``--quick`` shortens it, see below):

- data: the original IDX files (gzip) from ``/work/shared/data/mnist`` (``--data``), pixels scaled to [0, 1],
  flattened to 784 features, minus the mean training image (what a sparse autoencoder's pre-encoder bias does:
  on uncentred MNIST more than half of the ReLU units start, and stay, dead for every method). A seeded random
  subset of the training images trains every model; the scores are on a seeded random subset of the test
  images (sizes below). Absent files: the benchmark says so and exits without results.
- models: the same one-layer sparse autoencoder for all three, ``x -> code (latent_dim) -> x_hat`` (the presets with
  ``hidden_dims=[]``, MSE, ``--latent-dim`` 256): ReLU codes + L1 penalty (``sparse-l1``, knob ``weight``), top-k
  (``topk``, knob ``k``), JumpReLU + L0 penalty (``jumprelu``, knob ``l0_weight``; bandwidth and initial threshold
  at their defaults, no warm-up). Trained by aekit's ``Trainer``: Adam lr 2e-3, batch 256, ``--epochs`` epochs,
  no validation split, seed 0.
- caveat: Adam moves a JumpReLU threshold by about lr per step, so within this budget the thresholds are still
  rising (``threshold_mean`` in the results): its L0 at a given ``l0_weight`` is partly set by the training
  length. The matched-L0 comparison does not depend on that, only the knob values do.
- matching: top-k is trained at ``k`` = each target L0 (its L0 is exactly k unless fewer units are positive). The
  penalties are swept over a grid (below); their (L0, MSE) points, sorted by L0, are interpolated linearly in
  log L0 at each target. A target outside a sweep's range is reported as not reached, never extrapolated.
- metrics, on the test images in eval mode: MSE per pixel of the reconstruction, L0 (mean number of non-zero code
  units per image), and the fraction of dead units (never active on the test images).

Full protocol: 20,000 training and 5,000 test images, latent 256, 15 epochs (1,170 steps), targets L0 = 10, 20,
40. ``--quick``: 5,000 training and 2,000 test images, latent 128, 30 epochs (600 steps), one target (L0 = 16)
and shorter grids: a smoke version for a busy machine; its MSE figures are not comparable with the full ones
(a narrower code, less data).

Results go to ``benchmarks/results/sparse_tradeoff.{json,md}`` (``--out``) with the machine and the command.

    python benchmarks/sparse_tradeoff.py                    # the full protocol
    python benchmarks/sparse_tradeoff.py --quick --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import DATA, MNIST_FILES, RESULTS, machine_info, now, read_idx_images, write_results

from aekit import Autoencoder, build_config
from aekit.training import Trainer, TrainerConfig, make_source

DEFAULT_DATA = DATA / "mnist"

# The penalty grids: wide enough to bracket every target L0 of the protocol (checked in the results).
FULL = {"targets": (10, 20, 40), "latent_dim": 256, "n_train": 20_000, "n_test": 5_000, "epochs": 15,
        "l1": (3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2), "jumprelu": (3e-5, 1e-4, 3e-4, 1e-3, 3e-3)}
QUICK = {"targets": (16,), "latent_dim": 128, "n_train": 5_000, "n_test": 2_000, "epochs": 30,
         "l1": (1e-3, 3e-3, 5e-3), "jumprelu": (1e-4, 3e-4, 1e-3)}
KNOB = {"sparse-l1": "weight", "topk": "k", "jumprelu": "l0_weight"}


def load_pixels(folder: Path, split: str) -> np.ndarray:
    """The images of ``split`` ("train" or "test") in ``folder``: float32 rows (n, rows * cols) in [0, 1].

    Common's ``load_mnist`` wants ``<data>/mnist`` and the label files too; ``--data`` names the folder itself
    and only the images are needed.
    """
    images = read_idx_images(folder, split)  # (n, rows, cols) uint8
    return images.reshape(len(images), -1).astype(np.float32) / 255


def subset(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    rows = np.sort(np.random.default_rng(seed).permutation(len(images))[:n])
    return images[rows]


def train_and_score(preset: str, knob: float | int, train: np.ndarray, test: np.ndarray,
                    settings: dict[str, Any]) -> dict[str, Any]:
    """Train one model and measure MSE, L0 and dead units on ``test``."""
    torch.manual_seed(0)
    options = {"hidden_dims": [], KNOB[preset]: knob}
    model = Autoencoder(build_config(preset, input_shape=(train.shape[1],), latent_dim=settings["latent_dim"],
                                     options=options))
    cpu = torch.device("cpu")
    trainer = Trainer(TrainerConfig(max_epochs=settings["epochs"], batch_size=256, lr=2e-3, early_stopping=False,
                                    seed=0, device="cpu", progress=False))
    started = time.perf_counter()
    trainer.fit(model, make_source(train, np.arange(len(train)), None, cpu))
    seconds = time.perf_counter() - started
    model.eval()
    x = torch.from_numpy(test)
    with torch.no_grad():
        z = model.encode(x)  # (n_test, latent_dim)
        mse = (model.reconstruct(x) - x).square().mean().item()
    active = z != 0
    point = {"model": preset, KNOB[preset]: knob, "mse": mse, "l0": active.float().sum(1).mean().item(),
             "dead_fraction": (~active.any(0)).float().mean().item(), "train_seconds": round(seconds, 2)}
    threshold = getattr(model.bottleneck, "threshold", None)
    if isinstance(threshold, torch.Tensor):
        point["threshold_mean"] = threshold.mean().item()
    return point


def at_l0(points: list[dict[str, Any]], target: float) -> float | None:
    """MSE at L0 = ``target`` by linear interpolation in log L0 between the bracketing points; None if outside."""
    ordered = sorted((p["l0"], p["mse"]) for p in points if p["l0"] > 0)
    for (l0_a, mse_a), (l0_b, mse_b) in zip(ordered, ordered[1:]):
        if l0_a <= target <= l0_b:
            if l0_b == l0_a:
                return min(mse_a, mse_b)
            t = (math.log(target) - math.log(l0_a)) / (math.log(l0_b) - math.log(l0_a))
            return mse_a + t * (mse_b - mse_a)
    return None


def summary(report: dict[str, Any]) -> str:
    """The Markdown body; ``write_results`` adds the title, the machine, the date and the command."""
    s = report["settings"]
    lines = [
        "**Sparse autoencoders on MNIST: reconstruction error at matched L0.**",
        "",
        f"Mode: **{report['mode']}**. {s['n_train']} training / {s['n_test']} test images (seeded random subsets), "
        f"latent_dim {s['latent_dim']}, one dense layer each way, {s['epochs']} epochs, Adam lr 2e-3, batch 256, "
        "seed 0. MSE per pixel on the test images, pixels in [0, 1] minus the mean training image. Penalty models are interpolated in log L0 "
        "between the two sweep points around each target; top-k is trained at k = target.",
        "",
        "## MSE at matched L0 (lower is better)",
        "",
        "| target L0 | " + " | ".join(report["models"]) + " |",
        "|---|" + "---|" * len(report["models"]),
    ]
    for row in report["matched"]:
        cells = [f"{row[name]:.5f}" if row[name] is not None else "not reached" for name in report["models"]]
        lines.append(f"| {row['target_l0']} | " + " | ".join(cells) + " |")
    lines += ["", "## Every trained model", "", "| model | knob | L0 | MSE | dead units | mean threshold | train s |",
              "|---|---|---|---|---|---|---|"]
    for p in report["points"]:
        knob = KNOB[p["model"]]
        threshold = f"{p['threshold_mean']:.3f}" if "threshold_mean" in p else "-"
        lines.append(f"| {p['model']} | {knob}={p[knob]:g} | {p['l0']:.2f} | {p['mse']:.5f} | "
                     f"{p['dead_fraction']:.1%} | {threshold} | {p['train_seconds']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small subsets, few epochs, one target (busy machine)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the MNIST IDX .gz files")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for sparse_tradeoff.{json,md}")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = dict(QUICK if args.quick else FULL)
    train_file, test_file = (args.data / MNIST_FILES[split][0] for split in ("train", "test"))
    missing = [str(p) for p in (train_file, test_file) if not p.is_file()]
    if missing:
        print(f"SKIPPED: MNIST is absent ({', '.join(missing)}). Put the IDX .gz files there or pass --data.",
              file=sys.stderr)
        return 0
    date, started = now(), time.perf_counter()
    machine = {**machine_info(), "device": "cpu", "date": date}  # device, date: keys of earlier results
    train = subset(load_pixels(args.data, "train"), settings["n_train"], seed=0)
    test = subset(load_pixels(args.data, "test"), settings["n_test"], seed=1)
    mean_image = train.mean(0)  # (784,): centring, as a pre-encoder bias would
    train, test = train - mean_image, test - mean_image
    runs: list[tuple[str, float | int]] = [("topk", k) for k in settings["targets"]]
    runs += [("sparse-l1", w) for w in settings["l1"]] + [("jumprelu", w) for w in settings["jumprelu"]]
    points = []
    for preset, knob in runs:
        point = train_and_score(preset, knob, train, test, settings)
        print(json.dumps(point), flush=True)
        points.append(point)
    models = ["sparse-l1", "topk", "jumprelu"]
    matched = []
    for target in settings["targets"]:
        row: dict[str, Any] = {"target_l0": target}
        for name in models:
            mine = [p for p in points if p["model"] == name]
            if name == "topk":
                row[name] = next(p["mse"] for p in mine if p["k"] == target)
            else:
                row[name] = at_l0(mine, target)
        matched.append(row)
    report = {
        "mode": "quick" if args.quick else "full",
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "models": models, "matched": matched, "points": points,
    }
    json_path, md_path = write_results("sparse_tradeoff", report, summary(report), info=machine, started=date,
                                       seconds=time.perf_counter() - started, out=args.out)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
