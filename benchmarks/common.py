"""Shared bits of the benchmarks: machine description, result files, the MNIST loader, timing helpers.

Every benchmark writes ``benchmarks/results/<name>.json`` (all figures, the settings, the machine, the exact
command and the date) and ``benchmarks/results/<name>.md`` (a short human summary of the same).
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import shlex
import struct
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The shared data sits beside the checkout: <parent>/shared/data/{mnist,...}
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC = 2051, 2049  # uint8 data, 3 dims / 1 dim


class BenchmarkSkipped(Exception):
    """A benchmark cannot run here (its data is absent); the message says what is missing and where."""


# --------------------------------------------------------------------------------------------- data
def mnist_dir(data: Path | None = None, dataset: str = "mnist") -> Path:
    """The folder of MNIST (or ``dataset="fashion-mnist"``, the same files), or :class:`BenchmarkSkipped` naming
    the files that are missing."""
    folder = (data or DATA) / dataset
    missing = [name for pair in MNIST_FILES.values() for name in pair if not (folder / name).is_file()]
    if missing:
        raise BenchmarkSkipped(f"{dataset} is absent: {', '.join(missing)} not found in {folder}. Put its four IDX "
                               ".gz files there to run this benchmark.")
    return folder


def _read_idx(path: Path, magic: int, header_ints: int) -> tuple[tuple[int, ...], np.ndarray]:
    """Dimensions and uint8 payload of a gzipped IDX file (big-endian int32 header of ``header_ints`` ints)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    header = struct.unpack(f">{header_ints}i", raw[:4 * header_ints])
    if header[0] != magic:
        raise ValueError(f"{path} is not an IDX file of this kind (magic {header[0]}, expected {magic}).")
    dims = tuple(header[1:])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 * header_ints)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} holds {data.size} values; its header says {dims}.")
    return dims, data


def read_idx_images(folder: Path, split: str) -> np.ndarray:
    """The uint8 images (n, rows, cols) of ``split`` ("train" or "test") in an MNIST-format folder (MNIST,
    Fashion-MNIST: the same file names), without their labels."""
    dims, pixels = _read_idx(folder / MNIST_FILES[split][0], _IDX_IMAGES_MAGIC, 4)  # magic, n, rows, cols
    return pixels.reshape(dims)


def load_mnist(split: str = "train", data: Path | None = None, dataset: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images (n, 28, 28) uint8 and labels (n,) uint8 of ``split`` ("train": 60,000, "test": 10,000);
    ``dataset="fashion-mnist"`` reads Fashion-MNIST, which has the same layout."""
    folder = mnist_dir(data, dataset)
    images = read_idx_images(folder, split)
    _, labels = _read_idx(folder / MNIST_FILES[split][1], _IDX_LABELS_MAGIC, 2)  # magic, n: labels at 8
    if len(labels) != len(images):
        raise ValueError(f"MNIST {split}: {len(images)} images but {len(labels)} labels.")
    return images, labels


def mnist_pixels(split: str = "train", n: int | None = None, data: Path | None = None) -> np.ndarray:
    """The first ``n`` (all if None) images of ``split`` as float32 rows (n, 784) in [0, 1]."""
    images, _ = load_mnist(split, data)
    images = images[:n] if n is not None else images
    return (images.reshape(len(images), -1).astype(np.float32) / 255.0).astype(np.float32)


# ---------------------------------------------------------------------------------------- machine
def json_options(text: str) -> dict[str, Any]:
    """An ``--options`` value: a JSON object, or one clear line and exit 2 (argparse's usage-error code)."""
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:
        options = error
    if not isinstance(options, dict):
        print(f"error: --options must be a JSON object such as '{{\"name\": value}}'. Got {text!r}.", file=sys.stderr)
        sys.exit(2)
    return options


def set_threads(threads: int | None) -> int:
    """Pin torch's intra-op threads (None: one per core) and return the number in use."""
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)
    return torch.get_num_threads()


def machine_info() -> dict[str, Any]:
    """Platform, CPU, library versions and torch threads: what the timings depend on."""
    import numpy
    import sklearn
    import torch

    try:
        import pyod

        pyod_version = pyod.__version__
    except ImportError:  # pragma: no cover
        pyod_version = None
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = None
    import aekit

    return {
        "platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "numpy": numpy.__version__, "sklearn": sklearn.__version__, "pyod": pyod_version,
        "aekit": aekit.__version__, "cuda": torch.cuda.is_available(), "load_average_at_start": load,
    }


def command_line() -> str:
    """The command that reproduces this run, from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(ROOT))
    except ValueError:
        script_text = sys.argv[0]
    return " ".join(shlex.quote(a) for a in [".venv/bin/python", script_text, *sys.argv[1:]])


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")


def machine_markdown(info: dict[str, Any]) -> str:
    load = info.get("load_average_at_start")
    return (f"Machine: {info['cpu']}, {info['cpu_count']} cores, torch threads {info['torch_threads']}; "
            f"{info['platform']}; Python {info['python']}, torch {info['torch']}, numpy {info['numpy']}, "
            f"scikit-learn {info['sklearn']}, PyOD {info['pyod']}, aekit {info['aekit']}. Load average at start: "
            f"{'n/a' if load is None else ', '.join(f'{v:.2f}' for v in load)}.")


# ----------------------------------------------------------------------------------------- results
def write_results(name: str, results: dict[str, Any], summary: str, *, info: dict[str, Any],
                  started: str, seconds: float, out: Path | None = None) -> tuple[Path, Path]:
    """Write ``<name>.json`` (``results`` plus machine, command, date, duration) and ``<name>.md``.

    ``summary`` is the Markdown body (tables, verdicts); the header and footer are added here.
    """
    from aekit.io import atomic_path, write_json

    out = out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    command = command_line()
    payload = {"benchmark": name, "date": started, "seconds": round(seconds, 1), "command": command,
               "machine": info, **results}
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    write_json(json_path, payload)
    markdown = (f"# {name}\n\n{summary.strip()}\n\n---\n{machine_markdown(info)}\n\n"
                f"Date: {started}; wall time {seconds / 60:.1f} min.\n\nReproduce: `{command}`\n")
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    return json_path, md_path


def markdown_table(header: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    """A GitHub table; ``align`` is one character per column, ``l`` or ``r`` (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2)
