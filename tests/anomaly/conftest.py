"""Fixtures for the anomaly tests: small seeded data with planted anomalies and a detector fitted once."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
# Small and quick: two members, a few hundred optimizer steps each.
FAST = {"n_estimators": 2, "max_epochs": 15, "batch_size": 32, "random_state": 0, "device": "cpu"}


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared benchmark data is not next to this checkout")
    return path


def planted(n_inliers: int = 300, n_outliers: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inliers on a 2-D plane in 6-D (plus a little noise), outliers off the plane; rows shuffled."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(2, 6))
    inliers = rng.normal(size=(n_inliers, 2)) @ basis + 0.05 * rng.normal(size=(n_inliers, 6))
    outliers = rng.normal(size=(n_outliers, 2)) @ basis + rng.choice([-3.0, 3.0], size=(n_outliers, 6))
    X = np.vstack([inliers, outliers]) * [1, 10, 100, 1, 0.1, 5] + [0, 50, -20, 3, 0, 1]  # mixed units
    y = np.r_[np.zeros(n_inliers, int), np.ones(n_outliers, int)]
    order = rng.permutation(len(y))
    return X[order], y[order]


@pytest.fixture(scope="session")
def planted_data() -> tuple[np.ndarray, np.ndarray]:
    return planted()


@pytest.fixture(scope="module")
def fitted(planted_data):
    from aekit import AnomalyDetector

    X, _ = planted_data
    return AnomalyDetector(contamination=0.05, **FAST).fit(X)


@pytest.fixture(scope="session")
def sine_series() -> tuple[np.ndarray, np.ndarray]:
    """A noisy sine of 600 steps with a level shift at steps 400..419 (labels mark it)."""
    rng = np.random.default_rng(0)
    t = np.arange(600)
    values = np.sin(2 * np.pi * t / 50) + 0.05 * rng.normal(size=600)
    labels = np.zeros(600, int)
    values[400:420] += 2.0
    labels[400:420] = 1
    return values, labels
