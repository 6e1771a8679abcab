"""Array compression: a learned codec (``aekit train-codec``) against PCA + uniform quantization + zstd, and
zstd alone (lossless), with and without a guaranteed maximum error.

Protocol (the default; ``--quick`` shortens it):

1. Data, as float32 rows (raw size = rows x columns x 4 bytes): MNIST (codec trained on 20,000 training
   images, compressed: the 10,000 test images; pixel values 0..255) and two ODDS tables, cardio (1,831 x 21)
   and satellite (6,435 x 36), split 50/50 at random (seed 0): the codec and PCA are fitted on one half, the
   other half is compressed. The models themselves are not counted in the file sizes (a codec is shared by
   many files, like a PCA basis).
2. aekit codec: one codec per quality level 1..5 (``train_codec``, the CLI's code path, with the CLI's
   default budget of about 45,000 steps: 160 passes over MNIST, 979 over satellite, 3,462 over cardio; lr
   2e-3), each file written and read back through ``compress`` / ``decompress``.
   Error-bounded: the quality-3 codec plus the residual layer at E = 0.5%, 1%, 2%, 5% of the data range,
   against the same bound without a model (quantization with step 2E + entropy coding).
3. PCA + uniform quantization + zstd: k components (2..64) fitted on the training half, the scores quantized
   with one step (a grid of steps), the integers zstd-compressed (level 19); the Pareto front over (k, step).
4. zstd alone, level 19, on the float32 bytes (lossless).
5. Distortion: NRMSE (RMSE over the data range) and PSNR = 20 log10(range / RMSE); the codec's gain over PCA is
   its PSNR minus PCA's PSNR interpolated (in log ratio) on PCA's Pareto front at the same ratio.

Targets (issue 5): >= 10:1 with a guaranteed max error, and >= 3 dB over PCA at equal ratio.

    .venv/bin/python benchmarks/compression_arrays.py [--quick] [--jobs 2]   # --jobs: sets side by side
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    DATA,
    BenchmarkSkipped,
    load_mnist,
    machine_info,
    markdown_table,
    now,
    set_threads,
    write_results,
)

FULL = {"mnist_train": 20_000, "epochs": None, "lr": 2e-3, "qualities": [1, 2, 3, 4, 5]}
QUICK = {"mnist_train": 5_000, "epochs": 4, "lr": 2e-3, "qualities": [1, 3, 5]}
BOUNDS = [0.005, 0.01, 0.02, 0.05]  # fractions of the data range
PCA_STEPS = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]  # fractions of the first component's score std


def _distortion(reference: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    span = float(reference.max() - reference.min()) or 1.0
    rmse = float(np.sqrt(np.mean((decoded.astype(np.float64) - reference.astype(np.float64)) ** 2)))
    return {"nrmse": rmse / span, "psnr": 20 * math.log10(span / rmse) if rmse > 0 else math.inf,
            "max_abs_error": float(np.abs(decoded.astype(np.float64) - reference).max())}


def load_sets(quick: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import scipy.io

    settings = QUICK if quick else FULL
    train, _ = load_mnist("train")
    test, _ = load_mnist("test")
    sets = {"mnist": (train[:settings["mnist_train"]].reshape(-1, 784).astype(np.float32),
                      test.reshape(-1, 784).astype(np.float32))}
    for name in ("cardio", "satellite"):
        path = DATA / "odds" / f"{name}.mat"
        if not path.is_file():
            raise BenchmarkSkipped(f"ODDS table {path} is absent.")
        X = scipy.io.loadmat(path)["X"].astype(np.float32)
        order = np.random.default_rng(0).permutation(len(X))
        half = len(X) // 2
        sets[name] = (X[order[:half]], X[order[half:]])
    return sets


def codec_points(train: np.ndarray, test: np.ndarray, folder: Path, qualities: list[int],
                 epochs: int | None, lr: float) -> tuple[list[dict[str, Any]], dict[int, Path]]:
    from aekit.compression.api import compress, decompress
    from aekit.compression.codec import train_codec
    from aekit.data.scalers import Scaler

    scaler = Scaler("minmax").fit(train)
    source = folder / "test.npy"
    np.save(source, test)
    points, codecs = [], {}
    for quality in qualities:
        started = time.perf_counter()
        codec = train_codec(scaler.transform(train).astype(np.float32), folder / f"codec-q{quality}", kind="array",
                            quality=quality, epochs=epochs, lr=lr, scaler=scaler)
        train_seconds = time.perf_counter() - started
        codecs[quality] = folder / f"codec-q{quality}"
        encoded = compress(source, folder / "x.aez", codec=codec)
        decoded = decompress(folder / "x.aez", folder / "y.npy")
        points.append({"quality": quality, "bytes": encoded.file_bytes, "ratio": test.nbytes / encoded.file_bytes,
                       **_distortion(test, np.load(folder / "y.npy")), "code_bytes": encoded.code_bytes,
                       "predicted_code_bytes": round(encoded.predicted_code_bytes, 1),
                       "encode_mb_s": encoded.mb_per_s, "decode_mb_s": decoded.mb_per_s,
                       "train_seconds": round(train_seconds, 1)})
    return points, codecs


def bounded_points(test: np.ndarray, folder: Path, codec: Path | None) -> list[dict[str, Any]]:
    from aekit.compression.api import compress, decompress

    source = folder / "test.npy"
    span = float(test.max() - test.min())
    points = []
    for fraction in BOUNDS:
        bound = fraction * span
        encoded = compress(source, folder / "b.aez", codec=codec, max_abs_error=bound)
        decompress(folder / "b.aez", folder / "b.npy")
        measured = _distortion(test, np.load(folder / "b.npy"))
        points.append({"bound_fraction_of_range": fraction, "bound": bound, "bytes": encoded.file_bytes,
                       "ratio": test.nbytes / encoded.file_bytes, **measured,
                       "bound_holds": measured["max_abs_error"] <= bound})
    return points


def pca_points(train: np.ndarray, test: np.ndarray) -> list[dict[str, Any]]:
    import zstandard
    from sklearn.decomposition import PCA

    compressor = zstandard.ZstdCompressor(level=19)
    points = []
    for k in (2, 4, 8, 16, 32, 64):
        if k > min(train.shape):
            continue
        pca = PCA(k, random_state=0).fit(train)
        scores = pca.transform(test)
        scale = float(scores[:, 0].std()) or 1.0
        for step_fraction in PCA_STEPS:
            step = step_fraction * scale
            q = np.rint(scores / step)
            payload = compressor.compress(q.astype(np.int32).tobytes())
            decoded = pca.inverse_transform(q * step)
            points.append({"k": k, "step": step, "bytes": len(payload), "ratio": test.nbytes / len(payload),
                           **_distortion(test, decoded)})
    return points


def pareto(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points no other point beats in both ratio and PSNR, by increasing ratio."""
    front = [p for p in points if not any(o["ratio"] >= p["ratio"] and o["psnr"] > p["psnr"] for o in points)]
    return sorted(front, key=lambda p: p["ratio"])


def gain_over(front: list[dict[str, Any]], point: dict[str, Any]) -> float | None:
    """PSNR of ``point`` minus the front's PSNR at the same ratio (log-interpolated); None outside the front."""
    ratios = np.log([p["ratio"] for p in front])
    if not ratios[0] <= math.log(point["ratio"]) <= ratios[-1]:
        return None
    return round(point["psnr"] - float(np.interp(math.log(point["ratio"]), ratios, [p["psnr"] for p in front])), 2)


def _fraction(value: float | None) -> str:
    return "not reached at E <= 5%" if value is None else f"E = {value:.1%} of the range"


def _db(value: float | None) -> str:
    return "n/a (no overlap with PCA's ratios)" if value is None else f"{value:+.2f} dB"


def run_set(task: tuple[str, np.ndarray, np.ndarray, dict[str, Any], int]) -> tuple[str, dict[str, Any]]:
    """Every measurement of one data set: codecs per quality, error-bounded points, PCA front, zstd."""
    import zstandard

    name, train, test, settings, threads = task
    set_threads(threads)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        codec, codecs = codec_points(train, test, folder, settings["qualities"], settings["epochs"], settings["lr"])
        middle = codecs[sorted(codecs)[len(codecs) // 2]]
        with_codec = bounded_points(test, folder, middle)
        without = bounded_points(test, folder, None)
    pca = pca_points(train, test)
    front = pareto(pca)
    lossless = test.nbytes / len(zstandard.ZstdCompressor(level=19).compress(test.tobytes()))
    gains = [gain_over(front, p) for p in codec]
    for p, g in zip(codec, gains):
        p["psnr_gain_over_pca"] = g
    reached = [p for p in with_codec if p["ratio"] >= 10 and p["bound_holds"]]
    reached_without = [p for p in without if p["ratio"] >= 10 and p["bound_holds"]]
    return name, {
        "train_rows": len(train), "test_shape": list(test.shape), "raw_bytes": test.nbytes,
        "codec": codec, "codec_bounded": with_codec, "quantization_bounded": without, "pca_pareto": front,
        "pca_all": pca, "zstd_lossless_ratio": lossless,
        "max_gain_over_pca_db": max((g for g in gains if g is not None), default=None),
        "smallest_bound_with_ratio_10": reached[0]["bound_fraction_of_range"] if reached else None,
        "smallest_bound_with_ratio_10_without_codec": (reached_without[0]["bound_fraction_of_range"]
                                                       if reached_without else None),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 MNIST training rows, 4 epochs, 3 qualities")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--jobs", type=int, default=1, help="data sets measured side by side, one process each")
    args = parser.parse_args(argv)
    set_threads(args.threads)

    settings = QUICK if args.quick else FULL
    info, started, clock = machine_info(), now(), time.perf_counter()
    try:
        sets = load_sets(args.quick)
    except BenchmarkSkipped as exc:
        print(f"skipped: {exc}")
        return 0
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "settings": settings, "data": {}}
    rows, bound_rows = [], []
    tasks = [(name, train, test, settings, args.threads) for name, (train, test) in sets.items()]
    if args.jobs > 1:  # one set per worker process, the largest (MNIST) first
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            done = list(pool.map(run_set, tasks))
    else:
        done = [run_set(task) for task in tasks]
    for name, entry in done:
        results["data"][name] = entry
        codec, lossless = entry["codec"], entry["zstd_lossless_ratio"]
        for p in codec:
            rows.append([name, f"q{p['quality']}", f"{p['ratio']:.1f}", f"{p['nrmse']:.4f}", f"{p['psnr']:.2f}",
                         "n/a" if p["psnr_gain_over_pca"] is None else f"{p['psnr_gain_over_pca']:+.2f}",
                         f"{p['encode_mb_s']:.2f} / {p['decode_mb_s']:.2f}"])
        for a, b in zip(entry["codec_bounded"], entry["quantization_bounded"]):
            bound_rows.append([name, f"{a['bound_fraction_of_range']:.1%}", f"{a['ratio']:.1f}", f"{b['ratio']:.1f}",
                               f"{a['max_abs_error']:.4g} <= {a['bound']:.4g}", f"{lossless:.2f}"])
    summary = "\n\n".join([
        ("Learned codec (aekit train-codec, one per quality) on held-out rows, against PCA + uniform quantization + "
        "zstd (Pareto front over components and step) and zstd alone. Ratios against float32 rows."),
        markdown_table(["data", "quality", "ratio", "NRMSE", "PSNR (dB)", "gain over PCA at equal ratio (dB)",
                        "encode / decode MB/s"], rows),
        ("Guaranteed max error (E as a fraction of the data range): quality-3 codec + residual layer, against the "
        "same bound without a model; zstd lossless for reference."),
        markdown_table(["data", "E", "ratio, codec + bound", "ratio, quantization + entropy coding",
                        "max error measured", "zstd lossless ratio"], bound_rows),
        "Targets: >= 10:1 with a guaranteed max error (smallest E of the grid that reaches it, codec + bound / "
        "quantization + entropy coding alone) -> " + ", ".join(
            f"{n}: {_fraction(e['smallest_bound_with_ratio_10'])} / "
            f"{_fraction(e['smallest_bound_with_ratio_10_without_codec'])}" for n, e in results["data"].items())
        + "; >= 3 dB over PCA at equal ratio -> " + ", ".join(
            f"{n}: best {_db(e['max_gain_over_pca_db'])}" for n, e in results["data"].items()),
    ])
    write_results("compression_arrays", results, summary, info=info, started=started,
                  seconds=time.perf_counter() - clock)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
