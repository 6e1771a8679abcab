"""One self-contained HTML report of a trained autoencoder: loss curves, reconstructions, latent map, metrics.

Every figure is an inline base64 PNG and the CSS is inline, so the file can be mailed, attached to a ticket or
opened offline; it loads nothing from anywhere. Figures are drawn on :class:`matplotlib.figure.Figure`
objects directly (the Agg renderer, no pyplot): nothing opens a window, the global backend of a notebook is
left alone, and no figure lingers in pyplot's registry.

    >>> write_report("runs/demo/report.html", title="digits", history=est.history_, originals=X_test[:16],
    ...              reconstructions=est.reconstruct(X_test[:16]), codes=est.transform(X_test), labels=y_test,
    ...              class_names=data.class_names, table=compare_with_pca(est, X_train, X_test, image=True))
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aekit._version import __version__
from aekit.errors import AekitError
from aekit.evaluation import _columns, _format_value, compare_tokens
from aekit.io import atomic_path

__all__ = ["write_report", "write_model_report", "write_html"]

logger = logging.getLogger(__name__)

MAX_IMAGES = 16  # two bands of 8: big enough to judge, small enough to read at a glance
MAX_LINE_ROWS = 4  # non-image rows drawn as original-vs-reconstruction line plots
_COLUMNS_PER_BAND = 8

_METRIC_NOTES = {
    "mse": "mse and mae: mean squared and absolute error in the data's original units (lower is better).",
    "psnr": "psnr: peak signal-to-noise ratio in dB, per sample then averaged (higher is better).",
    "token_accuracy": "token_accuracy: the fraction of characters (or tokens, end markers included) that greedy "
                      "decoding from the code rebuilt; exact_rows: the fraction of rows rebuilt whole.",
}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0;
       background: #fafafa; }
main { max-width: 980px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.subtitle { color: #666; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num, th.num { text-align: right; }
table.notes th { background: none; font-weight: 600; }
figure { margin: 8px 0 16px; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption, .caption { color: #555; font-size: 0.92em; margin-top: 4px; }
.empty { color: #888; font-style: italic; }
table.lines td { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; white-space: pre-wrap;
                 overflow-wrap: anywhere; width: 50%; }
table.lines mark { background: #fbd5d5; color: #a00; }
footer { color: #888; font-size: 0.85em; margin-top: 40px; }
"""


# ------------------------------------------------------------------------------------------ helpers
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _png(fig: Any) -> str:
    """The figure as a base64 PNG string; the figure is cleared afterwards to release its memory."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.05, metadata={"Software": None})
    fig.clear()
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure_html(png: str, alt: str, caption: str) -> str:
    return (f'<figure><img src="data:image/png;base64,{png}" alt="{_esc(alt)}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # Figure, not pyplot: Agg rendering, no GUI, no global state

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


# ----------------------------------------------------------------------------------------- sections
def _loss_section(history: list[dict[str, Any]]) -> str:
    keys = [k for k in ("train_loss", "val_loss") if any(k in r for r in history)]
    if not history or not keys:
        return '<p class="empty">No training history.</p>'
    fig = _new_figure(7, 3.6)
    ax = fig.add_subplot()
    values = []
    for key, style in zip(keys, ("-", "--")):
        points = [(r.get("epoch", i + 1), r[key]) for i, r in enumerate(history)
                  if isinstance(r.get(key), numbers.Real) and math.isfinite(r[key])]
        if points:
            epochs, losses = zip(*points)
            ax.plot(epochs, losses, style, marker="." if len(points) < 40 else None, label=key)
            values += losses
    monitored = "val_loss" if "val_loss" in keys else "train_loss"
    caption = f"Loss per epoch ({len(history)} epochs)."
    scored = [(r[monitored], r.get("epoch", i + 1)) for i, r in enumerate(history)
              if isinstance(r.get(monitored), numbers.Real) and math.isfinite(r[monitored])]
    if scored:
        best, best_epoch = min(scored)
        ax.axvline(best_epoch, color="0.6", linestyle=":", linewidth=1)
        caption += f" Best {monitored} {_format_value(best)} at epoch {best_epoch} (dotted line)."
    if values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")
        caption += " Log scale."
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (scaled units)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _figure_html(_png(fig), "loss curves", caption)


def _as_display_images(X: np.ndarray) -> tuple[np.ndarray, str]:
    """(n, H, W) grayscale or (n, H, W, 3) RGB for imshow, and a note on what was done."""
    if X.ndim == 3:
        return X, ""
    channels = X.shape[1]  # (n, C, H, W)
    if channels == 1:
        return X[:, 0], ""
    if channels == 3:
        return np.moveaxis(X, 1, -1), ""  # (n, H, W, 3)
    return X[:, 0], f" Showing channel 0 of {channels}."


def _mosaic(series: list[tuple[np.ndarray, str]], low: float, high: float) -> str:
    """One tiled image: bands of up to 8 columns; each band holds one row per series, in order.

    ``series`` are (images (n, H, W) or (n, H, W, 3), row label) with the same n. A single ``imshow`` of a tiled
    canvas renders 10x faster than one axes per image and keeps every tile at the same pixel scale. RGB tiles
    are mapped from [low, high] to [0, 1] and clipped; grayscale tiles share the colour range [low, high].
    """
    n = len(series[0][0])
    rgb = series[0][0].ndim == 4
    if rgb:
        series = [(np.clip((images - low) / (high - low), 0.0, 1.0), label) for images, label in series]
    columns = min(n, _COLUMNS_PER_BAND)
    bands = math.ceil(n / columns)
    rows_per_band = len(series)
    height, width = series[0][0].shape[1:3]
    gap = max(1, round(max(height, width) / 8))  # between tiles; two gaps between bands
    band_h = rows_per_band * (height + gap) + gap
    canvas_h = bands * band_h - 2 * gap
    canvas_w = columns * (width + gap) - gap
    # NaN (grayscale) and white (RGB) gaps both render as white
    canvas = np.full((canvas_h, canvas_w, 3) if rgb else (canvas_h, canvas_w), 1.0 if rgb else np.nan)
    centres, names = [], []
    for band in range(bands):
        for offset, (images, label) in enumerate(series):
            top = band * band_h + offset * (height + gap)
            centres.append(top + (height - 1) / 2)
            names.append(label)
            for column in range(columns):
                index = band * columns + column
                if index < n:
                    left = column * (width + gap)
                    canvas[top:top + height, left:left + width] = images[index]
    cell = 0.95 if max(height, width) <= 32 else 1.4  # inches per tile
    fig = _new_figure(columns * cell + 1.1, canvas_h / canvas_w * columns * cell + 0.2)
    ax = fig.add_subplot()
    if rgb:
        ax.imshow(canvas, interpolation="nearest")
    else:
        from matplotlib import colormaps

        cmap = colormaps["gray"].with_extremes(bad="white")
        ax.imshow(canvas, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks(centres, names, fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return _png(fig)


def _value_range(images: np.ndarray) -> tuple[float, float]:
    low, high = float(images.min()), float(images.max())
    return low, (high if high > low else low + 1.0)


def _image_grid(originals: np.ndarray, reconstructions: np.ndarray) -> tuple[str, str]:
    """Bands of up to 8 originals, each band above the matching reconstructions."""
    n = min(len(originals), MAX_IMAGES)
    shown, note = _as_display_images(originals[:n])  # (n, H, W) or (n, H, W, 3)
    rebuilt, _ = _as_display_images(reconstructions[:n])
    low, high = _value_range(shown)  # one shared range, from the originals, so tones stay comparable
    png = _mosaic([(shown, "original"), (rebuilt, "reconstruction")], low, high)
    caption = (f"First {n} samples: each original sits above its reconstruction. Both use the originals' "
               f"value range ({low:g} to {high:g}); values outside it are clipped."
               f"{note}")
    return png, caption


def _line_plots(originals: np.ndarray, reconstructions: np.ndarray) -> tuple[str, str]:
    n = min(len(originals), MAX_LINE_ROWS)
    rows = originals[:n].reshape(n, -1)  # (n, n_features)
    rebuilt = reconstructions[:n].reshape(n, -1)  # (n, n_features)
    fig = _new_figure(7, 1.7 * n + 0.4)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    marker = "." if rows.shape[1] <= 64 else None
    for i, ax in enumerate(axes):
        ax.plot(rows[i], color="#1f77b4", marker=marker, label="original")
        ax.plot(rebuilt[i], color="#d62728", linestyle="--", marker=marker, label="reconstruction")
        ax.set_ylabel(f"sample {i}", fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("feature" if originals.ndim == 2 else "position")
    caption = f"First {n} samples: original (solid) and reconstruction (dashed) per feature."
    return _png(fig), caption


def _check_samples(originals: Any, reconstructions: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Both as float64 arrays of one shape (n_samples, ...), or None when neither is given."""
    if originals is None and reconstructions is None:
        return None
    if originals is None or reconstructions is None:
        raise AekitError("write_report needs originals and reconstructions together. Got only "
                         f"{'originals' if reconstructions is None else 'reconstructions'}. Pass both or neither.")
    originals = np.asarray(originals, dtype=np.float64)
    reconstructions = np.asarray(reconstructions, dtype=np.float64)
    if originals.shape != reconstructions.shape or originals.ndim < 2 or len(originals) == 0:
        raise AekitError(f"originals and reconstructions must have the same shape (n_samples, ...), n_samples "
                         f">= 1. Got {originals.shape} and {reconstructions.shape} instead. Pass "
                         "estimator.reconstruct(originals) as reconstructions.")
    if not (np.isfinite(originals).all() and np.isfinite(reconstructions).all()):
        raise AekitError("originals or reconstructions contain NaN or Inf. Pass finite arrays.")
    return originals, reconstructions


def _check_codes(codes: Any, labels: Any) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Codes as float64 (n, latent_dim) and labels as (n,), or None when no codes are given."""
    if codes is None:
        return None
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) == 0 or codes.shape[1] == 0:
        raise AekitError(f"codes must have shape (n_samples, latent_dim) with n_samples >= 1. Got {codes.shape} "
                         "instead. Pass estimator.transform(X).")
    if not np.isfinite(codes).all():
        raise AekitError("codes contain NaN or Inf. Pass finite codes, e.g. estimator.transform(X).")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(codes):
            raise AekitError(f"labels must have one entry per code. Got {len(labels)} labels for {len(codes)} "
                             "codes. Pass the labels of the samples that were encoded.")
    return codes, labels


def _restoration_section(clean: np.ndarray, degraded: np.ndarray, restored: np.ndarray) -> str:
    """Degraded samples above their restorations and the clean originals as bands of images; other samples as
    line plots of each clean sample against the restoration of its degraded version."""
    if _is_image_batch(clean):
        n = min(len(clean), MAX_IMAGES)
        shown, note = _as_display_images(clean[:n])
        low, high = _value_range(shown)
        png = _mosaic([(_as_display_images(degraded[:n])[0], "degraded"),
                       (_as_display_images(restored[:n])[0], "restored"), (shown, "clean")], low, high)
        caption = (f"First {n} samples, degraded as in training (seeded), restored by the model, and the clean "
                   f"original, on the originals' value range ({low:g} to {high:g}).{note}")
        return _figure_html(png, "degraded, restored and clean samples", caption)
    png, _ = _line_plots(clean, restored)
    n = min(len(clean), MAX_LINE_ROWS)
    return _figure_html(png, "clean samples and the restorations of their degraded versions",
                        f"First {n} samples: the clean original (solid) and the model's restoration (dashed) of it "
                        "degraded as in training (seeded).")


def _reconstruction_section(samples: tuple[np.ndarray, np.ndarray] | None) -> str:
    if samples is None:
        return '<p class="empty">No reconstructions.</p>'
    originals, reconstructions = samples
    is_signal = originals.ndim == 3 and originals.shape[1] == 1  # (n, 1, length): one-channel signals
    if originals.ndim in (3, 4) and not is_signal:  # (n, H, W) or (n, C, H, W)
        png, caption = _image_grid(originals, reconstructions)
    else:
        png, caption = _line_plots(originals, reconstructions)
    return _figure_html(png, "originals and reconstructions", caption)


def _check_texts(texts: Any) -> list[tuple[str, str]] | None:
    """(original, reconstruction) string pairs, or None."""
    if texts is None:
        return None
    pairs = [tuple(pair) for pair in texts]
    if not pairs or any(len(pair) != 2 or not all(isinstance(t, str) for t in pair) for pair in pairs):
        raise AekitError("texts must be a non-empty list of (original, reconstruction) string pairs. Pass e.g. "
                         "list(zip(tokenizer.decode(X), tokenizer.decode(estimator.reconstruct(X)))).")
    return pairs  # type: ignore[return-value]


def _marked(original: str, reconstruction: str) -> str:
    """The reconstruction, escaped, with every character that differs from the original's (or is extra) marked."""
    out = []
    for i, char in enumerate(reconstruction):
        text = _esc(char)
        out.append(text if i < len(original) and original[i] == char else f"<mark>{text}</mark>")
    missing = len(original) - len(reconstruction)
    return "".join(out) + (f"<mark>{'·' * missing}</mark>" if missing > 0 else "")


def _text_section(pairs: list[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><td>{_esc(original)}</td><td>{_marked(original, rebuilt)}</td></tr>"
                   for original, rebuilt in pairs)
    caption = (f"First {len(pairs)} rows and their greedy decoding from the code; characters that differ are "
               "marked (· stands for characters the decoding left out).")
    return (f'<table class="lines"><thead><tr><th>original</th><th>reconstruction</th></tr></thead>'
            f'<tbody>{rows}</tbody></table><p class="caption">{_esc(caption)}</p>')


def _is_image_batch(X: np.ndarray) -> bool:
    """(n, H, W) or (n, C, H, W) images, not (n, 1, length) signals or (n, n_features) rows."""
    return X.ndim in (3, 4) and not (X.ndim == 3 and X.shape[1] == 1)


def _check_generated(generated: Any, interpolation: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    arrays = []
    for name, value in (("generated", generated), ("interpolation", interpolation)):
        if value is not None:
            value = np.asarray(value, dtype=np.float64)
            if value.ndim < 2 or len(value) == 0 or not np.isfinite(value).all():
                raise AekitError(f"{name} must be a finite array of shape (n_samples, ...) with n_samples >= 1. "
                                 f"Got shape {value.shape} instead. Pass estimator.sample(n) or "
                                 "estimator.interpolate(a, b).")
        arrays.append(value)
    return arrays[0], arrays[1]


def _generated_section(generated: np.ndarray | None, interpolation: np.ndarray | None) -> str:
    parts = []
    for images, title, caption in (
        (generated, "samples drawn from the prior",
         "Samples: codes drawn from the prior, decoded (the likelihood's mean, not noisy draws)."),
        (interpolation, "interpolation", "Interpolation: the codes of two test samples (the two ends) and the "
                                          "codes evenly spaced between them, decoded."),
    ):
        if images is None:
            continue
        if _is_image_batch(images):
            shown, note = _as_display_images(images[:MAX_IMAGES])
            low, high = _value_range(shown)
            parts.append(_figure_html(_mosaic([(shown, title.split()[0])], low, high), title, caption + note))
        else:
            rows = images[:MAX_LINE_ROWS].reshape(min(len(images), MAX_LINE_ROWS), -1)  # (n, n_features)
            fig = _new_figure(7, 3.2)
            ax = fig.add_subplot()
            for i, row in enumerate(rows):
                ax.plot(row, marker="." if row.size <= 64 else None, label=f"{i}")
            ax.set_xlabel("feature")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8, title=title.split()[0], loc="upper right")
            parts.append(_figure_html(_png(fig), title, f"{caption} The first {len(rows)} as lines."))
    return "\n".join(parts)


def _check_stats(stats: Any) -> dict[str, np.ndarray]:
    if stats is None:
        return {}
    if not isinstance(stats, dict):
        raise AekitError(f"stats must be a dict of name -> number or 1-D array. Got {type(stats).__name__} instead. "
                         "Pass estimator.bottleneck_stats(X).")
    checked = {}
    for name, value in stats.items():
        value = np.asarray(value, dtype=np.float64)
        if value.ndim > 1 or not np.isfinite(value).all():
            raise AekitError(f"stats[{name!r}] must be a finite number or 1-D array. Got shape {value.shape} instead. "
                             "Pass estimator.bottleneck_stats(X).")
        checked[str(name)] = value
    return checked


# what a per-unit statistic shows, for the chart's caption, by its name (a regularizer's without its
# "<regularizer>." prefix); other names are shown as they are
_STAT_NOTES = {
    "kl_by_unit": "KL divergence of each latent unit's posterior from the prior (nats, mean over the samples): "
                  "units near 0 carry no information (posterior collapse).",
    "code_frequency": "How often each codebook entry is chosen, sorted: a flat profile is an evenly used "
                      "codebook, a few tall bars are a collapsed one.",
    "mean_activation_by_unit": "Mean activation of each latent unit over the samples; the KL sparsity penalty "
                               "pulls every unit towards its target rho (dashed line).",
}
# a per-unit statistic drawn against a target: the scalar statistic of this name from the same part
_STAT_TARGETS = {"mean_activation_by_unit": "rho"}
# Below this share of exactly-zero values a code is dense (sigmoid, tanh and linear codes are never exactly 0; a
# few values that underflowed do not make one sparse), and an L0 would only count every unit.
_SPARSE_ZERO_SHARE = 0.01


def _code_usage_figure(codes: np.ndarray, *, targets: bool = False) -> str:
    """Code values (left) and per-unit activity (right): how often each unit is non-zero for codes with exact
    zeros (ReLU, top-k, JumpReLU), each unit's mean absolute value for dense codes, whose L0 means nothing.
    ``targets``: the statistics below hold a per-unit figure drawn against a target (a sparsity penalty's)."""
    n, dims = codes.shape
    zero_share = float((codes == 0).mean())
    sparse = zero_share >= _SPARSE_ZERO_SHARE
    fig = _new_figure(9, 3.2)
    left, right = fig.subplots(1, 2)
    left.hist(codes.ravel(), bins=60, color="#1f77b4")
    left.set_yscale("log")
    left.set_xlabel("code value")
    left.set_ylabel("count (log)")
    left.grid(True, alpha=0.3)
    right.set_xlabel("latent unit (sorted by activity)")
    right.grid(True, alpha=0.3)
    if sparse:
        active = codes != 0  # (n, latent_dim): exact zeros, as the parts count their L0
        rate = active.mean(0)  # (latent_dim,) fraction of samples in which each unit is non-zero
        l0 = float(active.sum(1).mean())
        right.bar(np.arange(dims), np.sort(rate)[::-1], width=1.0, color="#2ca02c")
        right.set_ylabel("fraction of samples active")
        right.set_ylim(0, 1.02)
        dead = int((rate == 0).sum())
        caption = (f"Code values of {n} samples (left) and the fraction of samples in which each of the {dims} "
                   f"units is non-zero (right). Mean L0 {l0:.1f} of {dims} units ({100 * l0 / dims:.1f}%); "
                   f"{dead} unit(s) never active on these samples. Sparse models show a spike at 0 and low bars.")
    else:
        magnitude = np.abs(codes).mean(0)  # (latent_dim,)
        right.bar(np.arange(dims), np.sort(magnitude)[::-1], width=1.0, color="#2ca02c")
        right.set_ylabel("mean |code value|")
        caption = (f"Code values of {n} samples (left) and each of the {dims} units' mean absolute value, sorted "
                   f"(right). Only {100 * zero_share:.1f}% of the code values are exactly 0, so an L0 would count "
                   f"nearly all units whatever the code's sparsity. Mean |code value| {float(magnitude.mean()):.3g} "
                   "over the units." + (" For a sparsity penalty on sigmoid codes, small mean activations are the "
                                       "sparsity: the statistics below compare them with its target." if targets
                                       else ""))
    return _figure_html(_png(fig), "code sparsity" if sparse else "code magnitude", caption)


def _code_section(coded: tuple[np.ndarray, np.ndarray | None] | None, stats: dict[str, np.ndarray]) -> str:
    """How the code is used: value histogram and per-unit activity, the parts' statistics and charts."""
    parts = []
    if coded is not None:
        targets = any(name.rpartition(".")[2] in _STAT_TARGETS for name in stats)
        parts.append(_code_usage_figure(coded[0], targets=targets))  # codes (n, latent_dim)
    scalars = {k: float(v) for k, v in stats.items() if v.ndim == 0}
    if scalars:
        rows = "".join(f"<tr><th>{_esc(k)}</th><td class=\"num\">{_esc(_format_value(v))}</td></tr>"
                       for k, v in scalars.items())
        parts.append('<table class="notes"><tbody>' + rows + "</tbody></table>"
                     '<p class="caption">The statistics of the bottleneck, and of each regularizer as '
                     '<i>regularizer.figure</i>, over these samples (eval mode).</p>')
    for name, vector in ((k, v) for k, v in stats.items() if v.ndim == 1):
        prefix, _, short = name.rpartition(".")  # a regularizer's figures are "<regularizer>.<figure>"
        sort = short == "code_frequency"  # codebook entries have no order; latent units keep their index
        values = np.sort(vector)[::-1] if sort else vector
        fig = _new_figure(7, 2.8)
        ax = fig.add_subplot()
        ax.bar(np.arange(len(values)), values, width=1.0 if len(values) > 64 else 0.8, color="#9467bd")
        ax.set_xlabel("codebook entry (sorted)" if sort else "latent unit")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        extra = ""
        target_name = _STAT_TARGETS.get(short)
        target = None if target_name is None else scalars.get(f"{prefix}.{target_name}" if prefix else target_name)
        if target is not None:
            ax.axhline(target, color="0.3", linestyle="--", linewidth=1)
            extra = f" Target {target_name} = {_format_value(target)}."
        if sort:
            used = int((vector > 0).sum())
            entropy = -float(np.sum(vector[vector > 0] * np.log(vector[vector > 0])))
            extra = f" {used} of {len(vector)} entries used; perplexity {math.exp(entropy):.1f}."
        parts.append(_figure_html(_png(fig), name, _STAT_NOTES.get(short, f"{name} per unit.") + extra))
    return "\n".join(parts) if parts else '<p class="empty">No code statistics.</p>'


def _label_names(labels: np.ndarray, class_names: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Class index per sample (n,) and the name of each index."""
    values, index = np.unique(labels, return_inverse=True)
    names = [str(v) for v in values]
    if class_names is not None and np.issubdtype(values.dtype, np.integer) and len(values) and \
            values.min() >= 0 and values.max() < len(class_names):
        names = [str(class_names[int(v)]) for v in values]
    return index.reshape(-1), names


def _map_points(codes: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], tuple[str, str], str]:
    """Codes (n, latent_dim) as points of a 2-D map (n, 2), the function that maps other codes (cluster centres)
    to the same plane, the axes' names and a sentence on how: PCA for more than 2 dimensions, the codes as they
    are for 2, and random vertical jitter (0 for other codes) for 1."""
    n, dims = codes.shape
    if dims > 2:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=0).fit(codes)
        explained = 100.0 * float(pca.explained_variance_ratio_.sum())
        how = (f"The {dims}-dimensional codes are projected to 2-D with PCA (the two components explain "
               f"{explained:.0f}% of the code variance).")
        return pca.transform(codes), pca.transform, ("PC 1", "PC 2"), how
    if dims == 2:
        return codes, np.asarray, ("z[0]", "z[1]"), "The codes are 2-D and drawn as they are."
    jitter = np.random.default_rng(0).uniform(-0.5, 0.5, size=n)  # (n,)

    def flat(other: np.ndarray) -> np.ndarray:
        return np.column_stack([other[:, 0], np.zeros(len(other))])  # (m, 2)

    return (np.column_stack([codes[:, 0], jitter]), flat, ("z[0]", "jitter"),  # (n, 2)
            "The codes are 1-D; the vertical position is random jitter.")


def _latent_section(coded: tuple[np.ndarray, np.ndarray | None] | None, class_names: list[str] | None) -> str:
    if coded is None:
        return '<p class="empty">No latent codes.</p>'
    codes, labels = coded
    n = len(codes)
    if n < 2:
        return f'<p class="empty">A latent map needs at least 2 samples; this model saw {n}.</p>'
    points, _, axis_names, how = _map_points(codes)
    fig = _new_figure(7, 5.2)
    ax = fig.add_subplot()
    size = 12 if n <= 2000 else 4
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, alpha=0.7, linewidths=0)
        coloured = "No labels were given."
    else:
        index, names = _label_names(labels, class_names)
        if len(names) <= 20:
            cmap = "tab10" if len(names) <= 10 else "tab20"
            colours = [_cmap_colour(cmap, i) for i in range(len(names))]
            for i, name in enumerate(names):
                mask = index == i
                ax.scatter(points[mask, 0], points[mask, 1], s=size, alpha=0.75, linewidths=0, color=colours[i],
                           label=name)
            ax.legend(title="class", loc="center left", bbox_to_anchor=(1.01, 0.5), markerscale=2, fontsize=8,
                      frameon=False)
        else:
            drawn = ax.scatter(points[:, 0], points[:, 1], s=size, c=index, cmap="viridis", alpha=0.75,
                               linewidths=0)
            fig.colorbar(drawn, ax=ax, label="class index")
        coloured = f"Coloured by class ({len(names)} classes)."
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.grid(True, alpha=0.3)
    caption = f"Latent space of {n} samples. {how} {coloured}"
    return _figure_html(_png(fig), "latent space map", caption)


def _cmap_colour(name: str, i: int) -> tuple[float, float, float, float]:
    from matplotlib import colormaps

    return colormaps[name](i)


def _table_section(table: list[dict[str, Any]] | None) -> str:
    if not table:
        return '<p class="empty">No metrics.</p>'
    columns = _columns(table)
    numeric = {c: all(isinstance(r.get(c), numbers.Real) and not isinstance(r.get(c), bool) for r in table
                      if r.get(c) is not None) for c in columns}
    head = "".join(f'<th class="num">{_esc(c)}</th>' if numeric[c] else f"<th>{_esc(c)}</th>" for c in columns)
    body = []
    for row in table:
        cells = []
        for c in columns:
            text = _esc(_format_value(row.get(c)))
            cells.append(f'<td class="num">{text}</td>' if numeric[c] else f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    html_table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    known = [text for key, text in _METRIC_NOTES.items() if any(key in c for c in columns)]
    caption = f'<p class="caption">{_esc(" ".join(known))}</p>' if known else ""
    return html_table + caption


def _notes_section(notes: dict[str, str] | None) -> str:
    if not notes:
        return '<p class="empty">No run notes.</p>'
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in notes.items())
    return f'<table class="notes"><tbody>{rows}</tbody></table>'


# ------------------------------------------------------------------------------------------- report
def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    history: list[dict[str, Any]],
    originals: np.ndarray | None,
    reconstructions: np.ndarray | None,
    codes: np.ndarray | None,
    labels: np.ndarray | None,
    class_names: list[str] | None,
    table: list[dict[str, Any]] | None,
    notes: dict[str, str] | None = None,
    stats: dict[str, Any] | None = None,
    generated: np.ndarray | None = None,
    interpolation: np.ndarray | None = None,
    texts: list[tuple[str, str]] | None = None,
    restoration: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write one self-contained HTML report (inline CSS, base64 PNG figures, no links) atomically.

    Parameters
    ----------
    path : str or path-like
        The ``.html`` file to write; its folder is created.
    title : str
        Heading and ``<title>``; escaped like every other text.
    history : list of dict
        One record per epoch with ``train_loss`` and, if validated, ``val_loss`` (``AutoEncoder.history_``).
    originals : ndarray of shape (n, C, H, W), (n, H, W), (n, 1, length) or (n, n_features), or None
        Samples to show; the first 16 images (C=3 as RGB, other C>1 as channel 0), or the first 4 other
        samples as line plots.
    reconstructions : ndarray shaped like ``originals``, or None (only with ``originals=None``)
    codes : ndarray of shape (n_codes, latent_dim) or None
        Drawn as a 2-D map; more than 2 dimensions are projected with PCA, which the caption says.
    labels : ndarray of shape (n_codes,) or None
        Colour the map by class.
    class_names : list of str or None
        Name of class index ``i``, used for the legend when labels are class indices.
    table : list of dict or None
        Metrics rows (e.g. from :func:`aekit.evaluation.compare_with_pca`) shown as an HTML table.
    notes : dict of str to str or None
        The "Run" section: e.g. data, model, device, time.
    stats : dict of str to number or 1-D array, or None
        The bottleneck's and the regularizers' statistics (:meth:`aekit.AutoEncoder.bottleneck_stats`): numbers
        go in a table, per-unit arrays (a VAE's KL per unit, a VQ codebook's usage, a KL-sparse code's mean
        activations against rho) become bar charts.
    generated, interpolation : ndarray of shape (n, ...) or None
        Decoded prior samples (:meth:`aekit.AutoEncoder.sample`) and an interpolation path
        (:meth:`aekit.AutoEncoder.interpolate`), shown in a "Generation" section when given.
    texts : list of (str, str) or None
        Text rows and their reconstructions, shown as lines with the wrong characters marked; only with
        ``originals=None`` (text models' samples are token ids, not values to plot).
    restoration : (degraded, restored) or None
        For models trained to restore: ``originals`` as the training corruption degrades them
        (:meth:`aekit.AutoEncoder.degrade`) and the model's restorations of those, shaped like ``originals``;
        shown in a "Restoration" section, each degraded sample above its restoration and the clean original.

    Returns
    -------
    Path of the written file.
    """
    samples = _check_samples(originals, reconstructions)  # every check before the first (slow) figure
    pairs = _check_texts(texts)
    if samples is not None and pairs is not None:
        raise AekitError("write_report shows either originals and reconstructions or texts. Got both. Pass texts "
                         "for text models and originals/reconstructions for the others.")
    restored = None
    if restoration is not None:
        if samples is None:
            raise AekitError("write_report shows restorations beside the clean originals. Pass originals and "
                             "reconstructions with restoration.")
        restored = [_check_samples(samples[0], part) for part in restoration]  # each shaped like the originals
    coded = _check_codes(codes, labels)
    checked_stats = _check_stats(stats)
    generated, interpolation = _check_generated(generated, interpolation)
    sections = [
        ("Run", _notes_section(notes)),
        ("Metrics", _table_section(table)),
        ("Training", _loss_section(list(history or []))),
        ("Reconstructions", _text_section(pairs) if pairs else _reconstruction_section(samples)),
        *([("Restoration", _restoration_section(samples[0], restored[0][1], restored[1][1]))] if restored else []),
        ("Latent space", _latent_section(coded, class_names)),
        ("Code", _code_section(coded, checked_stats)),
    ]
    if generated is not None or interpolation is not None:  # only models that generate get this section
        sections.append(("Generation", _generated_section(generated, interpolation)))
    body = "\n".join(f"<section><h2>{_esc(name)}</h2>\n{content}\n</section>" for name, content in sections)
    return write_html(path, title=title, subtitle="Autoencoder report", body=body, what="report")


def write_html(path: str | os.PathLike[str], *, title: str, subtitle: str, body: str, css: str = _CSS,
               what: str = "report") -> Path:
    """One self-contained HTML document (inline CSS, heading, the aekit footer), written atomically.

    ``body`` is trusted HTML (its callers escape their text); ``title`` and ``subtitle`` are escaped here.
    """
    document = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_esc(title)}</h1>\n<p class=\"subtitle\">{_esc(subtitle)}</p>\n"
        f"{body}\n<footer>Written by aekit {_esc(__version__)}.</footer>\n</main>\n</body>\n</html>\n"
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    logger.info("Wrote %s %s (%d KiB)", what, path, len(document) // 1024)
    return path


def write_model_report(
    path: str | os.PathLike[str],
    estimator: Any,
    X: Any,
    *,
    title: str,
    labels: np.ndarray | None = None,
    class_names: list[str] | None = None,
    table: list[dict[str, Any]] | None = None,
    notes: dict[str, str] | None = None,
    max_codes: int = 2000,
    tokenizer: Any = None,
) -> Path:
    """The report of a fitted :class:`aekit.AutoEncoder` on samples ``X`` (held-out ones, ideally).

    Gathers everything through the estimator's public methods and adds what fits the model: the code's
    sparsity and the parts' statistics for every model (a VAE's KL per unit, a VQ codebook's usage, a sparsity
    regularizer's figures), and prior samples with an interpolation for generative models. Models of token
    sequences (text) get, besides the training curves, the latent map and the code statistics, their first rows
    beside the greedy decoding of their codes (read with ``tokenizer``, else shown as ids) and, unless ``table``
    is given, the token accuracy over the first ``max_codes`` rows (:func:`aekit.evaluation.token_metrics`).

    Parameters
    ----------
    path : the ``.html`` file to write.
    estimator : a fitted :class:`aekit.AutoEncoder`.
    X : array-like of shape (n_samples, ...), the samples to show and encode (the first ``max_codes``).
    title, labels, class_names, table, notes : as in :func:`write_report`; ``labels`` are those of ``X``.
    max_codes : int, default 2000
        At most this many samples are encoded for the latent map and the statistics.
    tokenizer : aekit.text.Tokenizer, its ``to_dict()``, or None
        Reads text models' rows back as text (``aekit train`` keeps it in the model's metadata).
    """
    X = np.asarray(X)
    if X.ndim < 2 or len(X) == 0:
        raise AekitError(f"write_model_report needs samples of shape (n_samples, ...) with n_samples >= 1. Got "
                         f"shape {X.shape} instead.")
    subset = X[:max_codes]
    labels = None if labels is None else np.asarray(labels).reshape(-1)[:max_codes]
    model = estimator.model_
    drawable = not model.likelihood.discrete  # token ids are not images or values to plot
    shown = subset[:MAX_IMAGES] if drawable else None
    generated = interpolation = None
    if drawable and model.is_generative:
        generated = estimator.sample(MAX_IMAGES, random_state=0)
        if len(subset) >= 2:
            interpolation = estimator.interpolate(subset[0], subset[1], steps=_COLUMNS_PER_BAND)
    texts = None
    if not drawable:  # token ids: the rows as text beside their decoding, and how many tokens came back
        rebuilt = estimator.reconstruct(subset)
        table = compare_tokens(estimator, subset, rebuilt) if table is None else table
        padding = getattr(model.likelihood.config, "ignore_index", None)
        texts = list(zip(*(_token_lines(rows, tokenizer, padding) for rows in (subset[:MAX_IMAGES],
                                                                               rebuilt[:MAX_IMAGES]))))
    restoration = None
    if shown is not None and model.corruption is not None:  # a model trained to restore: show it restoring
        degraded = estimator.degrade(shown, random_state=0)
        restoration = (degraded, estimator.reconstruct(degraded))
    codes = estimator.transform(subset)
    return write_report(
        path, title=title, history=estimator.history_, originals=shown,
        reconstructions=None if shown is None else estimator.reconstruct(shown),
        codes=codes.reshape(len(codes), -1),  # sequence models may keep a code per position
        labels=labels, class_names=class_names, table=table, notes=notes,
        stats=estimator.bottleneck_stats(subset), generated=generated, interpolation=interpolation, texts=texts,
        restoration=restoration)


def _token_lines(rows: np.ndarray, tokenizer: Any, padding: int | None) -> list[str]:
    """Rows of token ids as text with ``tokenizer`` (a Tokenizer or its dict), else as space-separated ids
    without their trailing ``padding``."""
    if tokenizer is None:
        lines = []
        for row in np.rint(np.asarray(rows, dtype=np.float64)).astype(np.int64):
            if padding is not None:
                tokens = np.flatnonzero(row != padding)
                row = row[:tokens[-1] + 1 if len(tokens) else 0]
            lines.append(" ".join(map(str, row)))
        return lines
    if isinstance(tokenizer, dict):
        from aekit.text import tokenizer_from_dict

        tokenizer = tokenizer_from_dict(tokenizer)
    return tokenizer.decode(rows)
