"""Image compression: aekit's shipped codecs against JPEG and WebP (Pillow), rate-distortion and BD-rate.

Protocol (the default; ``--quick`` shortens it):

1. Images: scikit-learn's two sample photos (china.jpg, flower.jpg; RGB, 427x640, never seen in training: the
   shipped codecs were trained on scikit-image's images) and the Fashion-MNIST test set (grayscale), its
   10,000 28x28 images laid out as one 100x100 mosaic so that the per-file headers of all three formats are
   paid once, as they are for the photos (``--quick``: the first 400 images, a 20x20 mosaic).
2. aekit: ``compress`` / ``decompress`` through the real ``.aez`` files, one point per shipped quality
   level; the rate is the whole file (header included). JPEG and WebP: Pillow at qualities 5..95, the rate is
   the whole file. PSNR over all pixels and channels, peak 255.
3. BD-rate (Bjontegaard, VCEG-M33): each curve reduced to its monotone front (a point with more bits and no
   better PSNR is dropped), then a cubic fit of log(bpp) against PSNR on the points around the PSNR range both
   curves cover (piecewise-linear for a curve with fewer than 4 points), integrated over that overlap; the
   average log-rate difference is reported as a percentage (negative: aekit needs fewer bits for the same PSNR).
   Also the PSNR difference at matched bpp, which needs no fit.
4. Throughput: encode and decode MB/s (raw RGB bytes per second, file reading and writing included) of the
   shipped RGB codec on china.jpg.

Targets (issue 5): BD-rate <= -30% against JPEG and <= -10% against WebP.

    .venv/bin/python benchmarks/compression_images.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aekit.evaluation import reconstruction_metrics
from benchmarks.common import (
    DATA,
    MNIST_FILES,
    RESULTS,
    BenchmarkSkipped,
    machine_info,
    markdown_table,
    now,
    read_idx_images,
    set_threads,
    write_results,
)

QUALITIES = [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
TARGETS = {"jpeg": -30.0, "webp": -10.0}


def psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR of one 8-bit image (H, W[, C]), by aekit's own metric."""
    return reconstruction_metrics(reference[None], decoded[None], data_range=255.0, image=True)["psnr"]


def _local_points(rate: np.ndarray, quality: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """The points inside the overlap [low, high] plus one neighbour on each side, at least 4 when there are 4.

    Bjontegaard's fit is meant for the few points around the compared range; a cubic through a whole 5..95
    quality sweep would bend to fit the far ends instead.
    """
    order = np.argsort(quality)
    rate, quality = rate[order], quality[order]
    inside = np.flatnonzero((quality >= low) & (quality <= high))
    first = inside[0] - 1 if inside.size else np.searchsorted(quality, low) - 1
    last = inside[-1] + 1 if inside.size else np.searchsorted(quality, high)
    first, last = max(first, 0), min(last, len(quality) - 1)
    while last - first + 1 < min(4, len(quality)):
        if first > 0 and (last == len(quality) - 1 or low - quality[first - 1] < quality[last + 1] - high):
            first -= 1
        else:
            last += 1
    return rate[first:last + 1], quality[first:last + 1]


def monotone(bpp: list[float], quality: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The rate-distortion front: sorted by rate, each point kept only if its PSNR beats every cheaper point.

    Bjontegaard's method assumes PSNR rises with the rate; a dominated point (more bits, no better PSNR) would
    fold the fitted curve back on itself.
    """
    order = np.argsort(bpp)
    kept_rate, kept_quality = [], []
    for i in order:
        if not kept_quality or quality[i] > kept_quality[-1]:
            kept_rate.append(bpp[i])
            kept_quality.append(quality[i])
    return np.asarray(kept_rate, dtype=float), np.asarray(kept_quality, dtype=float)


def _mean_log_rate(rate: np.ndarray, quality: np.ndarray, low: float, high: float) -> tuple[float, str]:
    """Mean of log(rate) over PSNR in [low, high]: the integral of a cubic fit (Bjontegaard) when the curve has
    4+ points, else of the piecewise-linear interpolation (too few points for a cubic: a lower-degree fit through
    3 points can swing far outside them)."""
    log_rate = np.log(rate)
    if len(quality) >= 4:
        log_rate, quality = _local_points(log_rate, quality, low, high)
        antiderivative = np.polyint(np.polyfit(quality, log_rate, 3))
        value = (np.polyval(antiderivative, high) - np.polyval(antiderivative, low)) / (high - low)
        return float(value), "cubic"
    grid = np.linspace(low, high, 1001)
    return float(np.trapezoid(np.interp(grid, quality, log_rate), grid) / (high - low)), "piecewise-linear"


def bd_rate(anchor: list[dict[str, float]], test: list[dict[str, float]]) -> tuple[float | None, str]:
    """Bjontegaard delta rate of ``test`` against ``anchor`` (points with "bpp" and "psnr") in percent and the
    fit used, or (None, reason).

    Both curves are reduced to their monotone front (:func:`monotone`); log(rate) is fitted as a cubic in PSNR
    on the points around the common PSNR interval (piecewise-linear with fewer than 4 points), integrated over
    that interval, and ``exp(mean difference) - 1`` is returned.
    """
    a_rate, a_psnr = monotone([p["bpp"] for p in anchor], [p["psnr"] for p in anchor])
    t_rate, t_psnr = monotone([p["bpp"] for p in test], [p["psnr"] for p in test])
    if len(a_psnr) < 2 or len(t_psnr) < 2:
        return None, "fewer than 2 points on a monotone front"
    low, high = max(a_psnr.min(), t_psnr.min()), min(a_psnr.max(), t_psnr.max())
    if not high > low:
        return None, "no PSNR overlap"
    anchor_mean, anchor_fit = _mean_log_rate(a_rate, a_psnr, low, high)
    test_mean, test_fit = _mean_log_rate(t_rate, t_psnr, low, high)
    method = anchor_fit if anchor_fit == test_fit else f"{anchor_fit} / {test_fit}"
    return float((np.exp(test_mean - anchor_mean) - 1) * 100), f"{method} over {low:.2f}-{high:.2f} dB"


def psnr_at_matched_bpp(anchor: list[dict[str, float]], test: list[dict[str, float]]) -> list[float | None]:
    """For each test point, its PSNR minus the anchor's PSNR interpolated (in log bpp) at the same bpp."""
    points = sorted(anchor, key=lambda p: p["bpp"])
    log_bpp = np.log([p["bpp"] for p in points])
    quality = [p["psnr"] for p in points]
    out: list[float | None] = []
    for p in test:
        inside = log_bpp[0] <= np.log(p["bpp"]) <= log_bpp[-1]
        out.append(round(p["psnr"] - float(np.interp(np.log(p["bpp"]), log_bpp, quality)), 2) if inside else None)
    return out


def pillow_points(image: np.ndarray, fmt: str, qualities: list[int]) -> list[dict[str, float]]:
    from PIL import Image

    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    points = []
    for quality in qualities:
        buffer = io.BytesIO()
        pil.save(buffer, format=fmt, quality=quality)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert(pil.mode))
        decoded = decoded[..., None] if decoded.ndim == 2 else decoded
        points.append({"quality": quality, "bytes": buffer.tell(),
                       "bpp": 8 * buffer.tell() / (image.shape[0] * image.shape[1]), "psnr": psnr(image, decoded)})
    return points


def aekit_points(image: np.ndarray, folder: Path) -> list[dict[str, float]]:
    from PIL import Image

    from aekit.compression.api import compress, decompress
    from aekit.compression.pretrained import available_qualities

    color = "grayscale" if image.shape[-1] == 1 else "rgb"
    source = folder / f"{color}.png"
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(source)
    points = []
    for quality in available_qualities(color):
        encoded = compress(source, folder / "x.aez", quality=quality)
        decoded = decompress(folder / "x.aez", folder / "x.png")
        pixels = np.asarray(Image.open(folder / "x.png"))
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        points.append({"quality": quality, "bytes": encoded.file_bytes, "bpp": encoded.bits_per_unit,
                       "psnr": psnr(image, pixels), "code_bytes": encoded.code_bytes,
                       "predicted_code_bytes": round(encoded.predicted_code_bytes, 1),
                       "header_bytes": encoded.header_bytes, "encode_mb_s": round(encoded.mb_per_s, 3),
                       "decode_mb_s": round(decoded.mb_per_s, 3)})
    return points


def fashion_mosaic(n: int) -> np.ndarray:
    folder = DATA / "fashion-mnist"
    path = folder / MNIST_FILES["test"][0]
    if not path.is_file():
        raise BenchmarkSkipped(f"Fashion-MNIST is absent: {path} not found.")
    images = read_idx_images(folder, "test")[:n]
    side = int(np.sqrt(len(images)))
    images = images[:side * side].reshape(side, side, 28, 28)
    return images.transpose(0, 2, 1, 3).reshape(side * 28, side * 28)[..., None]


def benchmark_images(quick: bool) -> dict[str, np.ndarray]:
    """The benchmark's images (H, W, C) uint8 by name: scikit-learn's two photos and the Fashion-MNIST test
    mosaic (400 images with ``quick``); raises BenchmarkSkipped when Fashion-MNIST is absent."""
    from sklearn.datasets import load_sample_image

    return {"china.jpg": load_sample_image("china.jpg"), "flower.jpg": load_sample_image("flower.jpg"),
            "fashion-mnist test": fashion_mosaic(400 if quick else 10_000)}


def plot(curves: dict[str, dict[str, list[dict[str, float]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4), squeeze=False)
    styles = {"aekit": ("o-", "tab:red"), "jpeg": ("s--", "tab:blue"), "webp": ("^--", "tab:green")}
    for ax, (name, methods) in zip(axes[0], curves.items()):
        for method, points in methods.items():
            marker, colour = styles[method]
            points = sorted(points, key=lambda p: p["bpp"])
            ax.plot([p["bpp"] for p in points], [p["psnr"] for p in points], marker, color=colour, label=method)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # the minor labels overlap
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    from aekit.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="400 Fashion-MNIST images, fewer JPEG/WebP qualities")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    info, started, clock = machine_info(), now(), time.perf_counter()
    qualities = QUALITIES[::2] if args.quick else QUALITIES
    try:
        images = benchmark_images(args.quick)
    except BenchmarkSkipped as exc:
        print(f"skipped: {exc}")
        return 0
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "images": {}}
    curves: dict[str, dict[str, list[dict[str, float]]]] = {}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, image in images.items():
            methods = {"aekit": aekit_points(image, Path(folder)), "jpeg": pillow_points(image, "JPEG", qualities),
                       "webp": pillow_points(image, "WEBP", qualities)}
            curves[name] = methods
            entry: dict[str, Any] = {"shape": list(image.shape), "points": methods}
            ours = methods["aekit"]
            for anchor in ("jpeg", "webp"):
                value, method = bd_rate(methods[anchor], ours)
                entry[f"bd_rate_vs_{anchor}_percent"] = None if value is None else round(value, 1)
                entry[f"bd_rate_vs_{anchor}_method"] = method
                entry[f"psnr_gain_at_matched_bpp_vs_{anchor}"] = psnr_at_matched_bpp(methods[anchor], ours)
                entry[f"meets_target_vs_{anchor}"] = value is not None and value <= TARGETS[anchor]
            results["images"][name] = entry
            def fmt(anchor: str, entry: dict[str, Any] = entry) -> str:
                value = entry[f"bd_rate_vs_{anchor}_percent"]
                method = entry[f"bd_rate_vs_{anchor}_method"]
                return f"n/a ({method})" if value is None else f"{value:+.1f}% ({method})"

            rows.append([name, ", ".join(f"{p['bpp']:.3f} / {p['psnr']:.2f}" for p in ours),
                         fmt("jpeg"), fmt("webp"),
                         ", ".join("n/a" if g is None else f"{g:+.2f}" for g in entry["psnr_gain_at_matched_bpp_vs_jpeg"])])
    china = results["images"]["china.jpg"]["points"]["aekit"]
    results["throughput_china_rgb"] = [{"quality": p["quality"], "encode_mb_s": p["encode_mb_s"],
                                        "decode_mb_s": p["decode_mb_s"]} for p in china]
    plot_path = RESULTS / "compression_images.png"
    plot(curves, plot_path)
    results["plot"] = str(plot_path.relative_to(RESULTS.parents[1]))
    summary = "\n\n".join([
        ("Shipped aekit image codecs (one point per quality level, whole .aez file) against JPEG and WebP from "
        "Pillow (whole file). BD-rate: negative means aekit needs fewer bits for the same PSNR. Targets: <= -30% "
        "vs JPEG, <= -10% vs WebP."),
        markdown_table(["image", "aekit bpp / PSNR (dB)", "BD-rate vs JPEG", "BD-rate vs WebP",
                        "PSNR gain vs JPEG at matched bpp (dB)"], rows),
        "Throughput, shipped RGB codec on china.jpg (raw MB/s, file I/O included): "
        + "; ".join(f"q{t['quality']}: encode {t['encode_mb_s']:.2f}, decode {t['decode_mb_s']:.2f}"
                    for t in results["throughput_china_rgb"]),
        "Targets met: " + ", ".join(f"{n} vs {a}: {'yes' if e[f'meets_target_vs_{a}'] else 'no'}"
                                    for n, e in results["images"].items() for a in ("jpeg", "webp")),
        "![rate-distortion curves](compression_images.png)",
    ])
    write_results("compression_images", results, summary, info=info, started=started,
                  seconds=time.perf_counter() - clock)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
