"""Gaussian denoising on MNIST and Fashion-MNIST: aekit's ``denoising-conv`` autoencoder against classical denoisers.

Protocol (the default; ``--quick`` shortens it, see below):

- data: the original IDX files (gzip) from ``/work/shared/data/{mnist,fashion-mnist}`` (``--data``), pixels
  scaled to [0, 1]. The autoencoder trains on the first ``--n-train`` training images (clean; at most all but
  the last ``--n-val``, which tune the baselines); the scores are on the first ``--n-test`` test images. A
  dataset whose files are absent is skipped with a message.
- noise: additive white Gaussian noise of standard deviation sigma in {0.1, 0.2} (``--sigmas``), drawn once per
  (dataset, sigma) with a fixed seed, *not* clipped (the classical denoisers assume exactly that model).
- aekit: the ``denoising-conv`` preset (conv backbone with 32-64 channels, 28x28 -> 7x7, then a flat linear code of
  ``--latent-dim`` 784 numbers, MSE; no connection around the code), trained on the clean training images with the
  ``gaussian`` corruption at the test sigma (the same noise model and level the baselines are told); Adam,
  ``--lr`` 2e-3 with a cosine decay to 0 over the run (``--schedule``), ``--batch-size`` 32, ``--epochs`` 10,
  no validation split, seed 0. The code is as wide as the image: the corruption, not the code size, is what
  keeps the model from learning the identity (with the earlier 128 numbers, batch 128 and 10,000 images, the
  model gave only about 25 dB on MNIST even for clean input).
- baselines, from scikit-image (and ``bm3d`` from PyPI when installed), each given the *true* sigma, as the
  autoencoder is: non-local means (``denoise_nl_means``, fast mode, 5x5 patches, search distance 6, as in
  scikit-image's example), total variation (``denoise_tv_chambolle``), wavelet shrinkage (``denoise_wavelet``,
  soft thresholds, sigma rescaled per subband) and BM3D (``bm3d.bm3d``, profile "np", ``sigma_psd`` = sigma: all
  its settings follow from sigma). The one free knob of NLM (the filter strength h), TV (the weight) and the
  wavelet denoiser (BayesShrink or VisuShrink, the wavelet) is picked by grid search on ``--n-val`` held-out
  *training* images with the same noise level, never on the test images (grids below, chosen values in the
  results).
- diagnostic: the trained autoencoder applied to the *clean* test images, the ceiling its code size and training
  length put on its output.
- metric: mean per-image PSNR in dB (peak 1) and mean SSIM (``skimage.metrics.structural_similarity``,
  data_range 1) on the test images; every output, like the noisy input, is clipped to [0, 1] first. Seconds per
  image are wall-clock inference (one image at a time for the baselines, batches of 256 for the autoencoder)
  on this machine, which is shared: compare them within one run only; the autoencoder's training time is listed separately.

The full protocol: all 59,900 training images not held out (``--n-train``), 10 epochs, 1,000 test images. On one
CPU thread it trains each of the four models for about 13 minutes; ``--n-test`` trims the test set (BM3D costs
about half a second per image). A run that changes any of these settings is labelled "custom" and lists them.

``--quick``: 10,000 training images, 10 epochs, 100 test images, 30 validation images: a smoke version for a busy
machine; its autoencoder figures are lower bounds on what the full protocol reaches.

Results go to ``benchmarks/results/denoising.{json,md}`` (``--out``) with the machine and the command.

    python benchmarks/denoising.py                    # the full protocol
    python benchmarks/denoising.py --quick --threads 1
    python benchmarks/denoising.py --threads 1 --n-test 200   # the published results
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import DATA, MNIST_FILES, RESULTS, machine_info, now, read_idx_images, write_results

from aekit import AutoEncoder
from aekit.evaluation import reconstruction_metrics

try:
    from skimage.metrics import structural_similarity
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet
except ImportError:  # pragma: no cover
    sys.exit("This benchmark needs scikit-image: pip install scikit-image")
try:
    import bm3d
except ImportError:  # pragma: no cover
    bm3d = None

DEFAULT_DATA = DATA
DATASETS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

# Grids for the baselines' one free parameter, scaled by the true sigma where the method's docs do so.
NLM_H = (0.4, 0.6, 0.8, 1.0, 1.2)  # h = factor * sigma; scikit-image's example uses 0.8 (fast mode)
TV_WEIGHT = (0.25, 0.5, 0.75, 1.0, 1.5)  # weight = factor * sigma; scikit-image's default weight 0.1
WAVELET = tuple((method, wavelet) for method in ("BayesShrink", "VisuShrink") for wavelet in ("db1", "db2", "sym4"))

Denoiser = Callable[[np.ndarray], np.ndarray]  # one (28, 28) noisy image -> its estimate

logger = logging.getLogger("benchmarks.denoising")


# -------------------------------------------------------------------------------------------------- data
def image_files(folder: Path) -> list[Path]:
    """The training and test image files of an MNIST-format dataset folder (MNIST, Fashion-MNIST)."""
    return [folder / MNIST_FILES[split][0] for split in ("train", "test")]


def read_images(folder: Path, split: str) -> np.ndarray:
    """Images of ``split`` in [0, 1], float32 (n, rows, cols), from an MNIST-format folder (MNIST, Fashion-MNIST)."""
    return read_idx_images(folder, split).astype(np.float32) / 255


def add_noise(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    return clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape).astype(np.float32)


# ----------------------------------------------------------------------------------------------- metrics
def psnr(estimate: np.ndarray, clean: np.ndarray) -> float:
    """Mean over images of 10 log10(1 / MSE), pixels in [0, 1]; ``estimate`` is clipped to [0, 1] first."""
    return reconstruction_metrics(clean, np.clip(estimate, 0, 1), data_range=1.0, image=True)["psnr"]


def ssim(estimate: np.ndarray, clean: np.ndarray) -> float:
    return float(np.mean([structural_similarity(np.clip(e, 0, 1), c, data_range=1.0)
                          for e, c in zip(estimate, clean)]))


# ------------------------------------------------------------------------------------------- baselines
def baselines(sigma: float) -> dict[str, tuple[list[dict[str, Any]], Callable[..., Denoiser]]]:
    """Method -> (parameter grid, factory(params) -> denoiser) for one noise level."""

    def nlm(h_factor: float) -> Denoiser:
        return lambda img: denoise_nl_means(img, patch_size=5, patch_distance=6, h=h_factor * sigma, sigma=sigma,
                                            fast_mode=True)

    def tv(weight_factor: float) -> Denoiser:
        return lambda img: denoise_tv_chambolle(img, weight=weight_factor * sigma)

    def wavelet(method: str, wavelet: str) -> Denoiser:
        return lambda img: denoise_wavelet(img, sigma=sigma, wavelet=wavelet, mode="soft", method=method,
                                           rescale_sigma=True)

    methods: dict[str, tuple[list[dict[str, Any]], Callable[..., Denoiser]]] = {
        "nl_means (skimage)": ([{"h_factor": f} for f in NLM_H], nlm),
        "tv_chambolle (skimage)": ([{"weight_factor": f} for f in TV_WEIGHT], tv),
        "wavelet (skimage)": ([{"method": m, "wavelet": w} for m, w in WAVELET], wavelet),
    }
    if bm3d is not None:
        methods["bm3d"] = ([{}], lambda: (lambda img: bm3d.bm3d(img, sigma_psd=sigma)))
    return methods


def apply(denoiser: Denoiser, noisy: np.ndarray) -> tuple[np.ndarray, float]:
    """Estimates for every image and the seconds per image."""
    started = time.perf_counter()
    out = np.stack([np.asarray(denoiser(img.astype(np.float64)), dtype=np.float32) for img in noisy])
    return out, (time.perf_counter() - started) / len(noisy)


def tune(grid: list[dict[str, Any]], factory: Callable[..., Denoiser], noisy: np.ndarray,
         clean: np.ndarray) -> tuple[dict[str, Any], float]:
    """The grid point with the best validation PSNR, and that PSNR."""
    if len(grid) == 1:
        return grid[0], float("nan")
    scored = [(psnr(apply(factory(**params), noisy)[0], clean), params) for params in grid]
    best = max(scored, key=lambda s: s[0])
    return best[1], best[0]


# ----------------------------------------------------------------------------------------------- aekit
def train_autoencoder(train: np.ndarray, sigma: float, args: argparse.Namespace) -> tuple[AutoEncoder, float]:
    started = time.perf_counter()
    model = AutoEncoder("denoising-conv", latent_dim=args.latent_dim, model_options={"sigma": sigma},
                        max_epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, schedule=args.schedule,
                        validation_fraction=0.0, early_stopping=False, random_state=0, device=args.device)
    model.fit(train[:, None])  # (n, 1, 28, 28)
    return model, time.perf_counter() - started


def autoencoder_outputs(model: AutoEncoder, noisy: np.ndarray) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    out = model.reconstruct(noisy[:, None])[:, 0]
    return out, (time.perf_counter() - started) / len(noisy)


# ---------------------------------------------------------------------------------------------- report
def machine(date: str) -> dict[str, Any]:
    """Common's machine description plus the denoisers' versions (and the date, as in earlier results)."""
    import skimage

    return {**machine_info(), "scikit-image": skimage.__version__,
            "bm3d": importlib.metadata.version("bm3d") if bm3d is not None else None, "date": date}


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "-"


def summary(report: dict[str, Any], m: dict[str, Any]) -> str:
    """The Markdown body; ``write_results`` adds the title, the machine (``m``), the date and the command."""
    lines = [
        "**Gaussian denoising: aekit denoising-conv vs classical denoisers.**",
        "",
        (f"Protocol: `benchmarks/denoising.py` docstring. Mode: **{report['mode']}**; {report['settings']['n_train']} "
         f"training images, {report['settings']['n_test']} test images per dataset, {report['settings']['epochs']} "
         f"epochs, latent_dim {report['settings']['latent_dim']}, batch {report['settings']['batch_size']}, lr "
         f"{report['settings']['lr']} ({report['settings']['schedule']}). Noise: additive Gaussian, not clipped; every "
         "method is told the true sigma. PSNR (dB, mean per image) and SSIM on outputs clipped to [0, 1]."),
        "",
    ]
    for dataset in report["datasets"]:
        for sigma in report["settings"]["sigmas"]:
            rows = [r for r in report["results"] if r["dataset"] == dataset and r["sigma"] == sigma]
            if not rows:
                continue
            lines += [f"## {DATASETS[dataset]}, sigma = {sigma}", "",
                      "| method | PSNR (dB) | SSIM | s / image | parameters |", "|---|---:|---:|---:|---|"]
            best = max(r["psnr"] for r in rows if not r["method"].startswith(("noisy", "(")))
            for r in rows:
                name = f"**{r['method']}**" if r["psnr"] == best else r["method"]
                seconds = "-" if r["seconds_per_image"] is None else f"{r['seconds_per_image']:.4f}"
                lines.append(f"| {name} | {r['psnr']:.2f} | {r['ssim']:.3f} | {seconds} | {_params(r['params'])} |")
            lines.append("")
    lines += [
        "## Notes",
        "",
        *[f"- {note}" for note in report["notes"]],
        f"- Denoisers: scikit-image {m['scikit-image']}, bm3d {m['bm3d']}.",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- main
def resolve_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Fill in the defaults that depend on ``--quick`` (in ``args``) and return the run's protocol settings."""
    args.n_train = args.n_train or (10000 if args.quick else 60000)
    args.n_test = args.n_test or (100 if args.quick else 1000)
    args.n_val = args.n_val or (30 if args.quick else 100)
    args.epochs = args.epochs or 10
    return {"n_train": min(args.n_train, 60000 - args.n_val), "n_test": args.n_test, "n_val": args.n_val,
            "epochs": args.epochs, "latent_dim": args.latent_dim, "batch_size": args.batch_size, "lr": args.lr,
            "schedule": args.schedule}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small subsets and few epochs (a busy machine)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding mnist/ and fashion-mnist/")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--sigmas", nargs="+", type=float, default=[0.1, 0.2])
    parser.add_argument("--n-train", type=int, default=None, help="training images (default 60000, quick 10000)")
    parser.add_argument("--n-test", type=int, default=None, help="test images (default 1000, quick 100)")
    parser.add_argument("--n-val", type=int, default=None, help="validation images for the baselines' grids "
                                                                 "(default 100, quick 30)")
    parser.add_argument("--epochs", type=int, default=None, help="autoencoder epochs (default 10, quick 10)")
    # 784 = 28 x 28: the corruption keeps the model from copying; 128 capped the output near 25 dB (MNIST).
    parser.add_argument("--latent-dim", type=int, default=784)
    # Small batches and a cosine decay: more, smaller steps per CPU second, and a settled model at the end.
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--schedule", default="cosine", choices=["constant", "cosine", "onecycle"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    quick = args.quick
    settings = resolve_settings(args)
    full = resolve_settings(parser.parse_args([]))  # the full protocol: every default
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    date, started = now(), time.perf_counter()
    info = machine(date)

    report: dict[str, Any] = {
        "mode": "quick" if quick else ("full" if settings == full else "custom"),
        "settings": {**settings, "sigmas": args.sigmas, "noise_seed_test": 1,
                     "noise_seed_val": 2, "grids": {"nl_means h / sigma": NLM_H, "tv weight / sigma": TV_WEIGHT,
                                                    "wavelet (method, wavelet)": WAVELET}},
        "datasets": [], "results": [], "skipped": [],
        "notes": [
            ("Baselines are told the true sigma, as the autoencoder is trained with it; their one free parameter "
             "is tuned on held-out training images (never the test images); BM3D has none to tune."),
            ("The autoencoder is a bottleneck model (a code of latent_dim numbers per image): it denoises with a "
             "learned prior of the digits/clothes, the classical methods with generic image priors."),
            ("'(aekit on the clean input)' feeds the trained denoiser the clean test images: a diagnostic of how "
             "much the code size and training length cap its output, not a method."),
            ("Seconds per image: the autoencoder runs batches of 256 on the CPU, the baselines one image at a time; "
             "its training time is in the results (train_seconds)."),
        ],
    }
    if bm3d is None:
        report["notes"].append("bm3d is not installed (pip install bm3d): BM3D was left out.")

    for dataset in args.datasets:
        folder = args.data / dataset
        files = image_files(folder)
        if not all(f.is_file() for f in files):
            message = f"{dataset}: {folder} lacks the IDX files; skipped"
            logger.warning(message)
            report["skipped"].append(message)
            continue
        report["datasets"].append(dataset)
        train_all = read_images(folder, "train")
        test = read_images(folder, "test")[: args.n_test]
        val = train_all[-args.n_val:]  # the end of the training file, never trained on
        train = train_all[: min(args.n_train, len(train_all) - args.n_val)]
        for sigma in args.sigmas:
            noisy_test = add_noise(test, sigma, seed=1)
            noisy_val = add_noise(val, sigma, seed=2)
            rows: list[dict[str, Any]] = [{"dataset": dataset, "sigma": sigma, "method": "noisy input",
                                           "psnr": psnr(noisy_test, test), "ssim": ssim(noisy_test, test),
                                           "seconds_per_image": None, "params": {}}]
            logger.info("%s sigma=%g: training the autoencoder on %d images", dataset, sigma, len(train))
            model, train_seconds = train_autoencoder(train, sigma, args)
            out, seconds = autoencoder_outputs(model, noisy_test)
            rows.append({"dataset": dataset, "sigma": sigma, "method": "aekit denoising-conv",
                         "psnr": psnr(out, test), "ssim": ssim(out, test), "seconds_per_image": seconds,
                         "params": {"latent_dim": args.latent_dim, "epochs": args.epochs,
                                    "batch_size": args.batch_size, "lr": args.lr, "schedule": args.schedule},
                         "train_seconds": round(train_seconds, 1),
                         "final_train_loss": model.history_[-1]["train_loss"]})
            clean_out, _ = autoencoder_outputs(model, test)  # what the bottleneck allows at best
            rows.append({"dataset": dataset, "sigma": sigma, "method": "(aekit on the clean input)",
                         "psnr": psnr(clean_out, test), "ssim": ssim(clean_out, test), "seconds_per_image": None,
                         "params": {}})
            for method, (grid, factory) in baselines(sigma).items():
                logger.info("%s sigma=%g: %s", dataset, sigma, method)
                params, val_psnr = tune(grid, factory, noisy_val, val)
                out, seconds = apply(factory(**params), noisy_test)
                rows.append({"dataset": dataset, "sigma": sigma, "method": method, "psnr": psnr(out, test),
                             "ssim": ssim(out, test), "seconds_per_image": seconds, "params": params,
                             "val_psnr": None if np.isnan(val_psnr) else val_psnr})
            for row in rows:
                logger.info("  %-24s PSNR %.2f dB  SSIM %.3f", row["method"], row["psnr"], row["ssim"])
            report["results"] += rows

    results = json.loads(json.dumps(report, default=float))  # numpy scalars and tuples to JSON
    paths = write_results("denoising", results, summary(report, info), info=info, started=date,
                          seconds=time.perf_counter() - started, out=args.out)
    logger.info("wrote %s and %s", *paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
