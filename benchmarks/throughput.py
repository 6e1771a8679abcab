"""Training throughput: aekit.AutoEncoder.fit against a hand-written PyTorch loop and PyOD's AutoEncoder.

Protocol
- data: MNIST training images in [0, 1] (a fixed seeded subset, ``--rows``), flattened for the dense model.
- models: dense 784-512-256-32 and a 2-layer conv AE (channels 32, 64) on 28x28; batch 256, Adam lr 1e-3, MSE.
- aekit: ``AutoEncoder(..., validation_fraction=0, early_stopping=False, scaler="none")`` so it does the same
  work as the hand loop (no validation pass, the data already in [0, 1]).
- hand loop: the identical ``aekit.Autoencoder`` module, a random permutation per epoch, batches sliced from a
  float32 tensor, zero_grad / forward / MSE / backward / step: the simplest correct loop.
- after one discarded warm-up run of each, runs alternate (hand, aekit, hand, aekit, ...) in one process; each side's throughput is its median over
  ``--pairs``; the ratio aekit / hand is the figure (target >= 0.95). PyOD's AutoEncoder with the same layers
  (no batch norm, no dropout, preprocessing off) runs afterwards on the dense model (target aekit >= 2.5x).
  PyOD's fit also scores the training set once after training, as its API requires; that is part of its fit.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Any

import numpy as np
import torch

from common import command_line, load_mnist, machine_info, machine_markdown, write_results

from aekit import AutoEncoder, Autoencoder, build_config

MODELS = {
    "dense 784-512-256-32": dict(model="dense", hidden_dims=(512, 256), latent_dim=32, flat=True),
    "conv 2-layer (32, 64), code 32": dict(model="conv", hidden_dims=(32, 64), latent_dim=32, flat=False),
}
BATCH, LR = 256, 1e-3


def hand_loop(X: np.ndarray, spec: dict[str, Any], epochs: int, seed: int) -> float:
    """Seconds for the plain loop, model construction and tensor conversion included (as in fit)."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    shape = X.shape[1:]
    config = build_config(spec["model"], input_shape=shape, latent_dim=spec["latent_dim"],
                          options={"hidden_dims": list(spec["hidden_dims"])})
    model = Autoencoder(config).train()
    data = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), BATCH):
            x = data[perm[start:start + BATCH]]
            optimizer.zero_grad(set_to_none=True)
            x_hat = model.decoder(model.bottleneck(model.encoder(x)).z)
            loss = torch.nn.functional.mse_loss(x_hat, x)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - started


def aekit_fit(X: np.ndarray, spec: dict[str, Any], epochs: int, seed: int) -> float:
    started = time.perf_counter()
    AutoEncoder(spec["model"], latent_dim=spec["latent_dim"], hidden_dims=spec["hidden_dims"], max_epochs=epochs,
                batch_size=BATCH, lr=LR, validation_fraction=0.0, early_stopping=False, scaler="none",
                random_state=seed, device="cpu").fit(X)
    return time.perf_counter() - started


def pyod_fit(X: np.ndarray, epochs: int, seed: int) -> float:
    from pyod.models.auto_encoder import AutoEncoder as PyODAutoEncoder

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        PyODAutoEncoder(hidden_neuron_list=[512, 256, 32], epoch_num=epochs, batch_size=BATCH, lr=LR,
                        batch_norm=False, dropout_rate=0.0, preprocessing=False, optimizer_params={},
                        random_state=seed, device="cpu", verbose=0).fit(X)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps a shared machine steady)")
    parser.add_argument("--quick", action="store_true", help="5000 rows, 1 epoch, 2 pairs")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.epochs, args.pairs = 5000, 1, 2
    torch.set_num_threads(args.threads)
    x_train, _, _, _ = load_mnist()
    rows = np.random.default_rng(0).choice(len(x_train), args.rows, replace=False)
    images = x_train[rows][:, None]  # (n, 1, 28, 28)
    results: dict[str, Any] = {}
    for name, spec in MODELS.items():
        X = images.reshape(len(images), -1) if spec["flat"] else images
        hand, ours = [], []
        hand_loop(X, spec, 1, 0), aekit_fit(X, spec, 1, 0)  # warm-up: allocator, kernels, imports
        for pair in range(args.pairs):
            hand.append(args.rows * args.epochs / hand_loop(X, spec, args.epochs, pair))
            ours.append(args.rows * args.epochs / aekit_fit(X, spec, args.epochs, pair))
        results[name] = {"hand_samples_per_s": hand, "aekit_samples_per_s": ours,
                         "hand_median": statistics.median(hand), "aekit_median": statistics.median(ours),
                         "ratio_aekit_over_hand": statistics.median(ours) / statistics.median(hand)}
        print(name, results[name], flush=True)
    dense = next(iter(MODELS))
    X = images.reshape(len(images), -1)
    pyod = [args.rows * args.epochs / pyod_fit(X, args.epochs, pair) for pair in range(args.pairs)]
    results[dense]["pyod_samples_per_s"] = pyod
    results[dense]["pyod_median"] = statistics.median(pyod)
    results[dense]["ratio_aekit_over_pyod"] = results[dense]["aekit_median"] / statistics.median(pyod)
    info, command = machine_info(), command_line()
    payload = {"benchmark": "throughput", "rows": args.rows, "epochs": args.epochs, "pairs": args.pairs,
               "batch_size": BATCH, "threads": args.threads, "results": results, "machine": info, "command": command}
    lines = ["# Training throughput: aekit.AutoEncoder.fit vs a hand-written loop and PyOD\n",
             f"MNIST, {args.rows} rows, {args.epochs} epochs per run, batch {BATCH}, Adam lr {LR}, "
             f"{args.pairs} alternating pairs, torch threads {args.threads}. Samples/s are medians over the pairs "
             "(model construction and tensor conversion included on both sides).\n",
             "| model | hand loop | aekit | aekit / hand | PyOD | aekit / PyOD |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        pyod_cell = f"{r['pyod_median']:.0f}" if "pyod_median" in r else "-"
        ratio_cell = f"{r['ratio_aekit_over_pyod']:.2f}x" if "pyod_median" in r else "-"
        lines.append(f"| {name} | {r['hand_median']:.0f} | {r['aekit_median']:.0f} | "
                     f"{r['ratio_aekit_over_hand']:.3f} | {pyod_cell} | {ratio_cell} |")
    lines += ["", "Targets: aekit / hand >= 0.95; aekit / PyOD >= 2.5.", "", machine_markdown(info, command)]
    paths = write_results("throughput", payload, "\n".join(lines) + "\n")
    print("Results:", *paths)


if __name__ == "__main__":
    main()
