"""The clustering report: its sections for tables and images, the agreement with known classes, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

from aekit import AutoEncoder, LatentClustering
from aekit.cluster.report import _silhouette, compare_with_labels, write_clustering_report
from aekit.errors import AekitError


def _sections(path: Path) -> list[str]:
    return re.findall(r"<h2>([^<]*)</h2>", path.read_text(encoding="utf-8"))


def _ae(**overrides: object) -> AutoEncoder:
    params = {"latent_dim": 2, "hidden_dims": (16,), "max_epochs": 3, "random_state": 0, "device": "cpu"}
    return AutoEncoder(**(params | overrides))


@pytest.fixture(scope="module")
def blobs() -> tuple[pd.DataFrame, np.ndarray]:
    """Three blobs in 5 named features (one named like a column of the report's own), and their classes."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(loc=5.0 * c, size=(30, 5)) for c in range(3)])
    return pd.DataFrame(X, columns=["a", "b", "c", "size", "cluster"]), np.repeat(np.arange(3), 30)


def test_compare_with_labels_matches_clusters_to_classes_one_to_one() -> None:
    y = np.array(["a", "a", "b", "b", "b", "b", "c"])
    clusters = np.array([1, 1, 0, 0, 2, 2, 3])
    agreement = compare_with_labels(y, clusters, 4)
    np.testing.assert_array_equal(agreement.counts, [[0, 2, 0], [2, 0, 0], [0, 2, 0], [0, 0, 1]])
    assert agreement.class_names == ["a", "b", "c"]
    # b is one class: only one of clusters 0 and 2 can be paired with it, the other counts wrong
    assert agreement.accuracy == pytest.approx(5 / 7)
    assert agreement.matched[1] == "a" and agreement.matched[3] == "c" and len(agreement.matched) == 3
    assert agreement.nmi == pytest.approx(normalized_mutual_info_score(y, clusters))
    assert agreement.ari == pytest.approx(adjusted_rand_score(y, clusters))
    # cluster ids are arbitrary: a renamed perfect clustering scores 1 everywhere; class indices take their names
    perfect = compare_with_labels([0, 0, 1, 1, 2], [2, 2, 0, 0, 1], 3, class_names=["zero", "one", "two"])
    assert (perfect.accuracy, perfect.nmi, perfect.ari) == (1.0, 1.0, 1.0)
    assert perfect.matched == {0: "one", 1: "two", 2: "zero"}
    with pytest.raises(AekitError, match=r"^The labels must have one entry per sample. Got 2 labels for 3 samples"):
        compare_with_labels([0, 1], [0, 1, 1], 2)


def test_silhouette_is_of_at_most_5000_seeded_rows_and_undefined_for_one_cluster() -> None:
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(5200, 2))
    clusters = (codes[:, 0] > 0).astype(np.int64)
    score, used = _silhouette(codes, clusters)
    rows = np.sort(np.random.default_rng(0).choice(5200, 5000, replace=False))
    assert used == 5000 and score == pytest.approx(silhouette_score(codes[rows], clusters[rows]))
    assert _silhouette(codes[:10], np.zeros(10, dtype=np.int64)) == (None, 10)


def test_a_table_report_profiles_each_clusters_features_and_judges_by_labels(blobs, tmp_path) -> None:
    X, y = blobs
    clustering = LatentClustering(3, autoencoder=_ae(), method="kmeans", random_state=0).fit(X)
    path = write_clustering_report(tmp_path / "r.html", clustering, X, y=y, class_names=["p", "q", "r"],
                                   title="Blobs", source="three blobs")
    assert _sections(path) == ["Summary", "Cluster sizes", "Latent space", "Prototypes", "Labels"]
    html = path.read_text()
    assert "<td>90 samples (three blobs)</td>" in html and "kmeans: KMeans on the codes" in html
    inertia = -clustering.score(X)
    assert re.search(r"<th>inertia</th><td>[\d.]+: the sum of squared distances", html)
    assert f"{inertia:#.4g}".rstrip(".") in html
    assert re.search(r"<th>silhouette</th><td>-?0\.\d{3}: of the codes by cluster, on 90 samples;", html)
    # the profile: every feature's mean per cluster in data units, besides the report's own columns
    clusters = clustering.predict(X)
    first = X[clusters == 0]
    assert f"<td>0 ({len(first)})</td>" in html and "<th class=\"num\">size</th>" in html
    assert f"{first['size'].mean():#.4g}".rstrip(".") in html
    agreement = compare_with_labels(y, clusters, 3, ["p", "q", "r"])
    assert f"accuracy {agreement.accuracy:.3f}, NMI {agreement.nmi:.3f}, ARI {agreement.ari:.3f}" in html
    assert "<th>matched class</th>" in html and "Latent map by class" in html
    assert html.count("data:image/png;base64,") == 4  # sizes, map, profile, map by class


def test_an_image_report_shows_decoded_centres_members_and_the_refinement(tmp_path) -> None:
    from sklearn.datasets import load_digits

    images = load_digits().images[:120, None]  # (120, 1, 8, 8)
    clustering = LatentClustering(4, autoencoder=_ae(), method="idec", refine_epochs=3, random_state=0).fit(images)
    path = write_clustering_report(tmp_path / "r.html", clustering, images)
    assert _sections(path) == ["Summary", "Cluster sizes", "Latent space", "Prototypes", "Members", "Refinement"]
    html = path.read_text()
    assert "The 4 cluster centres decoded by the autoencoder" in html and "on the data&#x27;s value range (0 to 16)" \
        in html
    assert "the 8 samples whose codes lie nearest its centre" in html
    epochs = len(clustering.refine_history_)
    assert f"IDEC&#x27;s joint training, {epochs} epoch{'' if epochs == 1 else 's'}:" in html
    assert "refined together for" in html and html.count("data:image/png;base64,") == 5


def test_bad_cluster_ids_are_refused(blobs, tmp_path) -> None:
    X, _ = blobs
    clustering = LatentClustering(2, autoencoder=_ae(), random_state=0).fit(X)
    with pytest.raises(AekitError, match=r"^clusters must hold one cluster id in \[0, 1\] per sample \(90\)"):
        write_clustering_report(tmp_path / "r.html", clustering, X, clusters=np.full(90, 2))
    assert not (tmp_path / "r.html").exists()


def test_counts_of_one_are_singular(blobs, tmp_path) -> None:
    from aekit.cluster.report import counted

    assert [counted(1, "sample"), counted(0, "sample"), counted(2, "epoch"), counted(1, "class", "classes"),
            counted(3, "class", "classes")] == ["1 sample", "0 samples", "2 epochs", "1 class", "3 classes"]
    X, _ = blobs
    clustering = LatentClustering(2, autoencoder=_ae(max_epochs=1), method="kmeans", random_state=0).fit(X)
    path = write_clustering_report(tmp_path / "r.html", clustering, X.iloc[:1], y=np.array([0]), source="one row")
    html = path.read_text()
    assert "<td>1 sample (one row)</td>" in html and "1 cluster holds none of these samples." in html
    assert "against 1 class (not used to cluster)" in html and "1 training epoch<" in html
    assert not re.search(r"\b1 (samples|clusters|classes|epochs)\b", html)
