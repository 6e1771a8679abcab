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
from pathlib import Path
from typing import Any

import numpy as np

from aekit._version import __version__
from aekit.errors import AekitError
from aekit.evaluation import _columns, _format_value
from aekit.io import atomic_path

__all__ = ["write_report"]

logger = logging.getLogger(__name__)

MAX_IMAGES = 16  # two bands of 8: big enough to judge, small enough to read at a glance
MAX_LINE_ROWS = 4  # non-image rows drawn as original-vs-reconstruction line plots
_COLUMNS_PER_BAND = 8

_METRIC_NOTES = {
    "mse": "mse and mae: mean squared and absolute error in the data's original units (lower is better).",
    "psnr": "psnr: peak signal-to-noise ratio in dB, per sample then averaged (higher is better).",
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


def _image_grid(originals: np.ndarray, reconstructions: np.ndarray) -> tuple[str, str]:
    """One mosaic: bands of up to 8 originals, each band above the matching reconstructions.

    A single ``imshow`` of a tiled canvas renders 10x faster than one axes per image and keeps every tile at
    the same pixel scale.
    """
    n = min(len(originals), MAX_IMAGES)
    shown, note = _as_display_images(originals[:n])  # (n, H, W) or (n, H, W, 3)
    rebuilt, _ = _as_display_images(reconstructions[:n])
    low, high = float(shown.min()), float(shown.max())
    if high <= low:
        high = low + 1.0
    rgb = shown.ndim == 4
    if rgb:  # one shared range, taken from the originals, so colours stay comparable; overshoot is clipped
        shown = np.clip((shown - low) / (high - low), 0.0, 1.0)
        rebuilt = np.clip((rebuilt - low) / (high - low), 0.0, 1.0)
    columns = min(n, _COLUMNS_PER_BAND)
    bands = math.ceil(n / columns)
    height, width = shown.shape[1:3]
    gap = max(1, round(max(height, width) / 8))  # between tiles; two gaps between bands
    canvas_h = bands * (2 * height + 3 * gap) - 2 * gap
    canvas_w = columns * (width + gap) - gap
    # NaN (grayscale) and white (RGB) gaps both render as white
    canvas = np.full((canvas_h, canvas_w, 3) if rgb else (canvas_h, canvas_w), 1.0 if rgb else np.nan)
    centres, names = [], []
    for band in range(bands):
        for offset, (images, label) in enumerate(((shown, "original"), (rebuilt, "reconstruction"))):
            top = band * (2 * height + 3 * gap) + offset * (height + gap)
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
    caption = (f"First {n} samples: each original sits above its reconstruction. Both use the originals' "
               f"value range ({low:g} to {high:g}); values outside it are clipped."
               f"{note}")
    return _png(fig), caption


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


def _label_names(labels: np.ndarray, class_names: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Class index per sample (n,) and the name of each index."""
    values, index = np.unique(labels, return_inverse=True)
    names = [str(v) for v in values]
    if class_names is not None and np.issubdtype(values.dtype, np.integer) and len(values) and \
            values.min() >= 0 and values.max() < len(class_names):
        names = [str(class_names[int(v)]) for v in values]
    return index.reshape(-1), names


def _latent_section(coded: tuple[np.ndarray, np.ndarray | None] | None, class_names: list[str] | None) -> str:
    if coded is None:
        return '<p class="empty">No latent codes.</p>'
    codes, labels = coded
    n, dims = codes.shape
    if dims > 2:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=0).fit(codes)
        points = pca.transform(codes)  # (n, 2)
        explained = 100.0 * float(pca.explained_variance_ratio_.sum())
        axis_names = ("PC 1", "PC 2")
        how = (f"The {dims}-dimensional codes are projected to 2-D with PCA (the two components explain "
               f"{explained:.0f}% of the code variance).")
    elif dims == 2:
        points, axis_names, how = codes, ("z[0]", "z[1]"), "The codes are 2-D and drawn as they are."
    else:
        jitter = np.random.default_rng(0).uniform(-0.5, 0.5, size=n)  # (n,)
        points = np.column_stack([codes[:, 0], jitter])  # (n, 2)
        axis_names, how = ("z[0]", "jitter"), "The codes are 1-D; the vertical position is random jitter."
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

    Returns
    -------
    Path of the written file.
    """
    samples = _check_samples(originals, reconstructions)  # every check before the first (slow) figure
    coded = _check_codes(codes, labels)
    sections = [
        ("Run", _notes_section(notes)),
        ("Metrics", _table_section(table)),
        ("Training", _loss_section(list(history or []))),
        ("Reconstructions", _reconstruction_section(samples)),
        ("Latent space", _latent_section(coded, class_names)),
    ]
    body = "\n".join(f"<section><h2>{_esc(name)}</h2>\n{content}\n</section>" for name, content in sections)
    document = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_esc(title)}</h1>\n<p class=\"subtitle\">Autoencoder report</p>\n"
        f"{body}\n<footer>Written by aekit {_esc(__version__)}.</footer>\n</main>\n</body>\n</html>\n"
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    logger.info("Wrote report %s (%d KiB)", path, len(document) // 1024)
    return path
