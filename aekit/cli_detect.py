"""``aekit detect``: fit an anomaly detector, score new data, write the HTML report.

    aekit detect fit DATA --model dense --contamination 0.05 --out RUN_DIR
    aekit detect fit series.csv --window-size 64 --out RUN_DIR          # time series: scores per time step
    aekit detect score RUN_DIR DATA -o scores.csv --report report.html
    aekit detect report RUN_DIR DATA -o report.html                      # the report alone, on any data

DATA is a CSV/TSV/TXT/Parquet table (a ``timestamp``/``time``/``date`` column becomes the row id), a ``.npy`` /
``.npz`` array, a folder of images, or a built-in data set name. Registered on the main group in
:mod:`aekit.cli`; errors end as one line on stderr through its ``main``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from aekit.cli_options import (
    HTML_SUFFIXES,
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
from aekit.errors import AekitError, name_list

echo = click.echo


def _check_like(X: Any, source: str, X_train: Any) -> None:
    """One line when ``X`` (clean data for --fpr) is not shaped like the training data."""
    from aekit.data import check_column_names

    if isinstance(X, pd.DataFrame) and isinstance(X_train, pd.DataFrame):
        check_column_names(list(X.columns), list(X_train.columns), source)
    elif np.shape(X)[1:] != np.shape(X_train)[1:]:
        raise AekitError(f"The data ({source}) has samples of shape {np.shape(X)[1:]}, the training data "
                         f"{np.shape(X_train)[1:]}. Pass data shaped like the training data.")


def _number_or_auto(text: str, option: str, number: type[float] | type[int] = float) -> float | int | str:
    """``--latent-weight`` / ``--level-weight`` (numbers), ``--coarse-factor`` and ``--n-estimators`` (whole
    numbers): "auto" or a number; the detector checks its range."""
    if text == "auto":
        return text
    try:
        return number(text)
    except ValueError:
        expected = "a whole number >= 1" if number is int else "a number >= 0"
        raise AekitError(f"{option} must be {expected} or 'auto'. Got {text!r}.") from None


@click.group()
def detect() -> None:
    """Anomaly detection: fit a detector on unlabeled data, score new data, report."""


@detect.command("fit")
@click.argument("data")
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Run directory for the detector and report.html.")
@click.option("--model", default="dense", show_default=True, help="Autoencoder preset: see 'aekit list-models'.")
@click.option("--contamination", type=float, default=0.1, show_default=True,
              help="Expected share of anomalies in DATA, in (0, 0.5]; sets the threshold.")
@click.option("--fpr", type=float, default=None,
              help="Instead: target false-positive rate on --clean data (known to hold no anomalies).")
@click.option("--clean", default=None, help="Clean validation data for --fpr.")
@click.option("--threshold", "fixed_threshold", type=float, default=None, help="Instead: a fixed score threshold.")
@click.option("--window-size", type=int, default=None, help="Time series: window length in steps.")
@click.option("--window-stride", type=int, default=1, show_default=True, help="Time series: steps between windows.")
@click.option("--latent-dim", type=int, default=None, help="Code size (default: from the number of features).")
@click.option("--epochs", type=int, default=None, help="Epochs per member (default: about 500 steps).")
@click.option("--n-estimators", default="auto", show_default=True,
              help="Autoencoders in the ensemble (auto: 10 for tables and dense windows, 3 for images and "
                   "sequence models).")
@click.option("--error", default="auto", show_default=True,
              help="auto, squared, absolute or standardized; for VAEs also likelihood (-log p(x) bound, their auto) "
                   "or reconstruction_probability.")
@click.option("--latent-score", default="auto", show_default=True,
              help="Latent term: isolation (isolation forest on the codes), mahalanobis, or auto (isolation for "
                   "series, mahalanobis otherwise).")
@click.option("--latent-weight", default="auto", show_default=True,
              help="Weight of the latent term, >= 0 (auto: 0.5 for tables and images, 5 for series).")
@click.option("--level-weight", default="auto", show_default=True,
              help="Series: weight of the level term (how unusual each channel's window mean is), >= 0.")
@click.option("--coarse-factor", default="auto", show_default=True,
              help="Series: also score the series averaged over blocks of this many steps, 1 for none (auto: 4).")
@click.option("--trim", type=float, default=0.1, show_default=True,
              help="Share of the highest-scoring rows left out of the robust refit (0: one pass).")
@click.option("--input-shape", default=None, help="Shape of one image for flat rows, e.g. 1,28,28.")
@image_options
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--report/--no-report", default=True, show_default=True, help="Write RUN_DIR/report.html.")
@click.option("--overwrite", is_flag=True, help="Replace the detector already in --out (its other files stay).")
def fit_command(data: str, out: Path, model: str, contamination: float, fpr: float | None, clean: str | None,
                fixed_threshold: float | None, window_size: int | None, window_stride: int, latent_dim: int | None,
                epochs: int | None, n_estimators: str, error: str, latent_score: str, latent_weight: str,
                level_weight: str, coarse_factor: str, trim: float, input_shape: str | None, image_size: Any,
                color: str | None, seed: int, device: str, report: bool, overwrite: bool) -> None:
    """Fit a detector on DATA (unlabeled) and save it to --out."""
    from aekit.anomaly import AnomalyDetector
    from aekit.anomaly.detector import DETECTOR_FILE, check_save_path

    if fpr is not None and clean is None:
        raise AekitError("--fpr needs --clean DATA, data known to hold no anomalies. Pass --clean, or drop --fpr.")
    if fpr is not None and fixed_threshold is not None:
        raise AekitError("Pass at most one of --fpr and --threshold. Drop one of them.")
    given = click.get_current_context().get_parameter_source("contamination") != click.core.ParameterSource.DEFAULT
    if given and (fpr is not None or fixed_threshold is not None):
        other = "--fpr" if fpr is not None else "--threshold"
        raise AekitError(f"--contamination sets the threshold, and so does {other}. Pass one of them.")
    if clean is not None and fpr is None:
        raise AekitError("--clean is only read to set the threshold by --fpr. Pass --fpr RATE, or drop --clean.")
    check_save_path(out, option="--out")  # before training, not after
    replacing = (out / DETECTOR_FILE).is_file()
    if replacing and not overwrite:  # its scores and thresholds may be in use
        raise AekitError(f"--out {out} holds a fitted detector ({DETECTOR_FILE}); fitting again would replace it. Pass "
                         "--overwrite to replace it, or another folder.")
    check_image_options(data, image_size, color)
    X, source, _, _ = read_samples(data, image_size, color, series=window_size is not None)
    X_clean = None
    if clean is not None:  # read and checked before training, not after
        check_image_options(clean, image_size, color)
        X_clean, clean_source, _, _ = read_samples(clean, image_size, color, series=window_size is not None)
        _check_like(X_clean, clean_source, X)
    detector = AnomalyDetector(
        model=model, contamination=contamination, latent_dim=latent_dim, max_epochs=epochs,
        n_estimators=_number_or_auto(n_estimators, "--n-estimators", int), error=error, latent_score=latent_score,
        latent_weight=_number_or_auto(latent_weight, "--latent-weight"),
        level_weight=_number_or_auto(level_weight, "--level-weight"),
        coarse_factor=_number_or_auto(coarse_factor, "--coarse-factor", int),
        trim=trim, window_size=window_size, window_stride=window_stride,
        input_shape=parse_ints(input_shape, name="input-shape"), random_state=seed, device=device,
    )
    started = time.perf_counter()
    detector.fit(X)
    seconds = time.perf_counter() - started
    if fpr is not None:
        detector.set_threshold(fpr=fpr, X_clean=X_clean)
    elif fixed_threshold is not None:
        detector.set_threshold(value=fixed_threshold)
    # later commands read images as these were: resized and converted the same way
    detector.save(out, metadata={"image_size": training_image_size(data, image_size, X),
                                 "color": color or "grayscale"})
    unit = "time steps" if detector.kind_ == "series" else "rows"
    coarse = (f" (and {detector.coarse_.n_estimators_} more on its blocks of {detector.coarse_factor_} steps, the "
              "coarse scale)" if detector.coarse_ is not None else "")
    echo(f"Fitted {detector.n_estimators_} {model} autoencoder(s) on {len(detector.decision_scores_)} {unit} of "
         f"{source}{coarse} "
         f"in {seconds:.1f}s; threshold {detector.threshold_:.4g} ({detector.threshold_info_['method']}) flags "
         f"{int(detector.labels_.sum())} training {unit}.")
    if detector.constant_features_:
        echo(f"Left out {len(detector.constant_features_)} constant feature(s): "
             f"{name_list(detector.constant_features_)}.")
    if report:
        from aekit.anomaly.report import write_detection_report

        path = write_detection_report(out / "report.html", detector, X, title=f"Anomalies in {Path(data).name}")
        echo(f"Report: {path}")
    # the replaced detector's reports: their figures would be taken for this one's
    stale = remove_stale_outputs(out, report_written=report) if replacing else []
    if stale:
        echo(f"Removed the previous detector's {', '.join(p.name for p in stale)} from {out}; 'aekit detect report "
             f"{out} DATA' writes one for this detector.")
    echo(f"Saved to {out}")


def _explained(run_dir: Path, data: str, image_size: Any, color: str | None) -> tuple[Any, Any, Any, bool]:
    """The detector in RUN_DIR, DATA as read for it (images as the training images were, unless the user's
    --image-size / --color say otherwise), DATA's explanation (an image folder's rows known by their files), and
    whether DATA is such a folder."""
    from aekit.anomaly import AnomalyDetector
    from aekit.data import check_column_names

    detector = AnomalyDetector.load(run_dir)
    image_size, color = read_like_fit(detector.metadata_, data, image_size, color)
    with warnings_unless_refused():  # a header-less table refused for its columns: the error alone, one line
        X, source, _, _ = read_samples(data, image_size, color, series=detector.kind_ == "series")
        check_images_like_fit(data, X, detector.input_shape_full_, source, "detector")
        if isinstance(X, pd.DataFrame):
            check_column_names(list(X.columns), getattr(detector, "feature_names_in_", None), source)
    explanation = detector.explain(X)
    files = image_file_ids(data)
    if files is not None:  # images from a folder: a row is known by its file
        explanation.index = files
    return detector, X, explanation, files is not None


@detect.command("score")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.argument("data")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="CSV of id (row or timestamp), score, label, the label's confidence and the top contributing "
                   "features.")
@click.option("--top", type=int, default=3, show_default=True, help="Contributing features listed per row.")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write an HTML report here.")
@image_options
def score_command(run_dir: Path, data: str, output: Path, top: int, report_path: Path | None,
                  image_size: Any, color: str | None) -> None:
    """Score DATA with the detector in RUN_DIR and write one CSV row per sample (or time step)."""
    from aekit.anomaly.calibration import label_confidence
    from aekit.anomaly.detector import detector_files
    from aekit.io import check_output_path

    if top < 1:
        raise AekitError(f"--top must be at least 1. Got {top} instead.")
    reads = [data, *detector_files(run_dir)]
    check_suffix(output, (".csv",))
    check_output_path(output, option="--output", protect=reads)
    if report_path is not None:
        check_suffix(report_path, HTML_SUFFIXES, "--report")
        check_output_path(report_path, option="--report", protect=[*reads, output])
    detector, X, explanation, from_files = _explained(run_dir, data, image_size, color)
    labels = (explanation.scores > detector.threshold_).astype(int)
    frame = explanation.to_frame(top, labels=labels)
    frame.insert(frame.columns.get_loc("label") + 1, "confidence",
                 label_confidence(explanation.scores, detector.decision_scores_, detector.threshold_))
    dates = detector.kind_ == "series" and np.asarray(explanation.index).dtype.kind in "OM"
    frame.index.name = (explanation.index_name  # the file's own name for it
                        or ("timestamp" if dates else "file" if from_files else "id"))
    write_table(output, frame)
    echo(f"Scored {len(frame)} {'time steps' if detector.kind_ == 'series' else 'rows'}: {int(labels.sum())} above "
         f"the threshold {detector.threshold_:.4g}. Wrote {output}")
    if report_path is not None:
        from aekit.anomaly.report import write_detection_report

        write_detection_report(report_path, detector, X, explanation=explanation,
                               title=f"Anomalies in {Path(data).name}")
        echo(f"Report: {report_path}")


@detect.command("report")
@report_arguments
def report_command(run_dir: Path, data: str, output: Path | None, image_size: Any, color: str | None) -> None:
    """Write an HTML report of the detector in RUN_DIR on DATA: the score histogram with the threshold, the top
    anomalies with their explanations, and for a series the series with its scores and flagged windows."""
    from aekit.anomaly.detector import detector_files
    from aekit.anomaly.report import write_detection_report
    from aekit.io import check_output_path

    output = report_path(output, run_dir, data)
    check_output_path(output, option="--output", protect=[data, *detector_files(run_dir)])
    detector, X, explanation, _ = _explained(run_dir, data, image_size, color)
    path = write_detection_report(output, detector, X, explanation=explanation,
                                  title=f"Anomalies in {Path(data).name}")
    echo(f"Report: {path}")
