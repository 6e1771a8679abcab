"""Data-parallel training: 2 CPU processes over gloo match one process at the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file


def _train(tmp_path, data_path, devices: int, out: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "aekit", "train", str(data_path), "--out", str(tmp_path / out), "--epochs", "3",
               "--batch-size", "50", "--latent-dim", "4", "--hidden-dims", "32", "--seed", "3",
               "--device", "cpu", "--devices", str(devices)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_two_processes_match_one(tmp_path) -> None:
    from sklearn.datasets import load_digits

    data_path = tmp_path / "digits.npy"
    np.save(data_path, load_digits().data[:403].astype(np.float32))  # 403 rows: the last batch is uneven
    _train(tmp_path, data_path, 1, "single")
    _train(tmp_path, data_path, 2, "ddp")
    single = load_file(str(tmp_path / "single" / "model.safetensors"))
    ddp = load_file(str(tmp_path / "ddp" / "model.safetensors"))
    assert single.keys() == ddp.keys()
    for key in single:
        np.testing.assert_allclose(ddp[key], single[key], atol=2e-5, err_msg=key)
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3  # written once, by rank 0
