"""The demo end to end, shortened to 2 epochs: files on disk, both methods in the table, a loadable model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aekit import AutoEncoder
from aekit.demo import DemoResult, run_demo
from aekit.errors import AekitError


def test_demo_writes_model_report_and_table(tmp_path) -> None:
    result = run_demo(tmp_path, max_epochs=2, latent_dim=4)
    assert isinstance(result, DemoResult) and result.seconds > 0
    assert result.report_path == tmp_path / "report.html" and result.model_dir == tmp_path / "model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "report.html"]  # no temp files left
    assert [row["method"] for row in result.table] == ["autoencoder (conv)", "PCA"]
    for row in result.table:
        assert row["code_size"] == 4
        assert all(math.isfinite(row[k]) and row[k] > 0 for k in ("mse", "mae", "psnr"))

    text = result.report_path.read_text(encoding="utf-8")
    assert text.count('<img src="data:image/png;base64,') == 4 and "http" not in text  # + code sparsity
    assert "autoencoder (conv)" in text and "360 test" in text

    estimator = AutoEncoder.load(result.model_dir)
    assert estimator.input_shape_ == (1, 8, 8) and estimator.metadata_["demo"]["test_metrics"] == result.table
    x = np.random.default_rng(0).uniform(0, 16, size=(3, 1, 8, 8)).astype(np.float32)
    assert estimator.reconstruct(x).shape == (3, 1, 8, 8)


def test_demo_rejects_bad_settings(tmp_path) -> None:
    with pytest.raises(AekitError, match="'max_epochs' parameter of run_demo.*Got 0"):
        run_demo(tmp_path, max_epochs=0)
    with pytest.raises(AekitError, match="'latent_dim' parameter of run_demo.*Got 2.5"):
        run_demo(tmp_path, latent_dim=2.5)
    assert not any(tmp_path.iterdir())
