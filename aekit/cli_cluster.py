"""``aekit cluster``: cluster data in an autoencoder's latent space, assign new data, write the HTML report.

    aekit cluster fit DATA --n-clusters 10 --method idec --out RUN_DIR   # also RUN_DIR/clusters.csv, report.html
    aekit cluster predict RUN_DIR DATA -o clusters.csv                   # new data: the same columns
    aekit cluster report RUN_DIR DATA -o report.html                     # the report alone, on any data

DATA is read as ``aekit detect`` reads it: a CSV/TSV/TXT/Parquet table (its index, ``id`` or ``timestamp``
column names the rows), a ``.npy`` / ``.npz`` array, a folder of images (rows named by their files) or a built-in
data set name. Labels that DATA carries (a built-in data set's, a ``.npz``'s ``y``, an image folder's class
subfolders) are never clustered on; the report compares the clusters with them. Registered on the main group in
:mod:`aekit.cli`; errors end as one line on stderr through its ``main``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from aekit.cli_options import (
    check_image_options,
    check_images_like_fit,
    check_suffix,
    image_file_ids,
    image_options,
    parse_ints,
    read_like_fit,
    read_samples,
    remove_stale_outputs,
    report_arguments,
    report_path,
    training_image_size,
    warnings_unless_refused,
    write_table,
)
from aekit.errors import AekitError

echo = click.echo

# what 'aekit cluster fit' writes beside the clustering: the other commands never write over them
CLUSTERS_FILE = "clusters.csv"
REPORT_FILE = "report.html"
# options that describe the autoencoder: without any, LatentClustering picks its own
_AUTOENCODER_OPTIONS = ("model", "latent_dim", "hidden_dims", "input_shape", "epochs", "device")


def _article(word: str) -> str:
    """'a' or 'an' before ``word`` (a preset's name: 'a dense', 'an overcomplete')."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def _row_ids(X: Any, data: str) -> pd.Index:
    """Each row's id in the CSV: an image's path in its folder, a table's index (its id or time column), else the
    row number."""
    files = image_file_ids(data)
    if files is not None:
        return pd.Index(files, name="file")
    if isinstance(X, pd.DataFrame):
        return X.index.rename(X.index.name or "id")
    return pd.RangeIndex(len(X), name="id")


def _like_fit(clustering: Any, X: Any, source: str, data: str) -> Any:
    """``X`` checked against the data the clustering was fitted on (one line naming ``source`` when it differs),
    as its autoencoder reads it: a table with the fitted columns by name, images from a folder by their size and
    channels (naming --image-size / --color), else values per sample by count."""
    from aekit.data import check_column_names, check_features

    if isinstance(X, pd.DataFrame):
        fitted = getattr(clustering, "feature_names_in_", None)
        if fitted is not None:
            check_column_names(list(X.columns), list(fitted), source)
            return X
        X = X.to_numpy()  # fitted on an array or images: the values, by position
    check_images_like_fit(data, X, tuple(clustering.autoencoder_.input_shape_), source, "clustering")
    check_features(X, tuple(clustering.autoencoder_.input_shape_), source)
    return X


def _assignments(clustering: Any, X: Any, ids: pd.Index) -> pd.DataFrame:
    """One row per sample: its cluster, the confidence (its largest soft assignment) and its code's distance to
    the cluster's centre."""
    clusters, proba, distances = clustering.assign(X)  # (n,), (n, n_clusters), (n, n_clusters)
    return pd.DataFrame({"cluster": clusters, "confidence": proba.max(axis=1),
                         "distance": distances[np.arange(len(clusters)), clusters]}, index=ids)


def _sizes(clusters: np.ndarray, n_clusters: int) -> str:
    sizes = np.bincount(clusters, minlength=n_clusters)
    return ", ".join(f"{j}: {int(size)}" for j, size in enumerate(sizes))


def _agreement(y: np.ndarray | None, clusters: np.ndarray, n_clusters: int, class_names: list[str] | None) -> str:
    """A sentence on how the clusters match DATA's labels; '' without labels."""
    if y is None:
        return ""
    from aekit.cluster.report import compare_with_labels, counted

    agreement = compare_with_labels(y, clusters, n_clusters, class_names)
    classes = counted(len(agreement.class_names), "class", "classes")
    return (f"Against the data's {classes} (not used to cluster): accuracy {agreement.accuracy:.3f} (clusters "
            f"matched one-to-one to classes), NMI {agreement.nmi:.3f}, ARI {agreement.ari:.3f}.")


def _check_output(output: Path, run_dir: Path, data: str, option: str = "--output", *,
                  suffixes: tuple[str, ...] = ()) -> None:
    """Before any work: ``output`` ends in one of ``suffixes`` and writes over neither the clustering in
    ``run_dir``, nor the clusters and report that 'aekit cluster fit' wrote beside it, nor the data file."""
    from aekit.cluster.estimator import AUTOENCODER_DIR, CLUSTERING_FILE, STATE_FILE
    from aekit.io import check_output_path

    if suffixes:
        check_suffix(output, suffixes, option)
    data_files = [data] if Path(data).expanduser().exists() else []  # not built-in names (digits)
    check_output_path(output, option=option, protect=[*data_files, *(run_dir / name for name in (
        CLUSTERING_FILE, STATE_FILE, AUTOENCODER_DIR))])
    target = output.expanduser().resolve()
    for name, what in ((CLUSTERS_FILE, "clusters"), (REPORT_FILE, "report")):
        if (run_dir / name).is_file() and target == (run_dir / name).resolve():
            raise AekitError(f"{option} {output} would overwrite the {what} that 'aekit cluster fit' wrote beside the "
                             "clustering. Pass another path.")


def _read_for(run_dir: Path, data: str, image_size: Any, color: str | None
              ) -> tuple[Any, Any, pd.Index, str, np.ndarray | None, list[str] | None]:
    """The clustering in RUN_DIR, and DATA as read for it (images as the training images were, unless the user's
    --image-size / --color say otherwise): samples, row ids, description, labels and class names."""
    from aekit.cluster import LatentClustering

    clustering = LatentClustering.load(run_dir)
    image_size, color = read_like_fit(clustering.metadata_, data, image_size, color)
    with warnings_unless_refused():  # a header-less table refused for its columns: the error alone, one line
        X, source, y, class_names = read_samples(data, image_size, color)
        ids = _row_ids(X, data)  # a table's own ids, before _like_fit may take its values alone
        X = _like_fit(clustering, X, source, data)
    return clustering, X, ids, source, y, class_names


def _check_default_code_size(model: str, shape: tuple[int, ...], widths: tuple[int, ...] | None,
                             latent_dim: int) -> None:
    """Before training, where --latent-dim is not given: one line when preset ``model`` cannot have the default
    code size ``latent_dim`` for samples of ``shape`` (a VQ-VAE's code is whole vectors of 4: not 10), naming a
    size near it that it can have. The check builds the untrained model, which takes milliseconds."""
    import torch

    from aekit.model import Autoencoder
    from aekit.presets import PRESETS, build_config, option_names

    owns_widths = widths is not None and "hidden_dims" in option_names(PRESETS.get(model)())
    options = {"hidden_dims": list(widths)} if owns_widths else None  # else the autoencoder says what is wrong

    def refusal(size: int) -> str | None:
        try:
            with torch.random.fork_rng(devices=[]):  # the caller's random numbers stay as they were
                Autoencoder(build_config(model, input_shape=shape, latent_dim=size, options=options),
                            warn_identity=False)
        except AekitError as exc:
            return str(exc)
        return None

    reason = refusal(latent_dim)
    if reason is None:
        return
    nearest = sorted(range(1, 2 * latent_dim + 1), key=lambda size: (abs(size - latent_dim), size))[1:9]
    fits = next((size for size in nearest if refusal(size) is None), None)
    if fits is None:  # not the code size: the autoencoder's fit says what is wrong, in its words
        return
    if " instead." in reason:  # what is wrong, without the part's own advice (an option the command lacks)
        reason = reason[:reason.rindex(" instead.") + len(" instead.")]
    raise AekitError(f"The default code size {latent_dim} does not suit --model {model}: {reason} Pass --latent-dim, "
                     f"e.g. --latent-dim {fits}.")


@click.group()
def cluster() -> None:
    """Clustering in latent space: fit, predict, report.

    Clusters the codes of an autoencoder trained on unlabeled data (KMeans, a Gaussian mixture, or IDEC, which
    refines the autoencoder and the clusters together), assigns new data to the clusters, and reports on them.
    """


@cluster.command("fit")
@click.argument("data")
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Run directory for the clustering, clusters.csv and report.html.")
@click.option("--n-clusters", type=int, default=8, show_default=True, help="Number of clusters.")
@click.option("--method", default=None,
              help="kmeans (KMeans on the codes), gmm (a Gaussian mixture on the codes) or idec (KMeans, then the "
                   "autoencoder and the centres trained together to tighten the clusters). Default: "
                   "LatentClustering's.")
@click.option("--model", default="dense", show_default=True, help="Autoencoder preset: see 'aekit list-models'.")
@click.option("--latent-dim", type=int, default=None, help="Code size (default: 10, at most half the features).")
@click.option("--hidden-dims", default=None, help="Layer widths (conv: channels per stage), e.g. 256,128.")
@click.option("--input-shape", default=None, help="Shape of one image for flat rows, e.g. 1,28,28.")
@click.option("--epochs", type=int, default=None, help="Most epochs of autoencoder training (default 50).")
@image_options
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--report/--no-report", default=True, show_default=True, help="Write RUN_DIR/report.html.")
@click.option("--overwrite", is_flag=True, help="Replace the clustering already in --out (its other files stay).")
def fit_command(data: str, out: Path, n_clusters: int, method: str | None, model: str, latent_dim: int | None,
                hidden_dims: str | None, input_shape: str | None, epochs: int | None, image_size: Any,
                color: str | None, seed: int, device: str, report: bool, overwrite: bool) -> None:
    """Cluster DATA in latent space; save to --out.

    Trains an autoencoder on DATA (unlabeled), clusters its codes and saves both to --out. Also writes
    RUN_DIR/clusters.csv (each row's id, cluster, confidence and distance to its centre) and RUN_DIR/report.html.
    Labels DATA carries (a built-in data set's, a .npz's y, class subfolders of images) are not used to cluster;
    the report compares the clusters with them.
    """
    from aekit.cli import _reads_tokens
    from aekit.cluster.estimator import CLUSTERING_FILE, FORMAT, check_save_path
    from aekit.cluster.report import counted
    from aekit.io import check_output_folder

    check_output_folder(out, FORMAT, option="--out", file=CLUSTERING_FILE)  # another aekit kind: that, first
    # the user's own files there (clusters.csv, report.html, an autoencoder/ folder) or the current directory:
    # refused before the data is read or anything trained, not once saving would replace them
    check_save_path(out, option="--out")
    replacing = (out / CLUSTERING_FILE).is_file()
    if replacing and not overwrite:  # its clusters may be in use
        raise AekitError(f"--out {out} holds a fitted clustering ({CLUSTERING_FILE}); fitting again would replace it. "
                         "Pass --overwrite to replace it, or another folder.")
    widths = parse_ints(hidden_dims, name="hidden-dims")
    shape_given = parse_ints(input_shape, name="input-shape")
    if _reads_tokens(model):  # also refuses an unknown preset, before the data is read
        raise AekitError(f"aekit cluster clusters numbers (tables, arrays, images); model {model!r} reads text. Pick "
                         "a model of numbers: see 'aekit list-models'.")
    check_image_options(data, image_size, color)
    X, source, y, class_names = read_samples(data, image_size, color)
    if n_clusters > len(X):  # as LatentClustering.fit refuses it, but naming DATA and the flag
        raise AekitError(f"--n-clusters {n_clusters} is more than the {counted(len(X), 'sample')} of {source}. Pass "
                         f"--n-clusters {len(X)} or fewer, or more data.")
    from aekit import AutoEncoder, LatentClustering
    from aekit.cluster import default_latent_dim
    from aekit.estimator import sample_shape

    ctx = click.get_current_context()
    autoencoder = None
    if any(ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT for name in _AUTOENCODER_OPTIONS):
        # a model of images for a table, or an --input-shape of another size: before training
        shape = sample_shape(model, tuple(np.shape(X)[1:]), shape_given)
        if latent_dim is None:  # the code size LatentClustering's own autoencoder would have
            latent_dim = default_latent_dim(math.prod(shape))
            _check_default_code_size(model, shape, widths, latent_dim)  # a size the user never typed
        options: dict[str, Any] = {"max_epochs": epochs} if epochs is not None else {}
        autoencoder = AutoEncoder(model=model, latent_dim=latent_dim, hidden_dims=widths, input_shape=shape_given,
                                  device=device, **options)  # seeded by the clustering, as its own would be
    # the library's default method unless one is given: the command never drifts from it
    clustering = LatentClustering(n_clusters, autoencoder=autoencoder, random_state=seed,
                                  **({"method": method} if method is not None else {}))
    started = time.perf_counter()
    clustering.fit(X)
    seconds = time.perf_counter() - started
    frame = _assignments(clustering, X, _row_ids(X, data))
    # what described the replaced clustering (its clusters, its reports) goes before this one is saved: a run
    # stopped after the save leaves this clustering with fewer files, never beside the previous one's figures
    stale = remove_stale_outputs(out, report_written=False, files=(CLUSTERS_FILE,)) if replacing else []
    # later commands read images as these were: resized (to their size as read, unless --image-size) and converted
    clustering.save(out, metadata={"image_size": training_image_size(data, image_size, X),
                                   "color": color or "grayscale"})
    write_table(out / CLUSTERS_FILE, frame)
    clusters = frame["cluster"].to_numpy()
    ae = clustering.autoencoder_
    preset = ae.get_params()["model"]
    echo(f"Clustered {counted(len(frame), 'sample')} of {source} into {counted(n_clusters, 'cluster')} "
         f"({clustering.method}) in the {ae.config_.latent_dim}-dimensional codes of {_article(preset)} {preset} "
         f"autoencoder, in {seconds:.1f}s.")
    echo(f"Cluster sizes: {_sizes(clusters, n_clusters)}.")
    agreement = _agreement(y, clusters, n_clusters, class_names)
    if agreement:
        echo(agreement)
    echo(f"Clusters: {out / CLUSTERS_FILE}")
    if report:
        from aekit.cluster.report import write_clustering_report

        path = write_clustering_report(out / REPORT_FILE, clustering, X, y=y, class_names=class_names,
                                       clusters=clusters, title=f"Clusters in {Path(data).name}", source=source)
        echo(f"Report: {path}")
    written = {CLUSTERS_FILE, REPORT_FILE} if report else {CLUSTERS_FILE}
    stale = [path for path in stale if path.name not in written]  # those written again are this clustering's
    if stale:
        echo(f"Removed the previous clustering's {', '.join(p.name for p in stale)} from {out}; 'aekit cluster "
             f"report {out} DATA' writes one for this clustering.")
    echo(f"Saved to {out}")


@cluster.command("predict")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.argument("data")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="CSV of each row's id (row number, table index or timestamp, image file), cluster, confidence "
                   "(its largest soft assignment) and distance (of its code to the cluster's centre).")
@image_options
def predict_command(run_dir: Path, data: str, output: Path, image_size: Any, color: str | None) -> None:
    """Assign DATA to RUN_DIR's clusters.

    Writes one CSV row per sample, as 'fit' writes its clusters.csv; DATA is read as the training data was.
    """
    from aekit.cluster.report import counted

    _check_output(output, run_dir, data, suffixes=(".csv",))
    clustering, X, ids, source, y, class_names = _read_for(run_dir, data, image_size, color)
    frame = _assignments(clustering, X, ids)
    write_table(output, frame)
    k = len(clustering.cluster_centers_)
    clusters = frame["cluster"].to_numpy()
    echo(f"Assigned {counted(len(frame), 'sample')} of {source} to {counted(k, 'cluster')}: {_sizes(clusters, k)}.")
    agreement = _agreement(y, clusters, k, class_names)
    if agreement:
        echo(agreement)
    echo(f"Wrote {output}")


@cluster.command("report")
@report_arguments
def report_command(run_dir: Path, data: str, output: Path | None, image_size: Any, color: str | None) -> None:
    """Write an HTML report of RUN_DIR's clusters on DATA.

    The cluster sizes, the latent map, the clusters' prototypes (decoded centres and nearest members for images,
    feature means for tables), the refinement curves for idec and, when DATA carries labels, accuracy, NMI, ARI
    and the contingency table.
    """
    from aekit.cluster.report import write_clustering_report

    output = report_path(output, run_dir, data)
    _check_output(output, run_dir, data)
    clustering, X, _, source, y, class_names = _read_for(run_dir, data, image_size, color)
    path = write_clustering_report(output, clustering, X, y=y, class_names=class_names,
                                   title=f"Clusters in {Path(data).name}", source=source)
    echo(f"Report: {path}")
