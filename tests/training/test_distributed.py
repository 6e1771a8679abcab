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


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "OMP_NUM_THREADS")}
    return subprocess.run([sys.executable, "-m", "aekit", *args, "--devices", "2"], capture_output=True, text=True,
                          env=env, timeout=300)


def test_a_last_batch_of_one_row_trains_and_the_run_speaks_once(tmp_path) -> None:
    data_path = tmp_path / "rows.npy"
    np.save(data_path, np.random.default_rng(0).random((286, 5), dtype=np.float32))  # 257 training rows
    result = _run(["train", str(data_path), "--out", str(tmp_path / "r"), "--epochs", "1", "--latent-dim", "8"])
    assert result.returncode == 0, result.stderr[-3000:]
    # process 0's warning once; none of the launcher's notes (OMP_NUM_THREADS banner, elastic's log lines)
    assert result.stderr.count("can learn the identity") == 1 and "OMP_NUM_THREADS" not in result.stderr, \
        result.stderr
    result = _run(["train", str(data_path), "--out", str(tmp_path / "bad"), "--lr", "-1"])
    assert result.returncode == 1 and result.stderr == "error: --lr must be a float in (0, inf]. Got -1.0 instead.\n"
    result = _run(["train", str(data_path), "--out", str(tmp_path / "one"), "--batch-size", "1"])
    assert result.returncode == 1
    assert "\nerror: A batch must give each of 2 processes 1 row(s), 2 in all; --batch-size 1" in result.stderr
