"""The two-minute tour: a conv autoencoder on the built-in digits, measured against PCA, with an HTML report.

    >>> from aekit.demo import run_demo
    >>> from aekit.evaluation import format_table
    >>> result = run_demo("runs/demo")
    >>> print(format_table(result.table))      # AE vs PCA-8 on the held-out 20 %
    >>> result.report_path                     # runs/demo/report.html: open it in a browser

Nothing is downloaded: digits (1797 images, 1x8x8, values 0..16) ships with scikit-learn.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from aekit._version import __version__
from aekit.data import load_dataset
from aekit.errors import check_int
from aekit.estimator import AutoEncoder
from aekit.evaluation import compare_with_pca
from aekit.report import write_model_report

__all__ = ["DemoResult", "run_demo"]

logger = logging.getLogger(__name__)

TEST_FRACTION = 0.2
# Tuned on digits so the AE clearly beats PCA at the same code size within seconds on 2 CPU cores:
# small batches give ~45 steps per epoch on 1.3k images (the default 128 gives only 11), a 3x larger step
# with cosine decay converges in ~60 epochs. Test MSE 3.06 vs PCA-8 6.31 (seed 0), ~10 s on 2 cores.
DEMO_PARAMS: dict[str, Any] = {
    "model": "conv",
    "hidden_dims": (32, 64),  # 8x8 -> 4x4 -> 2x2
    "batch_size": 32,
    "lr": 3e-3,
    "schedule": "cosine",
    "device": "cpu",  # 8x8 images: a GPU is no faster here, and the CPU keeps the numbers reproducible
}


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    table : list of dict
        Test-split metrics, autoencoder then PCA: ``method, code_size, mse, mae, psnr`` (original units).
    report_path : Path
        The self-contained HTML report.
    model_dir : Path
        The saved model (``AutoEncoder.load(model_dir)``).
    seconds : float
        Wall-clock time of the whole demo.
    """

    table: list[dict[str, Any]]
    report_path: Path
    model_dir: Path
    seconds: float


def _split(n_samples: int, y: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices (80/20): stratified by class when every class has 2 or more samples."""
    rows = np.arange(n_samples)
    stratify = None
    if y is not None:
        _, counts = np.unique(y, return_counts=True)
        stratify = y if counts.min() >= 2 else None
    train_rows, test_rows = train_test_split(rows, test_size=TEST_FRACTION, random_state=seed, stratify=stratify)
    return np.sort(train_rows), np.sort(test_rows)


def run_demo(out_dir: str | os.PathLike[str] = "runs/demo", *, max_epochs: int = 60, latent_dim: int = 8,
             random_state: int = 0) -> DemoResult:
    """Train a conv autoencoder on digits, compare it with PCA on a held-out split, save model and report.

    Parameters
    ----------
    out_dir : str or path-like, default "runs/demo"
        Receives ``model/`` (:meth:`aekit.AutoEncoder.save`) and ``report.html``.
    max_epochs : int, default 60
        Training epochs (cosine schedule over all of them; early stopping may end sooner).
    latent_dim : int, default 8
        Code size of the autoencoder, and the number of PCA components it is compared with.
    random_state : int, default 0
        Seeds the 80/20 split, the weights and the shuffling: same seed, same numbers on CPU.

    Returns
    -------
    DemoResult
    """
    check_int(max_epochs, name="max_epochs", owner="run_demo", low=1)
    check_int(latent_dim, name="latent_dim", owner="run_demo", low=1)
    check_int(random_state, name="random_state", owner="run_demo", low=0, high=2**32 - 1)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    data = load_dataset("digits")
    X = np.asarray(data.X, dtype=np.float32)  # (1797, 1, 8, 8), values 0..16
    train_rows, test_rows = _split(len(X), data.y, random_state)
    X_train, X_test = X[train_rows], X[test_rows]
    y_test = None if data.y is None else np.asarray(data.y)[test_rows]
    logger.info("demo: digits %s, %d train / %d test rows", X.shape, len(train_rows), len(test_rows))

    estimator = AutoEncoder(latent_dim=latent_dim, max_epochs=max_epochs, random_state=random_state,
                            **DEMO_PARAMS).fit(X_train)
    fit_seconds = time.perf_counter() - started
    table = compare_with_pca(estimator, X_train, X_test, image=True)

    model_dir = estimator.save(out_dir / "model", metadata={"demo": {"test_metrics": table,
                                                                     "random_state": random_state}})
    n_params = sum(p.numel() for p in estimator.model_.parameters())
    notes = {
        "data": (f"built-in digits: {len(X)} images {'x'.join(map(str, X.shape[1:]))}, values "
                 f"{X.min():g}..{X.max():g}; {len(train_rows)} train / {len(test_rows)} test (stratified 80/20, "
                 f"seed {random_state}); PCA fitted on the same train rows"),
        "model": (f"conv autoencoder, hidden_dims {list(DEMO_PARAMS['hidden_dims'])}, latent_dim {latent_dim}, "
                  f"{n_params:,} parameters; batch {DEMO_PARAMS['batch_size']}, lr {DEMO_PARAMS['lr']:g} "
                  f"{DEMO_PARAMS['schedule']}, {len(estimator.history_)} epochs (best epoch {estimator.best_epoch_}"
                  f"{'; stopped: ' + estimator.stopped_reason_ if estimator.stopped_reason_ else ''})"),
        "device": f"{DEMO_PARAMS['device']} ({torch.get_num_threads()} threads), torch {torch.__version__}",
        "time": f"training {fit_seconds:.1f} s",
        "aekit": __version__,
    }
    report_path = write_model_report(
        out_dir / "report.html", estimator, X_test,
        title=f"aekit demo: conv autoencoder on digits (code size {latent_dim})",
        labels=y_test, class_names=data.class_names, table=table, notes=notes)
    seconds = time.perf_counter() - started
    logger.info("demo: done in %.1f s: %s", seconds, table)
    return DemoResult(table=table, report_path=report_path, model_dir=Path(model_dir), seconds=seconds)
