"""A self-contained HTML report of anomaly scores: histogram with the threshold, top anomalies and why.

For time series it also draws the series with its point scores and the flagged windows; for images, the most
anomalous images beside a heat map of their per-pixel contributions. Figures are inline base64 PNGs drawn on
:class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no window, nothing left in pyplot's
registry); the file loads nothing from anywhere and is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aekit._version import __version__
from aekit.anomaly.detector import AnomalyDetector, Explanation
from aekit.anomaly.metrics import events
from aekit.io import atomic_path

__all__ = ["write_detection_report"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0;
       background: #fafafa; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.subtitle, figcaption { color: #555; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; }
figure { margin: 8px 0 16px; }
figure img { max-width: 100%; height: auto; display: block; }
"""


def _esc(value: Any) -> str:
    if isinstance(value, np.datetime64):  # as the scores CSV writes it (2024-01-02 18:15:00), not NumPy's ISO form
        value = pd.Timestamp(value)
    return html.escape(str(value))


def _figure(width: float, height: float, rows: int = 1, cols: int = 1) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _img(fig: Any, alt: str, caption: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f'<figure><img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _histogram(detector: AnomalyDetector, scores: np.ndarray) -> str:
    fig, axes = _figure(8, 3)
    ax = axes[0, 0]
    train = detector.decision_scores_
    low, high = np.percentile(np.concatenate([scores, train]), [0, 100])
    bins = np.linspace(low, high if high > low else low + 1, 60)
    ax.hist(train, bins=bins, alpha=0.5, density=True, label="training rows", color="#888")
    ax.hist(scores, bins=bins, alpha=0.6, density=True, label="scored rows", color="#1f77b4")
    ax.axvline(detector.threshold_, color="#d62728", linestyle="--", label=f"threshold {detector.threshold_:.3g}")
    ax.set_yscale("log")
    ax.set_xlabel("anomaly score (higher = more anomalous)")
    ax.set_ylabel("density (log)")
    ax.legend(loc="upper right", fontsize=8)
    return _img(fig, "score histogram", "Scores of the scored rows beside the training rows; rows right of the "
                "dashed line are flagged.")


def _series(values: np.ndarray, explanation: Explanation, labels: np.ndarray, threshold: float,
            channel_names: list[str]) -> str:
    fig, axes = _figure(10, 5, rows=2)
    x = explanation.index
    try:
        x = np.asarray(x, dtype="datetime64[ns]") if np.asarray(x).dtype.kind in "OM" else np.arange(len(values))
    except (TypeError, ValueError):
        x = np.arange(len(values))
    top, bottom = axes[0, 0], axes[1, 0]
    for c in range(min(values.shape[1], 4)):
        top.plot(x, values[:, c], linewidth=0.7, label=channel_names[c] if c < len(channel_names) else f"x{c}")
    for first, last in events(labels):
        for ax in (top, bottom):
            ax.axvspan(x[first], x[last], color="#d62728", alpha=0.25, linewidth=0)
    flagged = labels == 1  # markers too: a flagged single step is a span too thin to see
    top.scatter(x[flagged], values[flagged, 0], s=8, color="#d62728", zorder=3, label="flagged")
    top.set_ylabel("value")
    top.legend(loc="upper right", fontsize=8)
    bottom.plot(x, explanation.scores, linewidth=0.7, color="#1f77b4")
    bottom.axhline(threshold, color="#d62728", linestyle="--", linewidth=1)
    bottom.set_ylabel("anomaly score")
    return _img(fig, "series with scores", "The series (top) and its point scores (bottom); shaded spans are the "
                "flagged windows, the dashed line the threshold.")


def _images(detector: AnomalyDetector, X: np.ndarray, explanation: Explanation, rows: np.ndarray) -> str:
    shape = detector.input_shape_full_
    images = np.asarray(X, dtype=np.float64).reshape(len(X), *shape) if len(shape) > 1 else None
    if images is None or len(rows) == 0:
        return ""
    n = min(len(rows), 8)
    fig, axes = _figure(1.4 * n, 3.0, rows=2, cols=n)
    for k, row in enumerate(rows[:n]):
        image = images[row]
        if image.ndim == 3 and image.shape[0] == 1:  # (1, H, W) grayscale
            image = image[0]
        if image.ndim == 3:  # (C, H, W) colour
            image = np.moveaxis(image, 0, -1)
            image = (image - image.min()) / (np.ptp(image) or 1.0)
        heat = explanation.contributions[row].reshape(shape)
        heat = heat.sum(axis=0) if heat.ndim == 3 else heat
        axes[0, k].imshow(image, cmap="gray")
        axes[1, k].imshow(heat, cmap="magma")
        axes[0, k].set_title(f"{explanation.scores[row]:.3g}", fontsize=8)
        for ax in (axes[0, k], axes[1, k]):
            ax.axis("off")
    return _img(fig, "top anomalous images", "The most anomalous images (score above each) and where their score "
                "comes from (per-pixel contributions, brighter = more).")


def _top_table(explanation: Explanation, labels: np.ndarray, rows: np.ndarray, k: int) -> str:
    top = explanation.top(k)
    head = "<tr><th>id</th><th>score</th><th>label</th><th>latent term</th><th>top contributions</th></tr>"
    body = []
    for row in rows:
        contributions = ", ".join(f"{_esc(name)} ({value:.3g})" for name, value in top[row])
        body.append(f"<tr><td>{_esc(explanation.index[row])}</td><td class='num'>{explanation.scores[row]:.4g}</td>"
                    f"<td class='num'>{int(labels[row])}</td><td class='num'>{explanation.latent[row]:.3g}</td>"
                    f"<td>{contributions}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _event_table(explanation: Explanation, labels: np.ndarray, limit: int = 20) -> str:
    found = events(labels)
    if not found:
        return "<p>No window is flagged.</p>"
    ranked = sorted(found, key=lambda e: -explanation.scores[e[0]:e[1] + 1].max())[:limit]
    body = []
    for first, last in ranked:
        segment = explanation.scores[first:last + 1]
        peak = first + int(np.argmax(segment))
        body.append(f"<tr><td>{_esc(explanation.index[first])}</td><td>{_esc(explanation.index[last])}</td>"
                    f"<td class='num'>{last - first + 1}</td><td class='num'>{segment.max():.4g}</td>"
                    f"<td>{_esc(explanation.index[peak])}</td></tr>")
    head = ("<tr><th>from</th><th>to</th><th>steps</th><th>peak score</th><th>peak at (the step that drives "
            "it)</th></tr>")
    return (f"<p>{len(found)} flagged window(s); the {len(ranked)} with the highest peak:</p>"
            f"<table>{head}{''.join(body)}</table>")


def write_detection_report(path: str | os.PathLike[str], detector: AnomalyDetector, X: Any, *,
                           explanation: Explanation | None = None, title: str = "Anomaly report",
                           top: int = 20, k: int = 5) -> Path:
    """Write the report for data ``X`` scored by a fitted ``detector``; returns the path.

    Parameters
    ----------
    path : the .html file (written atomically).
    detector : a fitted :class:`AnomalyDetector`.
    X : the scored data, as passed to ``detector.explain``.
    explanation : ``detector.explain(X)`` if already computed.
    top : anomalies listed; k : contributions shown per anomaly.
    """
    explanation = explanation if explanation is not None else detector.explain(X)
    labels = (explanation.scores > detector.threshold_).astype(int)
    order = np.argsort(-explanation.scores, kind="stable")[:top]
    info = detector.threshold_info_
    summary = (f"{len(labels)} {'time steps' if detector.kind_ == 'series' else 'rows'} scored, "
               f"{int(labels.sum())} flagged ({100 * labels.mean():.2f}%). Threshold {detector.threshold_:.4g} "
               f"set by {info.get('method')} ({', '.join(f'{a}={b}' for a, b in info.items() if a != 'method')}). "
               f"Model: {detector.model}, {len(detector.members_)} member(s), error '{detector.error_}', "
               f"latent term '{detector.latent_score_}' with weight {detector.latent_weight_:g}"
               + (f", level term with weight {detector.level_weight_:g} (in each channel's contribution)"
                  if detector.level_models_ else "")
               + (f", coarse scale: a second detector on the means of blocks of {detector.coarse_factor_} steps, its "
                  "terms added." if detector.coarse_ is not None else "."))
    sections = [f"<h1>{_esc(title)}</h1><p class='subtitle'>aekit {__version__}</p><p>{_esc(summary)}</p>"]
    if detector.constant_features_:
        sections.append(f"<p>Left out (constant in training): {_esc(', '.join(detector.constant_features_))}.</p>")
    sections.append("<h2>Scores</h2>" + _histogram(detector, explanation.scores))
    if detector.kind_ == "series":
        values = np.asarray(X, dtype=np.float64).reshape(len(explanation.scores), -1)
        sections.append("<h2>Series</h2>" + _series(values, explanation, labels, detector.threshold_,
                                                    detector.feature_names_))
        sections.append("<h2>Flagged windows</h2>" + _event_table(explanation, labels))
    if detector.kind_ == "image":
        sections.append("<h2>Top anomalous images</h2>" + _images(detector, np.asarray(X), explanation, order))
    sections.append(f"<h2>Top {len(order)} anomalies</h2><p>score = {explanation.offset:.3g} (offset) + latent term "
                    "+ sum of the feature contributions.</p>" + _top_table(explanation, labels, order, k))
    document = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
                f"<style>{_CSS}</style></head><body><main>{''.join(sections)}</main></body></html>")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return path
