"""The ``aekit`` command line: train, evaluate, encode, reconstruct, info, sweep, export, demo, list-models, generate.

Every command is a thin layer over the Python API. Bad input ends with one line on stderr and a non-zero exit
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np

from aekit.cli_options import (
    HTML_SUFFIXES,
    check_image_options,
    check_images_like_fit,
    check_suffix,
    image_options,
    parse_ints,
    read_like_fit,
    remove_stale_outputs,
    training_image_size,
    warnings_unless_refused,
)
from aekit.errors import AekitError, AekitWarning, did_you_mean

echo = click.echo


# ------------------------------------------------------------------------------------------- helpers
def _parse_value(text: str) -> Any:
    """``--set`` values: JSON when it parses (numbers, lists, true/false/null), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_sets(pairs: list[str] | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AekitError(f"--set expects key=value, like --set dropout=0.1. Got {pair!r} instead.")
        options[key.strip()] = _parse_value(value.strip())
    return options


def _load_config_file(ctx: click.Context, param: click.Parameter, path: Path | None) -> Path | None:
    """``--config FILE`` (YAML or TOML): its keys become the command's defaults, so flags still override."""
    if path is None:
        return None
    if not path.is_file():
        raise AekitError(f"No such config file: '{path}'. Check the path given to --config.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            values = tomllib.loads(text)
        else:
            import yaml

            values = yaml.safe_load(text) or {}
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        detail = " ".join(str(exc).split())  # PyYAML quotes the offending lines over several
        raise AekitError(f"Cannot parse config file '{path}': {detail}. Fix the file (YAML or TOML).") from None
    if not isinstance(values, dict):
        raise AekitError(f"Config file '{path}' must hold a mapping of option names to values.")
    # file keys are the long flag names: latent_dim / latent-dim, set (a mapping), hidden_dims (a list)
    params = {p.name: p for p in ctx.command.params}
    names = {p.name.rstrip("_"): p.name for p in ctx.command.params if p.name not in ("config", "data", "run_dir")}
    defaults: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in names:
            keys = sorted(n.replace("_", "-") for n in names)
            raise AekitError(f"Unknown option {key!r} in config file '{path}'. Valid options: {', '.join(keys)}."
                             f"{did_you_mean(str(key).replace('_', '-'), keys)}")
        if name == "set" and isinstance(value, dict):
            value = [f"{k}={json.dumps(v)}" for k, v in value.items()]
        elif isinstance(value, list) and name in ("hidden_dims", "input_shape", "latent_dims"):
            value = ",".join(str(v) for v in value)
        defaults[names[name]] = _config_value(params[names[name]], value, key, path, ctx)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return path


def _config_value(param: click.Parameter, value: Any, key: str, path: Path, ctx: click.Context) -> Any:
    """A config file's value for ``param``, checked as the flag's own type would check it: Click alone would
    truncate 4.5 to an int, read a list as text, or fail on a mapping with a traceback."""
    kind = param.type
    multiple = getattr(param, "multiple", False)
    if multiple and isinstance(value, str):  # 'set: dropout=0.1', one of several values
        value = [value]
    wrong = isinstance(value, dict) or (isinstance(value, list) and not multiple)
    if isinstance(kind, click.types.IntParamType) and not wrong:
        wrong = isinstance(value, bool) or (isinstance(value, float) and not value.is_integer())
    if isinstance(kind, click.types.FloatParamType) and isinstance(value, bool):
        wrong = True
    if isinstance(kind, click.types.BoolParamType) and not isinstance(value, bool):
        wrong = True
    if not wrong:
        try:
            return param.type_cast_value(ctx, value)
        except (click.BadParameter, TypeError, ValueError):
            pass
    expected = {"integer": "a whole number", "float": "a number", "boolean": "true or false"}.get(
        kind.name, f"one of {', '.join(kind.choices)}" if isinstance(kind, click.Choice) else "text")
    if multiple:
        expected = f"a list, each {expected}" + (" (KEY=VALUE), or a mapping" if param.name == "set_" else "")
    raise AekitError(f"{key!r} in config file '{path}' must be {expected}. Got {value!r} instead.")


def _relaunch_distributed(devices: int) -> None:
    """Re-run this very command under torchrun with ``devices`` processes, then exit with its status."""
    argv = sys.argv[1:]
    cleaned: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--devices":
            skip = True
            continue
        if arg.startswith("--devices="):
            continue
        cleaned.append(arg)
    command = [sys.executable, "-m", "aekit.training.launch", "--standalone", f"--nproc_per_node={devices}",
               "-m", "aekit", *cleaned]
    logging.getLogger(__name__).info("Launching %s", " ".join(command))
    raise SystemExit(subprocess.call(command))


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _echo(message: str) -> None:
    if _is_main_process():
        echo(message)


def _load_data(data: str, image_size: int | None, color: str | None) -> Any:
    """DATA as a dataset (callers check the user's own --image-size / --color with check_image_options)."""
    from aekit.data import load_dataset

    return load_dataset(data, image_size=image_size, color_mode=color or "grayscale")


def _where(data: str) -> str:
    """DATA as stored with a model: a file or folder by its absolute path (later commands may run elsewhere), a
    built-in data set by its name."""
    path = Path(data).expanduser()
    return str(path.resolve()) if path.exists() else data


def _reads_tokens(model: str) -> bool:
    """Whether preset ``model`` reads token ids (text) rather than numeric features."""
    from aekit.parts import BACKBONES
    from aekit.presets import PRESETS

    return BACKBONES.get(PRESETS.get(model)().backbone.name).input_kind == "tokens"


def _load_for(estimator: Any, data: str, image_size: int | None, color: str | None, *,
              rows: str | None = None) -> np.ndarray:
    """DATA loaded and checked against a trained model's sample shape, the file named in any error. ``rows``
    names what the command writes a row of per sample ("codes"): then a text model's DATA must have a sample per
    line (:func:`_check_a_sample_per_line`)."""
    return _load_labelled_for(estimator, data, image_size, color, rows=rows)[0]


def _check_a_sample_per_line(text: Any, data: str, rows: str) -> None:
    """One line when a text model would cut a line of DATA (``text``, as the model reads it) into several samples,
    as it does with lines longer than its max_len: the command's ``rows`` (codes, reconstructions) would then not
    be the file's lines, one for one. Chunked text (``--split chunks``) is samples of the whole text by design."""
    if text.split != "lines":
        return
    from collections import Counter

    pieces = Counter(text.owners)
    long = [owner for owner, n in pieces.items() if n > 1]
    if not long:
        return
    lengths = Counter()
    for owner, line in zip(text.owners, text.lines):
        lengths[owner] += len(line)
    longest = max(lengths.values())
    raise AekitError(f"{len(long)} of the {len(pieces)} lines with text of {data} are longer than this model's "
                     f"max_len of {text.max_len} characters (the longest has {longest}): each would be cut into "
                     f"several samples, so the {rows} would not be one per line. Shorten or split those lines to "
                     f"{text.max_len} characters at most, or train a model with --max-len {longest} or more.")


def _text_for(estimator: Any, data: str) -> Any:
    """DATA as a text model reads it (``aekit.text.TextData``, with the model's tokenizer and split); None for
    other models."""
    meta = getattr(estimator, "metadata_", {}) or {}
    if "tokenizer" not in meta:
        return None
    from aekit.text import load_text, tokenizer_from_dict

    return load_text(data, max_len=estimator.input_shape_[0], tokenizer=tokenizer_from_dict(meta["tokenizer"]),
                     split=meta.get("split", "lines"))


def _load_labelled_for(estimator: Any, data: str, image_size: int | None, color: str | None, *,
                       rows: str | None = None) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """:func:`_load_for`, with the data set's labels and class names when it has them. ``image_size`` and
    ``color`` are the user's flags; None reads images as the model's training images were.

    Text models (their tokenizer is in the model's metadata) read DATA as text with that tokenizer.
    """
    from aekit.data import check_column_names, check_features

    meta = getattr(estimator, "metadata_", {}) or {}
    # images from a folder: read as the model's training images were, unless the flags say otherwise
    image_size, color = read_like_fit(meta, data, image_size, color)
    text = _text_for(estimator, data)
    if text is not None:
        if rows is not None:
            _check_a_sample_per_line(text, data, rows)
        return text.X, None, None
    with warnings_unless_refused():  # a header-less table refused for its columns: the error alone, one line
        dataset = _load_data(data, image_size, color)
        check_images_like_fit(data, dataset.X, estimator.input_shape_, dataset.source, "model")
        samples = check_features(dataset, estimator.input_shape_)
        check_column_names(dataset.feature_names, meta.get("feature_names"), dataset.source)
    samples = samples.reshape(len(samples), -1) if estimator.flat_input_ else samples
    return samples, dataset.y, dataset.class_names


def _pca_fit_data(estimator: Any, X: np.ndarray) -> tuple[np.ndarray, str]:
    """The data to fit a PCA baseline on, and a note saying which: the model's training data read again (as it was
    read for training: the model's metadata), else ``X`` (which flatters PCA)."""
    meta = getattr(estimator, "metadata_", None) or {}
    if meta.get("train_data"):
        try:
            return _load_for(estimator, meta["train_data"], None, None), \
                f"PCA fitted on the training data ({meta['train_data']})."
        except AekitError:
            pass
    return X, "PCA fitted on the evaluation data (the training data could not be read)."


def _against_pca(estimator: Any, X: np.ndarray, train_X: np.ndarray | None = None, *,
                 reference: np.ndarray | None = None) -> tuple[list[dict[str, Any]], str]:
    """The autoencoder's errors on ``X`` beside PCA's with as many components (``evaluate``'s table), and a note
    on the data PCA was fitted on: ``train_X``, else the model's training data read again, else ``X``. With a
    ``reference`` (clean versions of ``X``'s rows), outputs are scored against it (see ``compare_with_pca``)."""
    from aekit.evaluation import compare_with_pca

    note = "PCA fitted on the training data."
    if train_X is None:
        train_X, note = _pca_fit_data(estimator, X)
    image = len(estimator.input_shape_) > 1
    return compare_with_pca(estimator, np.asarray(train_X), np.asarray(X), image=image, reference=reference), note


def _features_against_pca(estimator: Any, data: str, image_size: int | None, color: str | None,
                          labels_file: str | None) -> tuple[list[dict[str, Any]], str]:
    """``evaluate --features``: the codes of DATA as features for its labels (``labels_file``'s, else those DATA
    carries), beside PCA's codes fitted as ``_against_pca`` fits it, and a note on that data."""
    from aekit.data.sources import read_labels
    from aekit.evaluation import compare_features

    X, y, class_names = _load_labelled_for(estimator, data, image_size, color, rows="labels")  # text: per line
    if labels_file is not None:
        y = read_labels(labels_file, len(X))
    elif y is not None and class_names is not None:  # classes by name (a subfolder's), as messages should say them
        y = np.asarray(class_names, dtype=object)[np.asarray(y, dtype=int)]
    if y is None:
        raise AekitError(f"--features needs DATA's class labels, and {data} carries none. Pass them with --labels "
                         "FILE (a label per sample), or use data that has them (class subfolders, an .npz with 'y').")
    if estimator.model_.likelihood.discrete:  # text: no PCA row, no training data to read for one
        return compare_features(estimator, X, X, y), "Text models are judged alone: PCA of token ids means nothing."
    train_X, note = _pca_fit_data(estimator, X)
    return compare_features(estimator, train_X, X, y), note


def _write_report(estimator: Any, data: str, X: np.ndarray, labels: np.ndarray | None,
                  class_names: list[str] | None, path: Path, *, held_out: bool,
                  tokenizer: dict[str, Any] | None = None) -> Path:
    """The model report; text models' rows are read back with ``tokenizer`` (else the one in their metadata)."""
    from aekit.report import write_model_report

    params = estimator.get_params()
    notes = {
        "data": f"{data}: {len(X)} samples of shape {tuple(np.shape(X)[1:])}"
                + ("" if held_out else " (the training data: reconstructions of seen samples)"),
        "model": f"{params['model']}, latent_dim {params['latent_dim']}, "
                 f"{sum(p.numel() for p in estimator.model_.parameters()):,} parameters",
        "training": f"{len(estimator.history_)} epochs, best epoch {estimator.best_epoch_}"
                    + (f" ({estimator.stopped_reason_})" if estimator.stopped_reason_ else ""),
    }
    tokenizer = tokenizer or (getattr(estimator, "metadata_", None) or {}).get("tokenizer")
    table = None
    if tokenizer is None:  # numbers: the errors beside PCA's, as 'aekit evaluate' prints them
        table, notes["metrics"] = _against_pca(estimator, X, None if held_out else X)
    return write_model_report(path, estimator, X, title=f"aekit: {params['model']} on {Path(str(data)).name}",
                              labels=labels, class_names=class_names, table=table, notes=notes, tokenizer=tokenizer)


def _check_output(output: Path, run_dir: Path, *data: str | None, suffixes: tuple[str, ...] = (),
                  option: str = "--output") -> None:
    """Before any work: ``output`` ends in one of ``suffixes`` and would overwrite neither the model in
    ``run_dir`` nor the data files the command reads."""
    from aekit.io import CONFIG_FILE, WEIGHTS_FILE, check_output_path
    from aekit.training.trainer import CHECKPOINT_FILE

    if suffixes:
        check_suffix(output, suffixes, option)
    files = [Path(d) for d in data if d is not None and Path(d).exists()]  # not built-in names (digits)
    check_output_path(output, option=option,
                      protect=[*(run_dir / name for name in (CONFIG_FILE, WEIGHTS_FILE, CHECKPOINT_FILE)), *files])


def _save_npy(path: Path, array: np.ndarray) -> None:
    from aekit.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def config_option(command: Any) -> Any:
    return click.option("--config", type=click.Path(path_type=Path, dir_okay=False), callback=_load_config_file,
                        is_eager=True, expose_value=False,
                        help="YAML or TOML file of option values; flags given here override it.")(command)


RUN_DIR = click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))


# ------------------------------------------------------------------------------------------ commands
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("--log-level", type=click.Choice(["warning", "info", "debug"]), default="warning", show_default=True,
              help="Logging level.")
@click.version_option(package_name="aekit", prog_name="aekit")
def cli(debug: bool, log_level: str) -> None:
    """Autoencoders for every job: train, evaluate against PCA, encode, reconstruct, export."""
    logging.basicConfig(level=getattr(logging, log_level.upper()), format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_SAY_ONCE)


class _SayOnce(logging.Filter):
    """A command says each distinct warning once: ``detect fit --report`` scores its data a second time for the
    report, and a warning about that data (its clock going back, say) would otherwise come twice. Warnings name
    the command's options as errors do (:func:`_in_cli_terms`); ``args`` is the command line being run."""

    def __init__(self) -> None:
        super().__init__()
        self.said: dict[tuple[str, str], logging.LogRecord] = {}  # each warning -> the record that said it
        self.args: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        if record not in self.said.values():  # the first handler to see it: once, in the command's terms
            record.msg, record.args = _in_cli_terms(record.getMessage(), self.args), ()
        # every handler of the root logger sees the first record (it is the same object); none sees a repeat
        return self.said.setdefault((record.name, record.getMessage()), record) is record


_SAY_ONCE = _SayOnce()


@cli.command()
@click.argument("data")
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Run directory: model, metrics.jsonl, checkpoint.")
@click.option("--model", default="dense", show_default=True, help="Preset: see 'aekit list-models'.")
@click.option("--latent-dim", type=int, default=8, show_default=True, help="Size of the code.")
@click.option("--hidden-dims", default=None, help="Layer widths (conv: channels per stage), e.g. 256,128.")
@click.option("--set", "set_", multiple=True, metavar="KEY=VALUE", help="A part option, repeatable: --set dropout=0.1.")
@click.option("--loss", default=None, help="mse, l1, bce or ce (default: the preset's).")
@click.option("--epochs", type=int, default=50, show_default=True, help="Maximum number of epochs.")
@click.option("--batch-size", type=int, default=128, show_default=True, help="Global batch size.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Learning rate.")
@click.option("--optimizer", default="adam", show_default=True, help="adam, adamw or sgd.")
@click.option("--weight-decay", type=float, default=0.0, show_default=True, help="Weight decay.")
@click.option("--schedule", default="constant", show_default=True, help="constant, cosine, onecycle or plateau.")
@click.option("--grad-clip", type=float, default=None, help="Clip the gradient norm to this value.")
@click.option("--validation-fraction", type=float, default=0.1, show_default=True,
              help="Share of rows held out for early stopping.")
@click.option("--patience", type=int, default=10, show_default=True, help="Epochs without improvement before stopping.")
@click.option("--early-stopping/--no-early-stopping", default=True, show_default=True,
              help="Stop when the validation loss stalls. Either way the model keeps its best epoch's weights.")
@click.option("--scaler", default="auto", show_default=True, help="auto, minmax, standard or none.")
@click.option("--input-shape", default=None, help="Shape of one sample for flat rows, e.g. 1,28,28.")
@image_options
@click.option("--max-len", type=int, default=64, show_default=True, help="Text models: tokens per sample.")
@click.option("--tokenizer", type=click.Choice(["char", "byte"]), default="char", show_default=True,
              help="Text models: character- or byte-level tokens.")
@click.option("--split", type=click.Choice(["lines", "chunks"]), default="lines", show_default=True,
              help="Text models: one sample per line, or fixed-length chunks of the whole text.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed: same seed, same model on CPU.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", default="auto", show_default=True, help="auto, 32, bf16-mixed or 16-mixed.")
@click.option("--devices", type=int, default=1, show_default=True,
              help="Processes for data-parallel training (DDP through torchrun).")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in --out.")
@click.option("--overwrite", is_flag=True,
              help="Train afresh over the model or checkpoint already in --out (its other files stay).")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write report.html (curves, reconstructions, latent map, code statistics) into --out.")
@config_option
def train(data: str, out: Path, model: str, latent_dim: int, hidden_dims: str | None, set_: tuple[str, ...],
          loss: str | None, epochs: int, batch_size: int, lr: float, optimizer: str, weight_decay: float,
          schedule: str, grad_clip: float | None, validation_fraction: float, patience: int, early_stopping: bool,
          scaler: str, input_shape: str | None, image_size: int | None, color: str | None, max_len: int, tokenizer: str,
          split: str, seed: int, device: str, precision: str, devices: int, resume: bool, overwrite: bool,
          report: bool) -> None:
    """Train an autoencoder on DATA.

    DATA is a .npy/.npz/.csv/.tsv/.txt/.parquet file, a folder of images, a text file for text
    models, or a built-in dataset (digits, iris, breast_cancer).
    """
    if devices < 1:
        raise AekitError(f"--devices must be at least 1. Got {devices} instead.")
    from aekit.io import CONFIG_FILE, check_output_folder
    from aekit.io import FORMAT as MODEL_FORMAT
    from aekit.training.trainer import CHECKPOINT_FILE, METRICS_FILE

    if resume and overwrite:
        raise AekitError("--resume continues the run in --out and --overwrite starts it afresh. Pass one of them.")
    check_output_folder(out, MODEL_FORMAT, option="--out")  # a config.json of another kind: that, not a model
    held = ([name for name in (CONFIG_FILE, CHECKPOINT_FILE) if (Path(out) / name).is_file()]
            or [name for name in (METRICS_FILE,) if (Path(out) / name).is_file()])  # a log alone: still a run's
    if held and not (resume or overwrite):  # a trained model, an interrupted run or a run's log would be lost
        what = ("a trained model" if CONFIG_FILE in held else "an interrupted run's checkpoint" if CHECKPOINT_FILE
                in held else "a run's per-epoch log")
        raise AekitError(f"--out {out} holds {what} ({', '.join(held)}); training afresh would replace it. Pass "
                         "--resume to continue it, --overwrite to replace it, or another folder.")
    if devices > 1 and "WORLD_SIZE" not in os.environ:
        _relaunch_distributed(devices)
    from aekit.estimator import AutoEncoder

    options = _parse_sets(list(set_))
    metadata: dict[str, Any] = {"train_data": _where(data), "image_size": image_size, "color": color or "grayscale"}
    check_image_options(data, image_size, color)
    if _reads_tokens(model):  # text: tokenize DATA, size the vocabulary, keep the tokenizer with the model
        from aekit.text import load_text

        text = load_text(data, max_len=max_len, tokenizer=tokenizer, split=split)
        options.setdefault("num_classes", text.tokenizer.vocab_size)
        metadata.update(tokenizer=text.tokenizer.to_dict(), split=split)
        samples, n_samples = text.X, len(text.X)
        labels = class_names = None
    else:
        dataset = _load_data(data, image_size, color)
        samples, n_samples = dataset.X, dataset.n_samples
        labels, class_names = dataset.y, dataset.class_names
        # later commands resize images from a folder to the size these had, also when --image-size was not given
        metadata["image_size"] = training_image_size(data, image_size, samples)
        if dataset.feature_names is not None:  # later commands check a table's columns against these
            metadata["feature_names"] = list(dataset.feature_names)
    estimator = AutoEncoder(
        model=model, latent_dim=latent_dim, hidden_dims=parse_ints(hidden_dims, name="hidden-dims"),
        model_options=options or None, loss=loss, max_epochs=epochs, batch_size=batch_size,
        lr=lr, optimizer=optimizer, weight_decay=weight_decay, schedule=schedule, grad_clip=grad_clip,
        validation_fraction=validation_fraction, early_stopping=early_stopping, patience=patience, scaler=scaler,
        input_shape=parse_ints(input_shape, name="input-shape"), random_state=seed, device=device,
        precision=precision, verbose=True,
    )
    fit_input = samples
    if metadata.get("feature_names") is not None and not isinstance(samples, np.memmap):
        import pandas as pd  # a table fitted with its column names: Python users of the model get them checked

        fit_input = pd.DataFrame(samples, columns=metadata["feature_names"], copy=False)
    started = time.perf_counter()
    made = [folder for folder in (out, *out.parents) if not folder.exists()]  # what this run may remove if it
    began = not (out / METRICS_FILE).exists()                                 # fails, and only that
    try:
        estimator.fit(fit_input, run_dir=out, resume=resume)
    except BaseException:
        if _is_main_process():
            _remove_unsaved_run(out, made_folders=made, began_metrics=began)
        raise
    seconds = time.perf_counter() - started
    if _is_main_process():
        estimator.save(out, metadata={**metadata, "seconds": round(seconds, 2)})
    last = estimator.history_[-1] if estimator.history_ else {}
    best = next((h for h in estimator.history_ if h["epoch"] == estimator.best_epoch_), last)
    monitored = "val_loss" if "val_loss" in best else "train_loss"
    _echo(f"Trained {model} (latent_dim={latent_dim}) on {n_samples} samples of shape "
          f"{tuple(estimator.input_shape_)} in {seconds:.1f}s: {len(estimator.history_)} epochs, best {monitored} "
          f"{best.get(monitored, float('nan')):.6g} at epoch {estimator.best_epoch_} ({estimator.stopped_reason_}).")
    _echo(f"Saved to {out}")
    if report and _is_main_process():
        shown = np.asarray(samples).reshape(n_samples, -1) if estimator.flat_input_ else samples
        path = _write_report(estimator, data, shown, labels, class_names, out / "report.html", held_out=False,
                             tokenizer=metadata.get("tokenizer"))
        _echo(f"Report: {path}")
    if held and _is_main_process():  # a model (or its checkpoint) was replaced: what described it goes too
        from aekit.export import DECODER_FILE, ENCODER_FILE

        stale = remove_stale_outputs(out, report_written=report, files=(ENCODER_FILE, DECODER_FILE))
        if stale:
            _echo(f"Removed the previous model's {', '.join(p.name for p in stale)} from {out}; 'aekit export' and "
                  "'aekit report' write them for this model.")
    if "WORLD_SIZE" in os.environ:
        import torch.distributed as dist

        if dist.is_initialized():
            # every rank leaves together: a rank that tore gloo down while rank 0 was still writing the model and
            # its report was seen once to abort at exit ("terminate called without an active exception")
            dist.barrier()
            dist.destroy_process_group()


def _remove_unsaved_run(out: Path, *, made_folders: list[Path], began_metrics: bool) -> None:
    """After training that ended before it saved a model or a checkpoint in ``out`` (the loss NaN in the first
    epoch, an interruption): remove the metrics.jsonl it began and the folders it made (``out`` and any parents
    it created, innermost first) that are empty now, so that no run seems to be there. Only what this run wrote:
    never a file or folder that was there before."""
    from aekit.io import CONFIG_FILE
    from aekit.training.trainer import CHECKPOINT_FILE, METRICS_FILE

    if any((out / name).exists() for name in (CONFIG_FILE, CHECKPOINT_FILE)):  # something to resume or keep
        return
    if began_metrics:
        (out / METRICS_FILE).unlink(missing_ok=True)
    for folder in made_folders:  # out first, then its new parents
        try:
            folder.rmdir()  # only if empty
        except OSError:
            return


@cli.command()
@RUN_DIR
@click.argument("data")
@image_options
@click.option("--reference", default=None, metavar="CLEAN",
              help="Restoration: the clean versions of DATA's samples (same shape and order); outputs are scored "
                   "against them, beside DATA as it is.")
@click.option("--features", is_flag=True,
              help="Judge the codes as features instead: how well a linear probe and a nearest-neighbour vote tell "
                   "DATA's classes apart from them, beside PCA's codes and the inputs (needs labels).")
@click.option("--labels", default=None, metavar="FILE",
              help="With --features: DATA's class labels, one per sample (.npy, or a label per line); default the "
                   "labels DATA carries (class subfolders, an .npz 'y', a built-in data set).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def evaluate(run_dir: Path, data: str, image_size: int | None, color: str | None, reference: str | None,
             features: bool, labels: str | None, as_json: bool) -> None:
    """Compare reconstruction error with PCA.

    MSE, MAE (and PSNR for images) of RUN_DIR's model on DATA, beside PCA with the same code size.

    PCA is fitted on the model's training data when it can be read again, else on DATA (which flatters PCA).
    Text models, for which PCA means nothing, report the characters and lines their greedy decoding rebuilds.
    For a restoration model (denoising, inpainting, colorization, super-resolution), DATA holds degraded samples
    and --reference their clean versions: both methods are scored against the clean ones, and so is DATA as it is,
    which shows what restoring gains.

    With --features, the codes are judged as features for DATA's labels (which are used only to score):
    cross-validated accuracy of a linear probe and of a 5-nearest-neighbour vote, and trustworthiness (how well
    neighbours in the code space were neighbours in the input), beside PCA's codes of the same size and the
    inputs as they are (at most 5,000 samples, drawn at random).
    """
    from aekit.estimator import AutoEncoder
    from aekit.evaluation import compare_tokens, format_table

    if labels is not None and not features:
        raise AekitError("--labels goes with --features (codes judged as features for those classes). Add "
                         "--features, or leave --labels out.")
    if features and reference is not None:
        raise AekitError("--reference scores restored outputs; --features scores codes. Run them one at a time.")
    estimator = AutoEncoder.load(run_dir)
    if features:
        rows, note = _features_against_pca(estimator, data, image_size, color, labels)
        echo(json.dumps(rows, indent=2) if as_json else f"{format_table(rows)}\n{note}")
        return
    X = _load_for(estimator, data, image_size, color)
    meta = estimator.metadata_
    if "tokenizer" in (meta or {}):
        if reference is not None:
            raise AekitError("--reference is for models of numbers, whose outputs can be scored against clean "
                             "values; a text model's rebuilt characters are scored against DATA itself. Leave "
                             "--reference out.")
        rows = compare_tokens(estimator, X)
        echo(json.dumps(rows, indent=2) if as_json else format_table(rows))
        return
    clean = None if reference is None else _load_for(estimator, reference, image_size, color)
    rows, note = _against_pca(estimator, X, reference=clean)
    if as_json:
        echo(json.dumps(rows, indent=2))
        return
    echo(format_table(rows))
    echo(note)


@cli.command()
@RUN_DIR
@click.argument("data")
@image_options
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The HTML file to write (default RUN_DIR/report-DATA.html).")
def report(run_dir: Path, data: str, image_size: int | None, color: str | None, output: Path | None) -> None:
    """Write an HTML report of RUN_DIR's model on DATA (held-out data, ideally).

    Training curves, originals beside reconstructions, the latent map (coloured by class when DATA has
    labels), how the code is used (sparsity, the bottleneck's statistics: KL per unit for VAEs, codebook usage
    for VQ) and, for generative models, prior samples and an interpolation.
    """
    from aekit.estimator import AutoEncoder

    path = output or run_dir / f"report-{Path(str(data)).stem}.html"
    _check_output(path, run_dir, data, suffixes=HTML_SUFFIXES)
    estimator = AutoEncoder.load(run_dir)
    X, labels, class_names = _load_labelled_for(estimator, data, image_size, color)
    _echo(f"Report: {_write_report(estimator, data, X, labels, class_names, path, held_out=True)}")


@cli.command()
@RUN_DIR
@click.argument("data")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the codes (.npy).")
@click.option("--indices", is_flag=True,
              help="Vector-quantized models: write the codebook index of each code vector instead (int64).")
@image_options
def encode(run_dir: Path, data: str, output: Path, indices: bool, image_size: int | None, color: str | None) -> None:
    """Write latent codes of DATA to a .npy file.

    The array has shape (n_samples, latent_dim); with --indices, (n_samples, code vectors) of codebook indices.
    """
    from aekit.estimator import AutoEncoder

    _check_output(output, run_dir, data, suffixes=(".npy",))
    estimator = AutoEncoder.load(run_dir)
    samples = _load_for(estimator, data, image_size, color, rows="codes")
    codes = estimator.code_indices(samples) if indices else estimator.transform(samples)
    _save_npy(output, codes)
    echo(f"Wrote {'codebook indices' if indices else 'codes'} of shape {codes.shape} to {output}"
         f"{_rows_are(estimator, data)}")


def _rows_are(estimator: Any, data: str) -> str:
    """For a text model, what the rows written for DATA are (its lines with text, or its chunks); '' otherwise."""
    meta = getattr(estimator, "metadata_", None) or {}
    if "tokenizer" not in meta:
        return ""
    if meta.get("split") == "chunks":
        return f", one row per {estimator.input_shape_[0]}-character chunk of {data}"
    return f", one row per line with text of {data}"


@cli.command()
@RUN_DIR
@click.argument("data")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the reconstructions (.npy).")
@image_options
def reconstruct(run_dir: Path, data: str, output: Path, image_size: int | None, color: str | None) -> None:
    """Write reconstructions of DATA to a .npy file.

    Reconstructions are in DATA's original units, one per sample, shaped as the model's samples (an image model
    given flat rows writes images); text models may write decoded lines to a .txt file.
    """
    from aekit.estimator import AutoEncoder

    _check_output(output, run_dir, data, suffixes=(".npy", ".txt"))
    estimator = AutoEncoder.load(run_dir)
    tokenizer = (estimator.metadata_ or {}).get("tokenizer")
    if tokenizer is None and output.suffix.lower() != ".npy":
        raise AekitError(f"--output must end in .npy (.txt only for text models). Got '{output}' instead.")
    if tokenizer is not None and output.suffix.lower() == ".txt":  # text models: decoded text, laid out as DATA's
        from aekit.io import atomic_path

        text = _text_for(estimator, data)
        decoded = text.join(text.tokenizer.decode(estimator.reconstruct(text.X)))
        with atomic_path(output) as tmp:
            tmp.write_text(decoded, encoding="utf-8")
        echo(f"Wrote {len(decoded.splitlines())} reconstructed lines to {output}")
        return
    recon = estimator.reconstruct(_load_for(estimator, data, image_size, color, rows="reconstructions"))
    _save_npy(output, recon)
    echo(f"Wrote reconstructions of shape {recon.shape} to {output}{_rows_are(estimator, data)}")


@cli.command()
@RUN_DIR
def info(run_dir: Path) -> None:
    """Describe a saved model.

    Architecture, parameter count, scaler and training history of RUN_DIR.
    """
    import torch

    from aekit.io import load_model, read_config

    config = read_config(run_dir)
    saved = load_model(run_dir, dtype=torch.float32)  # what every command computes in: no word about the cast
    n_params = sum(p.numel() for p in saved.model.parameters())
    arch = config["model"]
    training = config.get("training", {})
    history = training.get("history", [])

    def part(spec: dict[str, Any] | None) -> str:
        if not spec:
            return "none"
        options = ", ".join(f"{k}={v}" for k, v in spec.get("options", {}).items())
        return f"{spec['name']} ({options})" if options else spec["name"]

    lines = [
        f"model directory : {run_dir}",
        f"aekit version   : {config.get('aekit_version')}",
        *([f"preset          : {preset}"] if (preset := training.get("estimator", {}).get("model")) else []),
        f"input shape     : {tuple(arch['input_shape'])}",
        f"latent dim      : {arch['latent_dim']}",
        f"backbone        : {part(arch['backbone'])}",
        f"bottleneck      : {part(arch['bottleneck'])}",
        f"likelihood      : {part(arch['likelihood'])}",
        f"regularizers    : {', '.join(part(r) for r in arch['regularizers']) or 'none'}",
        f"corruption      : {part(arch['corruption'])}",
        f"parameters      : {n_params:,}",
        f"scaler          : {(config.get('scaler') or {}).get('kind', 'none')}",
        "epochs trained  : " + (f"{len(history)} (best {training.get('best_epoch')}; "
                                f"{training.get('stopped_reason', '')})" if history
                                else "none recorded (a module saved with aekit.save_model)"),
    ]
    if history:
        last = history[-1]
        lines.append("last epoch      : " + ", ".join(f"{k}={v:.6g}" for k, v in last.items() if k.endswith("loss")))
    if config.get("extra", {}).get("train_data"):
        lines.append(f"trained on      : {config['extra']['train_data']}")
    echo("\n".join(lines))


@cli.command()
@click.argument("data")
@click.option("--latent-dims", default="2,4,8,16,32", show_default=True, help="Code sizes, comma-separated.")
@click.option("--model", default="dense", show_default=True, help="Preset: see 'aekit list-models'.")
@click.option("--epochs", type=int, default=30, show_default=True, help="Maximum epochs per code size.")
@click.option("--batch-size", type=int, default=128, show_default=True, help="Batch size.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Learning rate.")
@click.option("--set", "set_", multiple=True, metavar="KEY=VALUE",
              help="A part option for every code size, repeatable: --set embedding_dim=2.")
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for sweep.json and sweep.png.")
@image_options
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@config_option
def sweep(data: str, latent_dims: str, model: str, epochs: int, batch_size: int, lr: float, set_: tuple[str, ...],
          out: Path | None, image_size: int | None, color: str | None, seed: int) -> None:
    """Elbow curve: error against code size, AE vs PCA.

    DATA is split 80/20; each code size trains an autoencoder and fits PCA on the 80%.
    """
    from sklearn.model_selection import train_test_split

    from aekit.evaluation import format_table, sweep_plot
    from aekit.evaluation import sweep as run_sweep
    from aekit.io import write_json

    dims = parse_ints(latent_dims, name="latent-dims") or ()
    if _reads_tokens(model):
        raise AekitError(f"sweep compares code sizes against PCA on numbers; model {model!r} reads text, which PCA "
                         "cannot. Train text models one code size at a time with 'aekit train'.")
    check_image_options(data, image_size, color)
    if out is not None:  # before the training, which a bad --out would otherwise throw away
        from aekit.io import check_output_path

        out = check_output_path(out, option="--out", protect=[data], folder=True)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AekitError(f"--out {out}: cannot make the folder ({exc.strerror or exc}). Pass a folder you can "
                             "write to.") from None
    dataset = _load_data(data, image_size, color)
    X_train, X_test = train_test_split(np.asarray(dataset.X), test_size=0.2, random_state=seed)
    rows = run_sweep(X_train, X_test, list(dims), image=dataset.kind == "image",
                     estimator_params={"model": model, "max_epochs": epochs, "batch_size": batch_size, "lr": lr,
                                       "random_state": seed, "model_options": _parse_sets(list(set_)) or None})
    echo(format_table(rows))
    if out is not None:
        write_json(out / "sweep.json", rows)
        sweep_plot(rows, out / "sweep.png")
        echo(f"Wrote {out / 'sweep.json'} and {out / 'sweep.png'}")


@cli.command()
@RUN_DIR
@click.option("--format", "format_", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="Export format.")
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for the files (default: RUN_DIR).")
def export(run_dir: Path, format_: str, out: Path | None) -> None:
    """Export encoder and decoder graphs (ONNX).

    Two graphs with a dynamic batch size, taking and returning data in the original units.
    """
    from aekit.export import export_onnx

    for name, path in export_onnx(run_dir, out).items():
        echo(f"{name}: {path}")


@cli.command()
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), default=Path("runs/demo"),
              show_default=True, help="Folder for the model and the report.")
@click.option("--epochs", type=int, default=60, show_default=True, help="Training epochs.")
def demo(out: Path, epochs: int) -> None:
    """Run the demo: conv AE on digits vs PCA.

    Trains a convolutional autoencoder on the built-in digits, compares it with PCA, writes an HTML report.
    """
    from aekit.demo import run_demo
    from aekit.evaluation import format_table

    echo("Training a convolutional autoencoder on scikit-learn's 8x8 digits (CPU)...")
    result = run_demo(out, max_epochs=epochs)
    echo(format_table(result.table))
    echo(f"Finished in {result.seconds:.1f}s. Report: {result.report_path}")


@cli.command("list-models")
@click.argument("pattern", default="*")
def list_models_command(pattern: str) -> None:
    """List model presets.

    One line each; PATTERN filters them shell-style, e.g. 'sparse*'.
    """
    from aekit.presets import list_models

    models = list_models(pattern)
    if not models:
        raise AekitError(f"No model preset matches {pattern!r}. 'aekit list-models' lists them all.")
    width = max((len(n) for n in models), default=0)
    for name, description in models.items():
        echo(f"{name:<{width}}  {description}")


@cli.command()
@RUN_DIR
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write: .png (an image grid; image models only) or .npy (the array).")
@click.option("-n", "--n-samples", type=int, default=64, show_default=True, help="Samples to draw from the prior.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the draw.")
@click.option("--interpolate", "interpolate_data", default=None, metavar="DATA",
              help="Instead of sampling: decode a line between the codes of two samples of DATA.")
@click.option("--from-index", type=int, default=0, show_default=True, help="With --interpolate: the first sample.")
@click.option("--to-index", type=int, default=1, show_default=True, help="With --interpolate: the last sample.")
@click.option("--steps", type=int, default=8, show_default=True, help="With --interpolate: images on the line.")
@image_options
def generate(run_dir: Path, output: Path, n_samples: int, seed: int, interpolate_data: str | None, from_index: int,
             to_index: int, steps: int, image_size: int | None, color: str | None) -> None:
    """Sample new data from a generative model, or interpolate.

    Draws N samples from the prior of RUN_DIR's model (a variational preset such as 'vae') and decodes them; with
    --interpolate DATA it decodes STEPS points between the codes of two samples of DATA instead (any model).
    Output in the original units: a .png grid for image models, else a .npy array.
    """
    from aekit.estimator import AutoEncoder

    suffix = output.suffix.lower()
    if suffix not in (".png", ".npy"):
        raise AekitError(f"--output must end in .png (an image grid) or .npy (the array). Got '{output}' instead.")
    _check_output(output, run_dir, interpolate_data)
    estimator = AutoEncoder.load(run_dir)
    shape = tuple(estimator.input_shape_)
    if suffix == ".png" and not _is_image_shape(shape):
        raise AekitError(f"A .png grid needs a model of images (C, H, W) with 1 or 3 channels; this model's samples "
                         f"have shape {shape}. Write .npy instead, or train on images (e.g. --input-shape 1,28,28).")
    if interpolate_data is not None:
        X = _load_for(estimator, interpolate_data, image_size, color)
        for flag, index in (("--from-index", from_index), ("--to-index", to_index)):
            if not 0 <= index < len(X):
                raise AekitError(f"{flag} must be in [0, {len(X) - 1}] for {interpolate_data} ({len(X)} samples). "
                                 f"Got {index} instead.")
        if suffix == ".png" and steps > _MAX_GRID_TILES:
            raise AekitError(f"--steps {steps} is too many tiles for a .png grid (at most {_MAX_GRID_TILES}). Write "
                             ".npy instead, or take fewer steps.")
        _check_memory(steps * math.prod(shape) * 4, f"--steps {steps} samples of shape {shape}", "Take fewer steps")
        images = estimator.interpolate(X[from_index], X[to_index], steps=steps)
        # one row, wrapped every 64 tiles so that a long path stays viewable
        what, columns = f"{steps} interpolation steps from sample {from_index} to {to_index}", min(steps, 64)
    else:
        if n_samples < 1:
            raise AekitError(f"-n must be at least 1. Got {n_samples} instead.")
        if suffix == ".png" and n_samples > _MAX_GRID_TILES:
            raise AekitError(f"-n {n_samples} is too many tiles for a .png grid (at most {_MAX_GRID_TILES}). Write "
                             ".npy instead, or draw fewer.")
        _check_memory(n_samples * math.prod(shape) * 4, f"-n {n_samples} samples of shape {shape}",
                      "Draw fewer, in several runs with different --seed values")
        images = estimator.sample(n_samples, random_state=seed)
        what, columns = f"{n_samples} samples", int(np.ceil(np.sqrt(n_samples)))
    if suffix == ".npy":
        _save_npy(output, images)
    else:
        _save_image_grid(output, images.reshape(len(images), *shape), columns=columns,
                         value_range=_data_range(estimator, images))
    echo(f"Wrote {what} of shape {tuple(images.shape[1:])} to {output}")


_MAX_GRID_TILES = 4096  # a 64 x 64 grid: more tiles than that are too small to see


def _check_memory(n_bytes: int, what: str, fix: str) -> None:
    """Refuse work whose result alone would take more than half of this machine's memory: it would be killed
    for memory, without a message, after a long wait."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not every system says
        return
    if n_bytes > total // 2:
        raise AekitError(f"{what} need {n_bytes / 2**30:.1f} GiB as float32, more than half of this machine's "
                         f"{total / 2**30:.0f} GiB of memory. {fix}.")


def _is_image_shape(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[0] in (1, 3)


def _data_range(estimator: Any, images: np.ndarray) -> tuple[float, float]:
    """The training data's range when a min-max scaler recorded it, else the range of ``images``."""
    scaler = estimator.scaler_
    if scaler.kind == "minmax" and hasattr(scaler, "offset_"):
        return float(np.min(scaler.offset_)), float(np.max(scaler.offset_ + scaler.scale_))
    return float(np.min(images)), float(np.max(images))


def _save_image_grid(path: Path, images: np.ndarray, *, columns: int, value_range: tuple[float, float]) -> None:
    """Tile (n, C, H, W) images row by row, a line of white between tiles, into an 8-bit PNG."""
    from PIL import Image

    from aekit.io import atomic_path

    low, high = value_range
    scaled = np.clip((images - low) / max(high - low, 1e-12), 0.0, 1.0)
    tiles = np.moveaxis(scaled, 1, -1)  # (n, H, W, C)
    n, height, width, channels = tiles.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    canvas = np.ones((rows * (height + 1) - 1, columns * (width + 1) - 1, channels))
    for i, tile in enumerate(tiles):
        top, left = (i // columns) * (height + 1), (i % columns) * (width + 1)
        canvas[top:top + height, left:left + width] = tile
    zoom = max(1, 56 // max(height, width))  # small tiles (8x8 digits) are enlarged, pixel for pixel
    canvas = canvas.repeat(zoom, axis=0).repeat(zoom, axis=1)
    pixels = np.round(canvas * 255).astype(np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode="L" if channels == 1 else "RGB")
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def _resume_hint(args: list[str]) -> str:
    """After an interrupted 'aekit train --out DIR' that left a checkpoint: how to go on from it."""
    if not args or args[0] != "train":
        return ""
    from aekit.io import CONFIG_FILE
    from aekit.training.trainer import CHECKPOINT_FILE

    out = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--out", "-o")), None)
    if out is None:
        return ""
    checkpoint, saved = Path(out) / CHECKPOINT_FILE, Path(out) / CONFIG_FILE
    if not checkpoint.is_file():
        return ""
    if saved.is_file() and saved.stat().st_mtime >= checkpoint.stat().st_mtime:  # stopped while writing the report
        return f" Training had finished and the model is saved in {out}; 'aekit report {out} DATA' writes its report."
    return f" The last epoch's checkpoint is in {out}: add --resume to the same command to go on from it."


# Library parameters that the CLI's options name differently (parameter -> the option's own parameter name)
_OPTION_ALIASES = {"max_epochs": "epochs", "random_state": "seed", "threshold": "fixed_threshold", "run_dir": "out"}


def _invoked(args: list[str]) -> tuple[click.Command, str]:
    """The command that ``args`` invoke, and its path as typed ("aekit detect score"). A group's own options are
    passed over with their values ('--log-level info' names no command 'info')."""
    command: click.Command = cli
    path, tokens = ["aekit"], iter(args)
    for token in tokens:
        if not isinstance(command, click.Group):
            break
        if token.startswith("-"):
            option = next((p for p in command.params if isinstance(p, click.Option) and token in p.opts), None)
            if option is not None and not option.is_flag and not option.count:
                next(tokens, None)  # its value
            continue
        if token not in command.commands:
            break
        command = command.commands[token]
        path.append(token)
    return command, " ".join(path)


def _in_cli_terms(message: str, args: list[str]) -> str:
    """A library error as the CLI's user reads it: the invoked command's parameters named by their options
    ("set coarse_factor=1" -> "set --coarse-factor 1"). Names the command has no option for stay as they are."""
    command = _invoked(args)[0]
    options = {p.name: max(p.opts, key=len) for p in command.params if isinstance(p, click.Option) and p.name}
    options |= {alias: options[name] for alias, name in _OPTION_ALIASES.items() if name in options}
    if isinstance(command, click.Group) or not options:
        return message
    names = "|".join(sorted(map(re.escape, options), key=len, reverse=True))
    message = re.sub(rf"The '({names})' parameter of [\w.-]+ ", lambda m: f"{options[m[1]]} ", message)
    # not inside a path ('runs/max_epochs/x.npy'), a quoted name or a longer word; a tuple value is written as the
    # flags take it: input_shape=(1, 8, 8) -> --input-shape 1,8,8
    alone, after = r"(?<![\w.'\"/\\-])", r"(?![\w(=/\\]|\.\w)"
    # a flag's setting as the flag is typed: "with resume=False" -> "without --resume", report=False -> --no-report
    flags = {p.name: p for p in command.params if isinstance(p, click.Option) and p.is_flag and p.name}
    if flags:
        def flag(match: re.Match[str]) -> str:
            with_, param = match[1] or "", flags[match[2]]
            on = max(param.opts, key=len)
            if match[3] == "True":
                return with_ + on
            return with_ + param.secondary_opts[0] if param.secondary_opts else f"without {on}"

        flag_names = "|".join(sorted(map(re.escape, flags), key=len, reverse=True))
        message = re.sub(rf"(with )?{alone}({flag_names})=(True|False)\b", flag, message)
    message = re.sub(rf"{alone}({names})=(\(([^()]*)\))?", lambda m: f"{options[m[1]]} " + (
        ",".join(part.strip() for part in m[3].split(",")) if m[2] else ""), message)
    # bare names only where they cannot be an English word: those with an underscore
    return re.sub(rf"{alone}({names}){after}", lambda m: options[m[1]] if "_" in m[1] else m[1], message)


# Click >= 8.2 raises this UsageError for a group called without a command; its message is the whole help
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _say_error(line: str) -> None:
    """The command's one-line error on stderr; in a process of a distributed run, in the launcher's folder for
    errors instead (``AEKIT_ERROR_DIR``, see :mod:`aekit.training.launch`), which says it once for all processes:
    the first process to fail stops the others, which may not have said theirs yet."""
    folder = os.environ.get("AEKIT_ERROR_DIR")
    if folder and "WORLD_SIZE" in os.environ:
        Path(folder, f"{os.environ.get('RANK', '0')}.txt").write_text(line + "\n", encoding="utf-8")
        return
    echo(line, err=True)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM, raised where the command is, so it unwinds as Ctrl-C does (Click reports both as 'Aborted'); the
    exit status says which it was (143 = 128 + SIGTERM, as a shell reports a process that SIGTERM ended)."""
    _terminate.received = True  # type: ignore[attr-defined]
    raise KeyboardInterrupt


def _interrupted_status() -> int:
    return 128 + signal.SIGTERM if getattr(_terminate, "received", False) else 130


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning user errors into one line on stderr (``--debug`` shows tracebacks)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _SAY_ONCE.args = args
    if not _is_main_process():  # a process of a distributed run other than the first: process 0 speaks for all
        logging.disable(logging.WARNING)
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of this process
    # SIGTERM (kill, a job scheduler, a container stopping) ends a command as Ctrl-C does: temporary files are
    # removed, the last checkpoint stays, and the user hears how to resume
    # (not where another thread runs us, nor over a handler installed outside Python, which could not be restored)
    on_term = signal.getsignal(signal.SIGTERM)
    _terminate.received = False  # type: ignore[attr-defined]
    if threading.current_thread() is threading.main_thread() and on_term is not None:
        signal.signal(signal.SIGTERM, _terminate)
    else:
        on_term = None
    try:
        with warnings.catch_warnings():
            # aekit says each of its warnings on its logger too (aekit.errors.warn): that is the one line shown
            warnings.filterwarnings("ignore", category=AekitWarning)
            # the commands match a table's columns to the model's by name themselves, then pass arrays
            warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
            cli.main(args=args, prog_name="aekit", standalone_mode=False)
    except click.exceptions.Abort:
        echo(f"Aborted.{_resume_hint(args)}", err=True)
        raise SystemExit(_interrupted_status()) from None
    except _NO_ARGS_IS_HELP as exc:  # 'aekit' or 'aekit detect' alone: the help, as Click shows it
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.UsageError as exc:  # Click shows usage, a hint and the error over four lines
        # Click's parser raises some (an option missing its value) without a context: the command from the args
        command = exc.ctx.command_path if exc.ctx is not None else _invoked(args)[1]
        _say_error(f"error: {' '.join(exc.format_message().split())} (see '{command} --help')")
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        echo(f"Interrupted.{_resume_hint(args)}", err=True)
        raise SystemExit(_interrupted_status()) from None
    except (AekitError, OSError, MemoryError) as exc:
        if debug:
            raise
        _say_error(f"error: {_in_cli_terms(str(exc), args)}")
        raise SystemExit(1) from None
    except Exception as exc:  # noqa: BLE001 - never a traceback without --debug
        if debug:
            raise
        _say_error(f"internal error: {type(exc).__name__}: {exc}. Rerun with --debug and report it.")
        raise SystemExit(1) from None
    finally:  # the next command (in the same process: tests, notebooks) starts with nothing said
        if on_term is not None:
            signal.signal(signal.SIGTERM, on_term)
        _SAY_ONCE.said.clear()
        for handler in logging.getLogger().handlers:
            handler.removeFilter(_SAY_ONCE)
from aekit.cli_detect import detect; cli.add_command(detect)  # noqa: E402, E702, I001 - 'aekit detect' group
from aekit.cli_codec import register; register(cli)  # noqa: E402, E702, I001 - train-codec, compress, decompress
from aekit.cli_sae import sae; cli.add_command(sae)  # noqa: E402, E702, I001 - 'aekit sae' group
from aekit.cli_cluster import cluster; cli.add_command(cluster)  # noqa: E402, E702, I001 - 'aekit cluster' group
