"""A self-contained HTML report of a latent clustering on data: how many samples each cluster holds, where the
clusters lie in latent space, what they look like, and, given the data's class labels, how well they match them.

Built on the helpers of :mod:`aekit.report` (inline PNG figures drawn on a bare matplotlib ``Figure``, image
mosaics, tables, the document and its atomic write), so it looks like, and loads as little as, the model's
report. Everything is computed through the clustering's public attributes and its autoencoder's public
methods (``transform``, ``inverse_transform``).

    >>> write_clustering_report("report.html", clustering, X, y=y, class_names=names)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aekit.cluster.estimator import LatentClustering
from aekit.errors import AekitError
from aekit.evaluation import _format_value
from aekit.report import (
    _as_display_images,
    _cmap_colour,
    _esc,
    _figure_html,
    _is_image_batch,
    _label_names,
    _latent_section,
    _map_points,
    _mosaic,
    _new_figure,
    _notes_section,
    _png,
    _table_section,
    _value_range,
    write_html,
)

__all__ = ["LabelAgreement", "compare_with_labels", "write_clustering_report"]

MAX_SAMPLED = 5000  # rows for the silhouette score and the latent map: both cost more than linear time
MEMBERS_SHOWN = 8  # images per cluster, one band of the mosaic
MAX_CLUSTERS_SHOWN = 20  # rows of member images: more is a wall no one reads
MAX_PROFILE_FEATURES = 40  # columns of the feature profile: the ones whose means differ most between clusters


@dataclass(frozen=True)
class LabelAgreement:
    """How clusters match known classes (:func:`compare_with_labels`).

    Attributes
    ----------
    accuracy : float, the share of samples whose cluster is matched to their class, clusters and classes paired
        one-to-one to make that share largest (Hungarian matching); a cluster left without a class counts wrong.
    nmi, ari : float, normalized mutual information and adjusted Rand index (scikit-learn), 1 for a perfect match.
    counts : ndarray of shape (n_clusters, n_classes), the contingency table: samples of each class per cluster.
    class_names : list of str, the name of each column of ``counts``.
    matched : dict of int to str, the class each cluster is paired with.
    """

    accuracy: float
    nmi: float
    ari: float
    counts: np.ndarray
    class_names: list[str]
    matched: dict[int, str]


def compare_with_labels(y: Any, clusters: Any, n_clusters: int, class_names: list[str] | None = None
                        ) -> LabelAgreement:
    """Compare cluster ids ``clusters`` (n,) in ``[0, n_clusters)`` with class labels ``y`` (n,), which are never
    used to cluster. ``class_names`` names class index ``i`` when the labels are indices (``load_dataset``'s)."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    y, clusters = np.asarray(y).reshape(-1), np.asarray(clusters, dtype=np.int64).reshape(-1)
    if len(y) != len(clusters):
        raise AekitError(f"The labels must have one entry per sample. Got {len(y)} labels for {len(clusters)} "
                         "samples. Pass the labels of the clustered samples.")
    index, names = _label_names(y, class_names)  # class index per sample (n,), a name per index
    counts = np.zeros((n_clusters, len(names)), dtype=np.int64)
    np.add.at(counts, (clusters, index), 1)
    rows, columns = linear_sum_assignment(counts, maximize=True)
    return LabelAgreement(
        accuracy=float(counts[rows, columns].sum() / max(len(y), 1)),
        nmi=float(normalized_mutual_info_score(index, clusters)), ari=float(adjusted_rand_score(index, clusters)),
        counts=counts, class_names=names, matched={int(r): names[c] for r, c in zip(rows, columns)})


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in the number it takes: "1 sample", "2 samples"; ``plural`` where it is not noun + s
    ("classes")."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _sample_rows(n: int, limit: int = MAX_SAMPLED) -> np.ndarray:
    """All rows, or ``limit`` of them drawn without replacement with seed 0, in order."""
    return np.arange(n) if n <= limit else np.sort(np.random.default_rng(0).choice(n, limit, replace=False))


def _silhouette(codes: np.ndarray, clusters: np.ndarray) -> tuple[float | None, int]:
    """The silhouette score of the codes on at most MAX_SAMPLED rows (seeded), and the rows it used; None where it
    is not defined (fewer than 2 clusters with samples, or every sample a cluster of its own)."""
    from sklearn.metrics import silhouette_score

    rows = _sample_rows(len(codes))
    found = len(np.unique(clusters[rows]))
    if not 2 <= found <= len(rows) - 1:
        return None, len(rows)
    return float(silhouette_score(codes[rows], clusters[rows])), len(rows)


def _colours(k: int) -> list[Any]:
    """A colour per cluster: tab10 up to 10 clusters, tab20 up to 20, viridis beyond."""
    if k <= 20:
        name = "tab10" if k <= 10 else "tab20"
        return [_cmap_colour(name, i) for i in range(k)]
    return [_cmap_colour("viridis", i / max(k - 1, 1)) for i in range(k)]


def _sizes_section(sizes: np.ndarray) -> str:
    k = len(sizes)
    fig = _new_figure(min(9.0, 2.0 + 0.45 * k), 3.0)
    ax = fig.add_subplot()
    ax.bar(np.arange(k), sizes, color=_colours(k), width=0.8)
    if k <= 30:
        ax.set_xticks(np.arange(k))
        for i, size in enumerate(sizes):
            ax.annotate(str(int(size)), (i, size), ha="center", va="bottom", fontsize=7)
    ax.set_xlabel("cluster")
    ax.set_ylabel("samples")
    ax.grid(True, axis="y", alpha=0.3)
    empty = int((sizes == 0).sum())
    caption = (f"Samples per cluster ({int(sizes.sum())} in all; largest {int(sizes.max())}, smallest "
               f"{int(sizes.min())}).")
    if empty:
        caption += f" {counted(empty, 'cluster')} {'holds' if empty == 1 else 'hold'} none of these samples."
    return _figure_html(_png(fig), "cluster sizes", caption)


def _map_section(codes: np.ndarray, clusters: np.ndarray, centers: np.ndarray) -> str:
    rows = _sample_rows(len(codes))
    if len(rows) < 2:
        return f'<p class="empty">A latent map needs at least 2 samples; the data has {len(rows)}.</p>'
    points, project, axis_names, how = _map_points(codes[rows])  # (m, 2)
    marks = project(centers)  # (k, 2)
    k = len(centers)
    colours = _colours(k)
    fig = _new_figure(7, 5.2)
    ax = fig.add_subplot()
    size = 12 if len(rows) <= 2000 else 4
    for j in range(k):
        mask = clusters[rows] == j
        ax.scatter(points[mask, 0], points[mask, 1], s=size, alpha=0.6, linewidths=0, color=colours[j],
                   label=f"{j}" if k <= 20 else None)
    ax.scatter(marks[:, 0], marks[:, 1], s=90, marker="X", color=colours, edgecolors="black", linewidths=1.2,
               zorder=3)
    if k <= 30:
        for j, (x, y) in enumerate(marks):
            ax.annotate(str(j), (x, y), xytext=(5, 5), textcoords="offset points", fontsize=8, fontweight="bold")
    if k <= 20:
        ax.legend(title="cluster", loc="center left", bbox_to_anchor=(1.01, 0.5), markerscale=2, fontsize=8,
                  frameon=False)
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.grid(True, alpha=0.3)
    drawn = counted(len(rows), "sample") + (f" (drawn at random, seed 0, from {len(codes)})" if len(rows) < len(codes)
                                      else "")
    caption = (f"Latent space of {drawn}, coloured by cluster; the crosses are the cluster centres, drawn on the "
               f"same plane. {how}")
    return _figure_html(_png(fig), "latent map by cluster", caption)


def _as_images(values: np.ndarray) -> tuple[np.ndarray, str]:
    """Samples (n, C, H, W) or (n, H, W) as imshow takes them, and a note (one channel of several)."""
    return _as_display_images(np.asarray(values, dtype=np.float64))


def _prototype_images(decoded: np.ndarray, low: float, high: float) -> str:
    shown, note = _as_images(decoded)  # (k, H, W) or (k, H, W, 3)
    k, columns = len(shown), min(len(shown), MEMBERS_SHOWN)
    blank = high if shown.ndim == 4 else np.nan  # both render white
    series = []
    for first in range(0, k, columns):  # a row of the mosaic each, named by its clusters
        row = np.full((columns, *shown.shape[1:]), blank)
        row[:len(shown[first:first + columns])] = shown[first:first + columns]
        last = min(first + columns, k) - 1
        series.append((row, f"cluster {first}" if first == last else f"clusters {first}-{last}"))
    return _figure_html(_mosaic(series, low, high), "decoded cluster centres",
                        f"The {counted(k, 'cluster centre')} decoded by the autoencoder: what a typical member of "
                        f"each cluster looks like, in cluster order, on the data's value range ({low:g} to "
                        f"{high:g}).{note}")


def _member_images(images: np.ndarray, clusters: np.ndarray, distances: np.ndarray, k: int, low: float,
                   high: float) -> str:
    tile, note = _as_images(images[:1])  # (1, H, W) or (1, H, W, 3)
    blank = high if tile.ndim == 4 else np.nan  # both render white
    held = np.flatnonzero(np.bincount(clusters, minlength=k))  # clusters with samples here
    series = []
    for j in held[:MAX_CLUSTERS_SHOWN]:
        members = np.flatnonzero(clusters == j)
        nearest = members[np.argsort(distances[members], kind="stable")[:MEMBERS_SHOWN]]
        row = np.full((MEMBERS_SHOWN, *tile.shape[1:]), blank)  # a cluster with fewer members: blank tiles
        row[:len(nearest)] = _as_images(images[nearest])[0]
        series.append((row, f"cluster {j} ({len(members)})"))
    png = _mosaic(series, low, high)
    more = f" The first {MAX_CLUSTERS_SHOWN} of the {len(held)} clusters with samples." if len(
        held) > MAX_CLUSTERS_SHOWN else ""
    left = k - len(held)
    more += f" {counted(left, 'cluster')} without samples here {'is' if left == 1 else 'are'} left out." if left else ""
    return _figure_html(png, "cluster members nearest their centres",
                        f"Per cluster (its size in brackets), the {MEMBERS_SHOWN} samples whose codes lie nearest "
                        f"its centre, nearest first; blank tiles where a cluster has fewer.{more}{note}")


def _profile_section(values: np.ndarray, clusters: np.ndarray, k: int, names: list[str]) -> str:
    """Each cluster's mean of every feature, in the data's units: a heat map of how far it lies from the mean of
    all samples (in standard deviations) and the table of the means."""
    sizes = np.bincount(clusters, minlength=k)
    means = np.full((k, values.shape[1]), np.nan)  # (k, n_features); NaN for a cluster without samples
    for j in np.flatnonzero(sizes):
        means[j] = values[clusters == j].mean(axis=0, dtype=np.float64)
    overall, spread = values.mean(axis=0, dtype=np.float64), values.std(axis=0, dtype=np.float64)
    standard = (means - overall) / np.where(spread > 0, spread, 1.0)  # (k, n_features)
    columns = np.arange(values.shape[1])
    note = ""
    if len(columns) > MAX_PROFILE_FEATURES:
        reach = np.nan_to_num(np.nanmax(standard, axis=0) - np.nanmin(standard, axis=0))
        columns = np.sort(np.argsort(-reach, kind="stable")[:MAX_PROFILE_FEATURES])
        note = (f" The {MAX_PROFILE_FEATURES} of {values.shape[1]} features whose cluster means differ most are "
                "shown.")
    shown = standard[:, columns]
    bound = float(np.nanmax(np.abs(shown))) if np.isfinite(shown).any() else 1.0
    fig = _new_figure(min(10.0, 2.5 + 0.3 * len(columns)), min(9.0, 2.5 + 0.35 * k))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(shown), cmap="RdBu_r", vmin=-(bound or 1.0), vmax=bound or 1.0,
                      aspect="auto", interpolation="nearest")
    ax.set_yticks(np.arange(k), [f"{j} ({sizes[j]})" for j in range(k)], fontsize=8)
    ax.set_xticks(np.arange(len(columns)), [names[c] for c in columns], rotation=90, fontsize=7)
    ax.set_ylabel("cluster (size)")
    fig.colorbar(image, ax=ax, label="cluster mean - mean of all (SDs)")
    figure = _figure_html(_png(fig), "feature profile of the clusters",
                          "Each cluster's mean of every feature, as standard deviations from the mean of all "
                          f"samples: red above, blue below.{note}")
    # one key besides the features' names, which may be anything ('size', 'cluster')
    table = [{"cluster (samples)": f"{j} ({sizes[j]})",
              **{names[c]: None if sizes[j] == 0 else float(means[j, c]) for c in columns}} for j in range(k)]
    table.append({"cluster (samples)": f"all ({int(sizes.sum())})", **{names[c]: float(overall[c]) for c in columns}})
    return (figure + _table_section(table)
            + '<p class="caption">The means in the data\'s units; a cluster without samples has none.</p>')


def _refinement_section(history: list[dict[str, float]]) -> str:
    epochs = [int(r["epoch"]) for r in history]
    fig = _new_figure(9, 2.8)
    axes = fig.subplots(1, 3)
    marker = "." if len(epochs) < 40 else None
    for ax, (key, label, scale) in zip(axes, (("model_loss", "model loss", 1.0), ("kl", "KL(P || Q)", 1.0),
                                              ("changed", "labels changed (%)", 100.0))):
        ax.plot(epochs, [scale * float(r[key]) for r in history], marker=marker)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    last = history[-1]
    return _figure_html(_png(fig), "refinement curves",
                        f"IDEC's joint training, {counted(len(history), 'epoch')}: the autoencoder's own loss, the "
                        "clustering loss (KL divergence of the assignments from their sharpened target) and the "
                        f"share of labels that changed each epoch (last {100 * last['changed']:.2f}%; training "
                        "stops below 0.1%).")


def _labels_section(agreement: LabelAgreement, codes: np.ndarray, y: np.ndarray,
                    class_names: list[str] | None) -> str:
    metrics = [{"accuracy": agreement.accuracy, "NMI": agreement.nmi, "ARI": agreement.ari,
                "clusters": len(agreement.counts), "classes": len(agreement.class_names)}]
    parts = [_table_section(metrics),
             '<p class="caption">The labels are not used to cluster, only to judge. accuracy: the share of samples '
             "in the class matched to their cluster, clusters and classes paired one-to-one to make it largest "
             "(Hungarian matching; with more clusters than classes, the unpaired clusters count as wrong). NMI: "
             "normalized mutual information; ARI: adjusted Rand index (0 for chance, 1 for a perfect match).</p>"]
    table = [{"cluster \\ class": j, **{name: int(c) for name, c in zip(agreement.class_names, row)},
              "matched class": agreement.matched.get(j, "")} for j, row in enumerate(agreement.counts)]
    parts.append("<h3>Contingency table</h3>" + _table_section(table)
                 + '<p class="caption">Samples of each class (columns) in each cluster (rows), and the class each '
                 "cluster is paired with.</p>")
    rows = _sample_rows(len(codes))
    parts.append("<h3>Latent map by class</h3>" + _latent_section((codes[rows], y[rows]), class_names))
    return "\n".join(parts)


def _feature_names(X: Any, clustering: LatentClustering, n_features: int) -> list[str]:
    """The table's column names, else those the clustering was fitted on, else x0, x1, ..."""
    if isinstance(X, pd.DataFrame) and X.shape[1] == n_features:
        return [str(c) for c in X.columns]
    fitted = getattr(clustering, "feature_names_in_", None)
    if fitted is not None and len(fitted) == n_features:
        return [str(c) for c in fitted]
    return [f"x{j}" for j in range(n_features)]


def write_clustering_report(path: str | os.PathLike[str], clustering: LatentClustering, X: Any, *,
                            y: Any = None, class_names: list[str] | None = None, clusters: Any = None,
                            title: str = "Clustering report", source: str | None = None) -> Path:
    """Write the report of a fitted ``clustering`` on data ``X``; returns the path.

    Sections: a summary (method, clusters, samples, inertia, the codes' silhouette score on at most 5000 rows
    drawn with seed 0), the cluster sizes, the latent map coloured by cluster with the centres, the prototypes
    (for images the decoded centres and each cluster's members nearest its centre; else each cluster's mean of
    every feature), the refinement curves for ``"idec"``, and, with ``y``, the agreement with the classes.

    Parameters
    ----------
    path : the .html file (written atomically).
    clustering : a fitted :class:`aekit.LatentClustering`.
    X : the data, as ``clustering.predict`` reads it (a DataFrame keeps its column names for the profile).
    y : array of shape (n_samples,) or None, class labels, only compared with the clusters.
    class_names : list of str or None, the name of each class index in ``y``.
    clusters : array of shape (n_samples,) or None, ``clustering.predict(X)`` if already computed.
    title : the heading; source : where ``X`` came from, for the summary.
    """
    from sklearn.metrics.pairwise import euclidean_distances

    autoencoder = clustering.autoencoder_
    n = len(X)
    if n == 0:
        raise AekitError("write_clustering_report needs at least one sample. Got 0. Pass the data to report on.")
    codes = autoencoder.transform(X).astype(np.float64)  # (n, latent_dim)
    clusters = clustering.predict(X) if clusters is None else np.asarray(clusters, dtype=np.int64).reshape(-1)
    centers = clustering.cluster_centers_
    k = len(centers)
    if len(clusters) != n or (n and (clusters.min() < 0 or clusters.max() >= k)):
        raise AekitError(f"clusters must hold one cluster id in [0, {k - 1}] per sample ({n}). Pass "
                         "clustering.predict(X), or leave it out.")
    squared = euclidean_distances(codes, centers, squared=True)  # (n, k), without an (n, k, latent_dim) array
    distances = np.sqrt(squared[np.arange(n), clusters])  # (n,) to the assigned centre
    sizes = np.bincount(clusters, minlength=k)
    silhouette, sampled = _silhouette(codes, clusters)
    params = autoencoder.get_params()
    notes = {
        "data": counted(n, "sample") + (f" ({source})" if source else ""),
        "method": {"kmeans": "kmeans: KMeans on the codes",
                   "gmm": "gmm: a Gaussian mixture (full covariances) on the codes",
                   "idec": f"idec: KMeans, then the autoencoder and the centres refined together for "
                           f"{counted(len(clustering.refine_history_), 'epoch')} (IDEC, cluster weight "
                           f"{clustering.cluster_weight:g})"}.get(clustering.method, str(clustering.method)),
        "clusters": f"{k}" + (f" ({int((sizes == 0).sum())} without samples here)" if (sizes == 0).any() else ""),
        "autoencoder": f"{params['model']}, latent_dim {autoencoder.config_.latent_dim}, "
                       f"{counted(len(getattr(autoencoder, 'history_', [])), 'training epoch')}",
        "inertia": f"{_format_value(float(squared.min(axis=1).sum()))}: the sum of squared distances of these "
                   f"samples' codes to their nearest centre ({_format_value(clustering.inertia_)} on the training "
                   "data)",
        "silhouette": "not defined: it needs at least 2 clusters with samples, and fewer clusters than samples",
    }
    if silhouette is not None:
        notes["silhouette"] = (f"{silhouette:.3f}: of the codes by cluster, on {counted(sampled, 'sample')}"
                               + (" drawn at random (seed 0)" if sampled < n else "")
                               + "; from -1 to 1, higher is better separated")
    agreement = None
    if y is not None:
        y = np.asarray(y).reshape(-1)
        agreement = compare_with_labels(y, clusters, k, class_names)
        notes["labels"] = (f"accuracy {agreement.accuracy:.3f}, NMI {agreement.nmi:.3f}, ARI {agreement.ari:.3f} "
                           f"against {counted(len(agreement.class_names), 'class', 'classes')} (not used to cluster)")
    sections = [("Summary", _notes_section(notes)), ("Cluster sizes", _sizes_section(sizes)),
                ("Latent space", _map_section(codes, clusters, centers))]
    shape = tuple(autoencoder.input_shape_)
    values = np.asarray(X)  # no float64 copy of a large image set: the figures convert what they show
    if len(shape) > 1 and _is_image_batch(values.reshape(n, *shape)):
        images = values.reshape(n, *shape)
        low, high = _value_range(images)
        decoded = np.asarray(autoencoder.inverse_transform(centers)).reshape(k, *shape)  # in the data's units
        sections.append(("Prototypes", _prototype_images(decoded, low, high)))
        sections.append(("Members", _member_images(images, clusters, distances, k, low, high)))
    else:
        flat = values.reshape(n, -1)
        sections.append(("Prototypes", _profile_section(flat, clusters, k, _feature_names(X, clustering,
                                                                                          flat.shape[1]))))
    if clustering.method == "idec" and clustering.refine_history_:
        sections.append(("Refinement", _refinement_section(clustering.refine_history_)))
    if agreement is not None:
        sections.append(("Labels", _labels_section(agreement, codes, y, class_names)))
    body = "\n".join(f"<section><h2>{_esc(name)}</h2>\n{content}\n</section>" for name, content in sections)
    return write_html(path, title=title, subtitle="Latent clustering report", body=body, what="clustering report")
