"""A real ODDS set, small and fast: the detector must clearly separate thyroid's anomalies (skips without data)."""

from __future__ import annotations

import numpy as np

from aekit import AnomalyDetector
from aekit.anomaly.metrics import pr_auc, roc_auc

from .conftest import FAST, shared_data


def test_thyroid_anomalies_score_high() -> None:
    import scipy.io
    from sklearn.model_selection import train_test_split

    mat = scipy.io.loadmat(shared_data("odds", "thyroid.mat"))
    X, y = np.asarray(mat["X"], dtype=np.float64), np.asarray(mat["y"]).ravel().astype(int)
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    detector = AnomalyDetector(**FAST).fit(X_train)  # unlabeled, anomalies included
    scores = detector.decision_function(X_test)
    assert roc_auc(y_test, scores) > 0.95  # the full defaults reach 0.99 (benchmarks/results/anomaly_odds.md)
    assert pr_auc(y_test, scores) > 0.4  # chance level is the anomaly rate, 0.025
