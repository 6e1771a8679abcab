"""aekit.anomaly.metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from aekit.anomaly.metrics import (
    best_event_f1,
    event_f1,
    events,
    load_nab_windows,
    point_f1,
    pr_auc,
    roc_auc,
    windows_to_labels,
)
from aekit.errors import AekitError

from .conftest import shared_data


def test_aucs_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.1).astype(int)
    s = rng.normal(size=200) + 2 * y
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert pr_auc(y, s) == pytest.approx(average_precision_score(y, s))


def test_aucs_need_both_classes() -> None:
    with pytest.raises(AekitError, match="ROC-AUC needs both normal \\(0\\) and anomalous \\(1\\) rows"):
        roc_auc([0, 0, 0], [0.1, 0.2, 0.3])


def test_empty_labels_and_f1_without_anomalies_are_refused() -> None:
    with pytest.raises(AekitError, match=r"ROC-AUC needs both .* the labels hold no rows\."):
        roc_auc([], [])
    for metric in (lambda y, p: point_f1(y, p), lambda y, p: event_f1(y, p), lambda y, p: best_event_f1(y, p)):
        with pytest.raises(AekitError, match=r"F1 needs at least one anomalous \(1\) row to measure recall; the "
                                             r"labels hold only normal \(0\) rows"):
            metric(np.zeros(10, int), np.zeros(10))  # recall of nothing: undefined, not 0
        with pytest.raises(AekitError, match=r"the labels hold no rows"):
            metric([], [])
    with pytest.raises(AekitError, match=r"'n_thresholds' parameter of best_event_f1 must be an int in \[1, inf\]"):
        best_event_f1([0, 1], [0.0, 1.0], n_thresholds=0)


def test_labels_must_be_zero_or_one() -> None:
    with pytest.raises(AekitError, match="must be 0 \\(normal\\) or 1 \\(anomaly\\)"):
        point_f1([0, 2, 1], [0, 1, 1])


def test_lengths_must_match() -> None:
    with pytest.raises(AekitError, match="The labels have 3 entries but the predictions have 2"):
        point_f1([0, 1, 1], [0, 1])


def test_point_f1_by_hand() -> None:
    result = point_f1([0, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0])  # tp=1, 2 predicted, 3 true
    assert (result.precision, result.recall) == (0.5, pytest.approx(1 / 3))
    assert result.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))


def test_events_are_maximal_runs() -> None:
    assert events([1, 1, 0, 0, 1, 0, 1, 1, 1]) == [(0, 1), (4, 4), (6, 8)]
    assert events([0, 0]) == []


def test_event_f1_with_and_without_tolerance() -> None:
    labels = np.zeros(30, int)
    labels[2:5] = 1  # event A: steps 2..4
    labels[10:13] = 1  # event B: steps 10..12
    predictions = np.zeros(30, int)
    predictions[5] = 1  # one step after A
    predictions[20:23] = 1  # a false alarm burst: one predicted event
    strict = event_f1(labels, predictions, tolerance=0)
    assert (strict.precision, strict.recall, strict.f1) == (0.0, 0.0, 0.0)
    loose = event_f1(labels, predictions, tolerance=1)
    assert (loose.precision, loose.recall, loose.f1) == (0.5, 0.5, 0.5)
    perfect = event_f1(labels, labels)
    assert perfect.f1 == 1.0
    long_alarm = np.zeros(30, int)
    long_alarm[1:14] = 1  # one alarm covering both events: one correct predicted event, both detected
    assert event_f1(labels, long_alarm).to_dict() == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_best_event_f1_finds_the_separating_threshold() -> None:
    labels = np.zeros(100, int)
    labels[40:45] = 1
    scores = np.where(labels == 1, 5.0, 0.0) + np.linspace(0, 0.1, 100)
    result, threshold = best_event_f1(labels, scores)
    assert result.f1 == 1.0 and 0.1 < threshold < 5.0


def test_best_event_f1_when_half_the_scores_tie_at_the_top() -> None:
    # every quantile candidate is the top score, and "score > threshold" flags nothing at it
    result, threshold = best_event_f1([0, 0, 0, 0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1, 1, 1.0])
    assert result.f1 == 1.0 and threshold == 0.0


def test_windows_to_labels_is_inclusive() -> None:
    times = pd.date_range("2024-01-01", periods=10, freq="h")
    labels = windows_to_labels(times, [("2024-01-01 02:00", "2024-01-01 04:00")])
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1, 0, 0, 0, 0, 0])
    # NAB's naive windows against a zone-aware index: read in the index's zone; aware windows are converted
    aware = windows_to_labels(times.tz_localize("UTC"), [("2024-01-01 02:00", "2024-01-01 04:00")])
    np.testing.assert_array_equal(aware, labels)
    shifted = windows_to_labels(times, [("2024-01-01 03:00+01:00", "2024-01-01 05:00+01:00")])
    np.testing.assert_array_equal(shifted, labels)


def test_nab_windows_from_the_label_file() -> None:
    path = shared_data("nab", "combined_windows.json")
    windows = load_nab_windows(path, "nyc_taxi.csv")
    assert len(windows) == 5 and windows[0][0] < windows[0][1]
    with pytest.raises(AekitError, match="No series 'nope.csv'"):
        load_nab_windows(path, "nope.csv")
