"""Metrics for anomaly scores and labels: ROC-AUC, PR-AUC, point-wise F1 and event-level F1 with a tolerance.

Labels are 0 (normal) / 1 (anomaly), scores are higher-is-more-anomalous, predictions are 0/1. An *event* is a
maximal run of consecutive 1s (a NAB label window becomes one event with :func:`windows_to_labels`).

Event-level F1 (tolerance ``t`` steps): a true event counts as detected when a predicted 1 falls inside it or
within ``t`` steps of it; a predicted event (a run of predicted 1s) counts as correct when it overlaps a true
event widened by ``t`` steps on each side. Precision is the share of correct predicted events, recall the
share of detected true events. So one long alarm over one incident is one hit, not hundreds, and a burst of
false alarms costs once per burst.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aekit.errors import AekitError, DataError, check_int

__all__ = [
    "F1Result",
    "best_event_f1",
    "event_f1",
    "events",
    "load_nab_windows",
    "point_f1",
    "pr_auc",
    "roc_auc",
    "windows_to_labels",
]


@dataclass(frozen=True)
class F1Result:
    precision: float
    recall: float
    f1: float

    def to_dict(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


def _labels(labels: Any, name: str = "labels") -> np.ndarray:
    array = np.asarray(labels).ravel()
    if array.size and not np.isin(array, (0, 1)).all():
        raise AekitError(f"The {name} must be 0 (normal) or 1 (anomaly). Got values {np.unique(array)[:5]} instead.")
    return array.astype(int)


def _pair(labels: Any, other: Any, other_name: str) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(labels)
    values = np.asarray(other, dtype=np.float64).ravel()
    if len(values) != len(y):
        raise AekitError(f"The labels have {len(y)} entries but the {other_name} have {len(values)}. Pass one "
                         f"{other_name[:-1]} per labeled row.")
    if not np.isfinite(values).all():
        raise DataError(f"The {other_name} contain NaN or Inf. Pass finite values.")
    return y, values


def _both_classes(y: np.ndarray, metric: str) -> None:
    if y.size == 0 or y.min() == y.max():
        raise AekitError(f"{metric} needs both normal (0) and anomalous (1) rows; the labels hold "
                         f"{f'only {int(y[0])}' if len(y) else 'no rows'}. Evaluate on data with both kinds.")


def _some_anomaly(y: np.ndarray, metric: str) -> None:
    """Recall, and so F1, means nothing without an anomaly to find."""
    if not y.any():
        raise AekitError(f"{metric} needs at least one anomalous (1) row to measure recall; the labels hold "
                         f"{'no rows' if y.size == 0 else 'only normal (0) rows'}. Evaluate on data with anomalies.")


def roc_auc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve of ``scores`` (higher = more anomalous) against 0/1 ``labels``."""
    from sklearn.metrics import roc_auc_score

    y, s = _pair(labels, scores, "scores")
    _both_classes(y, "ROC-AUC")
    return float(roc_auc_score(y, s))


def pr_auc(labels: Any, scores: Any) -> float:
    """Area under the precision-recall curve (average precision); chance level is the anomaly rate."""
    from sklearn.metrics import average_precision_score

    y, s = _pair(labels, scores, "scores")
    _both_classes(y, "PR-AUC")
    return float(average_precision_score(y, s))


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def point_f1(labels: Any, predictions: Any) -> F1Result:
    """Precision, recall and F1 over single rows (time steps)."""
    y, p = _pair(labels, predictions, "predictions")
    p = _labels(p, "predictions")
    _some_anomaly(y, "Point F1")
    tp = int(np.sum((p == 1) & (y == 1)))
    precision = tp / max(int(p.sum()), 1)
    recall = tp / max(int(y.sum()), 1)
    return F1Result(precision, recall, _f1(precision, recall))


def events(labels: Any) -> list[tuple[int, int]]:
    """Maximal runs of 1s as (first, last) index pairs, inclusive."""
    y = _labels(labels)
    padded = np.concatenate([[0], y, [0]])
    changes = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(changes[::2], changes[1::2])]


def event_f1(labels: Any, predictions: Any, tolerance: int = 0) -> F1Result:
    """Event-level precision, recall and F1 with a tolerance of ``tolerance`` steps (see the module doc)."""
    y, p = _pair(labels, predictions, "predictions")
    p = _labels(p, "predictions")
    check_int(tolerance, name="tolerance", owner="event_f1", low=0)
    _some_anomaly(y, "Event F1")
    true_events, predicted_events = events(y), events(p)
    n = len(y)
    # widened truth: 1 within `tolerance` steps of any true event
    widened = np.zeros(n + 1, dtype=int)
    for first, last in true_events:
        widened[max(0, first - tolerance)] += 1
        widened[min(n, last + tolerance + 1)] -= 1
    near_truth = np.cumsum(widened)[:n] > 0
    flagged = np.concatenate([[0], np.cumsum(p)])  # flagged[i] = predicted 1s before step i
    detected = sum(1 for first, last in true_events
                   if flagged[min(n, last + tolerance + 1)] - flagged[max(0, first - tolerance)] > 0)
    correct = sum(1 for first, last in predicted_events if near_truth[first:last + 1].any())
    precision = correct / len(predicted_events) if predicted_events else 0.0
    recall = detected / len(true_events) if true_events else 0.0
    return F1Result(precision, recall, _f1(precision, recall))


def best_event_f1(labels: Any, scores: Any, tolerance: int = 0, n_thresholds: int = 200) -> tuple[F1Result, float]:
    """The best event F1 over ``n_thresholds`` score quantiles, and its threshold (an optimistic oracle: the
    threshold is chosen with the labels; report it beside a threshold chosen without them)."""
    y, s = _pair(labels, scores, "scores")
    check_int(n_thresholds, name="n_thresholds", owner="best_event_f1", low=1)
    _some_anomaly(y, "Event F1")
    candidates = np.unique(np.quantile(s, np.linspace(0.5, 0.999, n_thresholds)))
    below = s[s < candidates[0]]
    if below.size:  # flags every score from the lowest candidate up: when half the scores tie at the top, no
        # candidate above flags any (the threshold is strict)
        candidates = np.concatenate([[below.max()], candidates])
    best, best_threshold = F1Result(0.0, 0.0, 0.0), float(candidates[-1])
    for threshold in candidates:
        result = event_f1(y, (s > threshold).astype(int), tolerance)
        if result.f1 > best.f1:
            best, best_threshold = result, float(threshold)
    return best, best_threshold


def windows_to_labels(timestamps: Sequence[Any] | pd.DatetimeIndex,
                      windows: Sequence[tuple[Any, Any]]) -> np.ndarray:
    """0/1 label per timestamp: 1 inside any ``[start, end]`` window (inclusive)."""
    times = pd.DatetimeIndex(pd.to_datetime(timestamps))
    labels = np.zeros(len(times), dtype=int)
    for start, end in windows:
        start, end = _in_zone_of(times, start), _in_zone_of(times, end)
        labels[(times >= start) & (times <= end)] = 1
    return labels


def _in_zone_of(times: pd.DatetimeIndex, moment: Any) -> pd.Timestamp:
    """``moment`` comparable with ``times``: a naive window (NAB's) is read in the times' zone, and an aware
    window is converted to it (naive times: to UTC, naive)."""
    stamp = pd.Timestamp(moment)
    if times.tz is not None:
        return stamp.tz_localize(times.tz) if stamp.tzinfo is None else stamp.tz_convert(times.tz)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def load_nab_windows(path: str | os.PathLike[str], series: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The label windows of one NAB series from ``combined_windows.json``.

    ``series`` is the key (``"realKnownCause/nyc_taxi.csv"``) or just the file name (``"nyc_taxi.csv"``).
    """
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"Cannot read NAB windows from '{path}' ({exc}). Pass NAB's combined_windows.json.") from None
    matches = [k for k in table if k == series or Path(k).name == Path(series).name]
    if not matches:
        raise DataError(f"No series {series!r} in '{path}'. Keys look like 'realKnownCause/nyc_taxi.csv'.")
    return [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in table[matches[0]]]
