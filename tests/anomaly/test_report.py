"""The HTML report: one self-contained file with the histogram, the top anomalies and their explanations."""

from __future__ import annotations

import re

from aekit import AnomalyDetector
from aekit.anomaly.report import write_detection_report


def _self_contained(html: str) -> bool:
    sources = re.findall(r"""(?:src|href)=["']([^"']+)""", html)
    return all(s.startswith("data:") for s in sources)


def test_table_report(fitted, planted_data, tmp_path) -> None:
    X, _ = planted_data
    path = write_detection_report(tmp_path / "r" / "report.html", fitted, X, title="planted <test>", top=5, k=2)
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>") and "planted &lt;test&gt;" in html
    assert html.count("data:image/png;base64,") == 1  # the histogram
    assert "Top 5 anomalies" in html and html.count("<tr>") == 6
    assert _self_contained(html) and sorted(p.name for p in path.parent.iterdir()) == ["report.html"]


def test_image_report_shows_heat_maps(digits, tmp_path) -> None:
    images = digits[:200].reshape(-1, 1, 8, 8)
    detector = AnomalyDetector(model="conv", n_estimators=1, max_epochs=2, random_state=0, device="cpu").fit(images)
    html = write_detection_report(tmp_path / "report.html", detector, images[:50]).read_text()
    assert "Top anomalous images" in html and html.count("data:image/png;base64,") == 2
    assert _self_contained(html)
