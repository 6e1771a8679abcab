"""Reconstruction quality: test MSE of the dense and conv autoencoders against PCA at the same code size.

Protocol
- digits: scikit-learn's 8x8 digits scaled to [0, 1] (X / 16), stratified 80/20 split, seed 0.
- MNIST: the 60,000 training images (``--mnist-rows`` for a subset), the 10,000 test images, pixels in [0, 1].
- code sizes 2, 8 and 32; PCA fitted on the same training rows; MSE per pixel on the test set.
- training settings (listed in the results): Adam with a cosine schedule, 5% of the training rows held out for
  early stopping (best weights restored), seed 0. Target on MNIST at code 8: AE test MSE <= 0.4 x PCA's.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from common import command_line, load_mnist, machine_info, machine_markdown, write_results

from aekit import AutoEncoder

CODES = (2, 8, 32)
SETTINGS = {
    "dense": dict(model="dense", hidden_dims=(512, 256), batch_size=256, lr=2e-3),
    "conv": dict(model="conv", hidden_dims=(32, 64), batch_size=128, lr=2e-3),
}


def pca_mse(train: np.ndarray, test: np.ndarray, code: int) -> float:
    flat_train, flat_test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    pca = PCA(code, random_state=0).fit(flat_train)
    return float(np.mean((pca.inverse_transform(pca.transform(flat_test)) - flat_test) ** 2))


def ae_mse(train: np.ndarray, test: np.ndarray, code: int, name: str, epochs: int) -> tuple[float, float, int]:
    started = time.perf_counter()
    estimator = AutoEncoder(**SETTINGS[name], latent_dim=code, max_epochs=epochs, schedule="cosine",
                            validation_fraction=0.05, patience=max(3, epochs // 3), scaler="none", random_state=0,
                            device="cpu").fit(train)
    mse = float(np.mean((estimator.reconstruct(test) - test) ** 2))
    return mse, time.perf_counter() - started, len(estimator.history_)


def run(dataset: str, train: np.ndarray, test: np.ndarray, epochs: int) -> list[dict[str, Any]]:
    rows = []
    for code in CODES:
        row: dict[str, Any] = {"dataset": dataset, "code_size": code, "pca_mse": pca_mse(train, test, code)}
        for name in SETTINGS:
            mse, seconds, ran = ae_mse(train, test, code, name, epochs)
            row.update({f"{name}_mse": mse, f"{name}_seconds": round(seconds, 1), f"{name}_epochs": ran,
                        f"{name}_over_pca": mse / row["pca_mse"]})
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist-rows", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=20, help="MNIST epochs (digits: 5x as many)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="10k MNIST rows, 4 epochs")
    args = parser.parse_args()
    if args.quick:
        args.mnist_rows, args.epochs = 10000, 4
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    digits = load_digits()
    d_train, d_test = train_test_split((digits.data / 16.0).reshape(-1, 1, 8, 8).astype(np.float32), test_size=0.2,
                                       stratify=digits.target, random_state=0)
    rows = run("digits", d_train, d_test, args.epochs * 5)
    x_train, _, x_test, _ = load_mnist()
    subset = np.random.default_rng(0).permutation(len(x_train))[:args.mnist_rows]
    rows += run("mnist", x_train[subset][:, None], x_test[:, None], args.epochs)
    info, command = machine_info(), command_line()
    minutes = (time.perf_counter() - started) / 60
    payload = {"benchmark": "quality", "settings": {k: {**v, "hidden_dims": list(v["hidden_dims"])}
                                                     for k, v in SETTINGS.items()},
               "mnist_rows": args.mnist_rows, "epochs": args.epochs, "rows": rows, "minutes": round(minutes, 1),
               "machine": info, "command": command}
    lines = ["# Reconstruction quality: autoencoders vs PCA (test MSE, pixels in [0, 1])\n",
             f"MNIST: {args.mnist_rows} training rows, 10,000 test images, at most {args.epochs} epochs; digits: "
             f"80/20 split, at most {args.epochs * 5} epochs. Adam + cosine schedule, 5% validation with early "
             f"stopping, seed 0. Settings: {payload['settings']}. Whole run: {minutes:.1f} min.\n",
             "| dataset | code | PCA | dense AE | dense / PCA | conv AE | conv / PCA |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['code_size']} | {r['pca_mse']:.4f} | {r['dense_mse']:.4f} | "
                     f"{r['dense_over_pca']:.2f} | {r['conv_mse']:.4f} | {r['conv_over_pca']:.2f} |")
    lines += ["", "Target: MNIST code 8, AE / PCA <= 0.4.", "", machine_markdown(info, command)]
    print("Results:", *write_results("quality", payload, "\n".join(lines) + "\n"))


if __name__ == "__main__":
    main()
