"""Anomaly detection on top of trained autoencoders: tables, images and time series.

    >>> from aekit import AnomalyDetector
    >>> detector = AnomalyDetector(contamination=0.05, random_state=0).fit(X_train)
    >>> scores = detector.decision_function(X_test)       # higher = more anomalous
    >>> detector.explain(X_test).top(3)                   # the features that drive each score
"""

from aekit.anomaly.detector import ERRORS, AnomalyDetector, Explanation

__all__ = ["ERRORS", "AnomalyDetector", "Explanation"]
