"""Test NLL of aekit's VAE on binarized MNIST, by importance sampling (Burda et al., 2016).

Protocol (the default; ``--quick`` shortens it, see below):

- data: the original MNIST IDX files (gzip) from ``/work/shared/data/mnist`` (``--data``); all 60,000 training
  images for training, the 10,000 test images for the test NLL. Skipped with a message when absent.
- binarization: *stochastic*. Training batches are dynamically binarized (every pixel drawn afresh from
  Bernoulli(intensity / 255) each time its image is used); the test set is binarized once, with a fixed seed,
  and that one binary test set is scored.
- model: the ``vae`` preset (dense backbone, Gaussian code, Bernoulli likelihood summed over pixels), hidden
  layers 512-256, 50 latent units; loss = -ELBO (beta 1, no free bits) after the preset's KL warm-up over the
  first 10% of training.
- training: Adam, lr 1e-3 with a cosine decay to 0, batch 128, 400 epochs, float32, CPU, one thread. Sized
  for the 60 CPU-minute budget: an epoch cost 7.3 to 8.5 CPU-seconds on one core of the (shared) development
  machine (AMD EPYC), so 400 epochs take 49 to 57 CPU-minutes; one thread because these small matrices gain
  little from more and, on a shared machine, idle-waiting BLAS threads make training many times slower.
- metric: test NLL = -mean log_likelihood(x, k=5000), in nats; also the test ELBO (k=1) and active units.

Anchors: a one-stochastic-layer VAE, 86.76 nats (Burda et al., 2016, Table 1, k=5000); pythae's VAE, 89.78
nats. Target: <= 86.0 nats within 60 CPU-minutes of training.

``--quick`` trains 50 epochs and scores the first 2,000 test images with k=1000: a smoke version for a busy
machine whose figure is an upper bound on what the full protocol reaches (fewer epochs, smaller k).

Results go to ``benchmarks/results/vae_nll.{json,md}`` with the machine and the command.

    python benchmarks/vae_nll.py                 # the full protocol
    python benchmarks/vae_nll.py --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import (
    _IDX_IMAGES_MAGIC,
    DATA,
    MNIST_FILES,
    RESULTS,
    _read_idx,
    json_options,
    machine_info,
    now,
    write_results,
)

from aekit import Autoencoder, build_config
from aekit.training import BatchSource, Trainer, TrainerConfig

logger = logging.getLogger("vae_nll")

DEFAULT_DATA = DATA / "mnist"
ANCHORS = {"VAE, 1 stochastic layer (Burda et al., 2016), k=5000": 86.76, "pythae VAE": 89.78}
TARGET_NATS = 86.0
FULL_EPOCHS = 400


def load_pixels(folder: Path, split: str) -> torch.Tensor:
    """The images of ``split`` ("train" or "test") in ``folder`` as float32 rows (n, 784) in [0, 1].

    Common's ``load_mnist`` wants ``<data>/mnist`` and the label files too; ``--data`` names the folder itself
    and only the images are needed, so this reads them with common's IDX reader.
    """
    dims, pixels = _read_idx(folder / MNIST_FILES[split][0], _IDX_IMAGES_MAGIC, 4)  # magic, n, rows, cols
    return torch.from_numpy(pixels.reshape(dims[0], -1).astype(np.float32) / 255.0)


class DynamicBinarization(BatchSource):
    """Training rows as intensities in [0, 1]; every batch is a fresh Bernoulli draw of its pixels."""

    def __init__(self, intensities: torch.Tensor, seed: int) -> None:
        self.device = torch.device("cpu")
        self.data = intensities
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.data.shape[0]

    def batch(self, positions: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(self.data.index_select(0, positions), generator=self.generator)


def evaluate(model: Autoencoder, x: torch.Tensor, k: int, seed: int, rows: int = 50) -> dict[str, float]:
    """Mean IWAE bound (k) and ELBO (k=1) over x, in nats, plus active units on x."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    bounds, elbos = [], []
    started = time.perf_counter()
    for start in range(0, len(x), rows):
        batch = x[start:start + rows]
        bounds.append(model.log_likelihood(batch, k=k, chunk_size=rows * 500, generator=generator))
        elbos.append(model.log_likelihood(batch, k=1, generator=generator))
        if start // rows % 10 == 0:
            logger.info("scored %d/%d test images (%.0fs)", start + len(batch), len(x), time.perf_counter() - started)
    with torch.no_grad():
        mu = model.bottleneck.posterior(model.encoder(x)).mean  # (n, latent_dim)
    bound = torch.cat(bounds).double()
    return {"nll": -float(bound.mean()), "nll_stderr": float(bound.std() / math.sqrt(len(bound))),
            "elbo_nll": -float(torch.cat(elbos).double().mean()),
            "active_units": int((mu.var(0, unbiased=False) > 0.01).sum()),
            "eval_seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 epochs, k=1000 on the first 2000 test images.")
    parser.add_argument("--epochs", type=int, default=None, help="Training epochs (default 400; --quick 50).")
    parser.add_argument("--k", type=int, default=None, help="Importance samples (default 5000; --quick 1000).")
    parser.add_argument("--n-test", type=int, default=None, help="Test images scored (default 10000; --quick 2000).")
    parser.add_argument("--hidden-dims", default="512,256", help="Hidden layer widths (default 512,256).")
    parser.add_argument("--latent-dim", type=int, default=50, help="Latent units (default 50).")
    parser.add_argument("--options", default="{}", metavar="JSON",
                        help='More preset options, e.g. \'{"warmup": 0.0}\' (no KL warm-up) or \'{"free_bits": 0.1}\'.')
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: these small matrices gain little from more).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder of the MNIST IDX .gz files.")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Folder for vae_nll.json and vae_nll.md.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("aekit.training.trainer").setLevel(logging.INFO)

    files = {split: args.data / MNIST_FILES[split][0] for split in ("train", "test")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        print(f"SKIPPED: the MNIST files are absent ({', '.join(missing)}). Pass --data FOLDER holding "
              "train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz.")
        return 0
    epochs = args.epochs or (50 if args.quick else FULL_EPOCHS)
    k = args.k or (1000 if args.quick else 5000)
    n_test = args.n_test or (2000 if args.quick else 10000)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    date, run_started = now(), time.perf_counter()
    info = {**machine_info(), "logical_cores": os.cpu_count()}  # logical_cores: the key of earlier results

    train = load_pixels(args.data, "train")
    test_intensity = load_pixels(args.data, "test")
    test = torch.bernoulli(test_intensity[:n_test], generator=torch.Generator().manual_seed(12345))

    hidden = [int(v) for v in args.hidden_dims.split(",")]
    config = build_config("vae", input_shape=(784,), latent_dim=args.latent_dim,
                          options={"hidden_dims": hidden, **json_options(args.options)})
    model = Autoencoder(config)
    trainer = Trainer(TrainerConfig(max_epochs=epochs, batch_size=args.batch_size, lr=args.lr, schedule="cosine",
                                    early_stopping=False, seed=args.seed, device="cpu", precision="32",
                                    progress=False))
    started = time.perf_counter()
    cpu_started = time.process_time()
    result = trainer.fit(model, DynamicBinarization(train, args.seed))
    train_seconds, train_cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    scores = evaluate(model, test, k, args.seed)

    protocol = "full" if (epochs, k, n_test) == (FULL_EPOCHS, 5000, 10000) else "shortened"
    record = {
        "protocol": protocol,
        "test_nll_nats": round(scores["nll"], 3), "test_nll_stderr": round(scores["nll_stderr"], 3),
        "test_elbo_nll_nats": round(scores["elbo_nll"], 3), "active_units": scores["active_units"],
        "k": k, "n_test": n_test, "epochs": epochs, "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu_seconds, 1), "eval_seconds": round(scores["eval_seconds"], 1),
        "final_train_loss": round(result.history[-1]["train_loss"], 3),
        "binarization": "stochastic: dynamic for training batches, one fixed draw (seed 12345) of the test set",
        "model": config.to_json_dict(),
        "training": {"optimizer": "adam", "lr": args.lr, "schedule": "cosine", "batch_size": args.batch_size,
                     "seed": args.seed},
        "anchors_nats": ANCHORS, "target_nats": TARGET_NATS,
        "meets_target": bool(scores["nll"] <= TARGET_NATS and train_cpu_seconds <= 3600),
    }
    try:
        info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        info["load_average_at_end"] = None
    write_results("vae_nll", record, markdown(record, info), info=info, started=date,
                  seconds=time.perf_counter() - run_started, out=args.out)
    print(json.dumps({k_: record[k_] for k_ in ("protocol", "test_nll_nats", "test_elbo_nll_nats", "active_units",
                                                 "k", "n_test", "epochs", "train_seconds")}))
    return 0


def markdown(r: dict[str, Any], m: dict[str, Any]) -> str:
    """The summary; ``write_results`` adds the title, the machine, the date and the command."""
    quick = r["protocol"] != "full"
    hidden = ", ".join(map(str, r["model"]["backbone"]["options"]["hidden_dims"]))
    shortened = (": fewer epochs, smaller k and/or a test subset than the full protocol (the script's default). "
                 "Its NLL is pessimistic: more training and a larger k both lower it.")
    code = "".join(f", {k} {v}" for k, v in r["model"]["bottleneck"]["options"].items())  # e.g. warmup 0.1
    ours = (f"| aekit `vae` ({hidden}, latent {r['model']['latent_dim']}{code}) | **{r['test_nll_nats']:.2f}** ± "
            f"{r['test_nll_stderr']:.2f} | {r['k']} | {r['n_test']} | {r['epochs']} | "
            f"{r['train_seconds'] / 60:.1f} min wall, {r['train_cpu_seconds'] / 60:.1f} CPU-min |")
    target = (f"- Target: <= {r['target_nats']} nats within 60 CPU-minutes: "
              f"{'met' if r['meets_target'] else 'not met'}{' (not expected of a shortened run).' if quick else '.'}")
    lines = [
        "**VAE test NLL on binarized MNIST.**",
        "",
        f"Protocol: **{r['protocol']}**{shortened if quick else '.'}",
        "",
        "| model | test NLL (nats) | k | test images | epochs | training time |",
        "|---|---|---|---|---|---|",
        ours,
        *[f"| {name} (published) | {value:.2f} | | | | |" for name, value in r["anchors_nats"].items()],
        "",
        (f"- Test ELBO (k=1): {r['test_elbo_nll_nats']:.2f} nats; active units: {r['active_units']} of "
         f"{r['model']['latent_dim']}. ± is the standard error over test images."),
        target,
        f"- Binarization: {r['binarization']}.",
        (f"- Training: Adam lr {r['training']['lr']}, cosine to 0, batch {r['training']['batch_size']}, "
         f"seed {r['training']['seed']}; evaluation took {r['eval_seconds'] / 60:.1f} min."),
        f"- Load average at the end: {m['load_average_at_end']} (shared machine).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
