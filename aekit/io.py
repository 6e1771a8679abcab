"""Files on disk: safe model directories (safetensors + JSON, never pickle), state files, atomic writes.

A model directory holds ``config.json`` (format, aekit version, architecture, scaler, training settings, data
description and the sha256 of the weights) and ``model.safetensors``. Every file is written to a temporary
name in the same folder and renamed, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from aekit._version import __version__
from aekit.errors import AekitError, ModelFileError, warn
from aekit.model import PART_REGISTRIES, Autoencoder, AutoencoderConfig

__all__ = ["atomic_path", "check_output_path", "json_text", "params_to_store", "plain", "write_json",
           "save_state", "load_state", "SavedModel", "save_model", "load_model",
           "CONFIG_FILE", "WEIGHTS_FILE"]

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "aekit.model"
FORMAT_VERSION = 1

# mkstemp creates files 0600; finished files get the mode a plain open() would give them (0666 minus umask)
_UMASK = os.umask(0)
os.umask(_UMASK)


def check_output_path(path: str | os.PathLike[str], *, option: str,
                      protect: Iterable[str | os.PathLike[str]] = (), folder: bool = False) -> Path:
    """Refuse (one line) an output path that cannot be written, or that would replace what the command uses:
    ``protect`` lists those files and folders (its input data, the model it loads, its other outputs); with
    ``folder``, the output is a folder, so a file there is refused too. Commands call it before their work, so a
    bad path costs nothing."""
    path = Path(path).expanduser()
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise AekitError(f"{option} {path}: '{blocking}' is a file, not a folder, so nothing can be written inside "
                         "it. Pass a path in a folder.")
    if folder and path.exists() and not path.is_dir():
        raise AekitError(f"{option} {path}: a file of that name exists. Pass a folder path.")
    target = path.resolve()
    for kept in protect:
        kept = Path(kept).expanduser().resolve()
        if target == kept or kept in target.parents:
            raise AekitError(f"{option} {path} would {'overwrite' if target == kept else 'write into'} '{kept}', "
                             "which this command also uses. Pass another path.")
    return path


def check_output_folder(directory: str | os.PathLike[str], file_format: str, *, option: str,
                        file: str = CONFIG_FILE) -> Path:
    """``directory`` if a ``file_format`` folder may be written there (:func:`check_output_path` with
    ``folder``); else one line, also when ``file`` there describes something else: another aekit kind that
    names its description the same (a model's and an SAE run's are both config.json), or a file that is not
    aekit's. Writing would replace it. Commands call it before their work."""
    directory = check_output_path(directory, option=option, folder=True)
    path = directory / file
    if path.is_file():
        kind = _format_of(path)
        if kind != file_format:
            held = f"an aekit {_kind_name(kind)}" if _kind_name(kind) else f"a {file} that is not aekit's"
            raise AekitError(f"{option} {directory} holds {held}; writing here would replace its {file}. Pass "
                             "another folder.")
    elif directory.is_dir():
        # another aekit kind described under another name (a detector's detector.json): its files and ours would
        # mix, and loading the folder would find either
        other = _what_it_holds(directory, besides=file_format)
        if other:
            raise AekitError(f"{option} {directory} is another aekit folder{other}: writing an aekit "
                             f"{_kind_name(file_format)} there would mix the two. Pass another folder.")
    return directory


def write_error(path: str | os.PathLike[str], reason: BaseException | str, what: str = "") -> AekitError:
    """The one line for a failed write that names the user's file (an OSError of a full disk names none, or
    only a temporary one): ``Cannot write 'path': reason. Free space or choose another folder.`` An exception
    gives its reason: an OSError's strerror, the OS message safetensors wraps in its text, else its text."""
    if isinstance(reason, BaseException):
        wrapped = re.search(r'message: "([^"]+)"', str(reason))  # a SafetensorError's OS error
        reason = (getattr(reason, "strerror", None) or (wrapped[1] if wrapped else None)
                  or " ".join(str(reason).split()))
    return AekitError(f"Cannot write {what}'{path}': {reason}. Free space or choose another folder.")


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an OSError raised in the block into :func:`write_error` for ``path``."""
    try:
        yield
    except OSError as exc:
        raise write_error(path, exc) from None


def check_saved_folder(path: str | os.PathLike[str], *, file: str, what: str, option: str) -> Path:
    """Refuse (one line) a folder that a save built aside and renamed into place (:func:`staging_folder`) may not
    replace: the current directory or one above it, or something that is neither an empty directory nor a saved
    ``what`` (described by its ``file``). Callers that train first check it before training."""
    path = check_output_path(path, option=option)
    _check_not_working_directory(path, option)
    if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or (path / file).is_file())):
        raise AekitError(f"{option} '{path}' exists and is not a saved {what} or an empty directory; saving there "
                         "would replace it. Pass a new path, or move it away first.")
    return path


def _check_not_working_directory(path: Path, option: str) -> None:
    """A folder saved whole is renamed into place: the current directory (or one above it) would be pulled from
    under the process and the shell, and '.' cannot be renamed at all."""
    try:
        cwd = Path.cwd().resolve()
    except FileNotFoundError:  # the working directory was deleted: no folder can be it
        return
    resolved = path.expanduser().resolve()
    if resolved == cwd or resolved in cwd.parents:
        where = "the current directory" if resolved == cwd else "a folder above the current directory"
        raise AekitError(f"{option} '{path}' is {where}, and saving replaces the whole folder. Pass a folder "
                         "inside it, e.g. 'run'.")


def staging_folder(path: Path, suffix: str = ".tmp") -> Path:
    """A new empty folder beside ``path``, to be renamed to it once complete (an interrupted write then leaves
    nothing at ``path``), with the permissions ``mkdir`` would give it (``mkdtemp``'s 0700 would lock others out
    of the saved folder)."""
    _check_not_working_directory(path, "The output folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name[:64]}.", suffix=suffix, dir=path.parent))
    os.chmod(staging, 0o777 & ~_UMASK)
    return staging


def replace_folder(staging: Path, path: Path, *, is_part: Callable[[str], bool]) -> None:
    """Rename the complete folder ``staging`` (from :func:`staging_folder`) to ``path``. The entries of a folder
    already at ``path`` that are not parts of what is saved (``is_part(name)`` False: the user's notes, plots)
    are first moved into ``staging``; then the old folder is renamed aside, ``staging`` renamed in, and the old
    folder deleted. A failure puts everything back as it was. Between the two renames (an instant) nothing is at
    ``path``: a process killed there leaves the old folder beside it, under a hidden ``.NAME.old.*`` name."""
    if not path.exists():
        os.replace(staging, path)
        return
    kept: list[str] = []  # the user's entries, moved into the new folder

    def give_back(into: Path) -> None:
        for name in kept:
            os.replace(staging / name, into / name)

    try:
        for entry in list(path.iterdir()):
            if not is_part(entry.name) and not (staging / entry.name).exists():
                os.replace(entry, staging / entry.name)
                kept.append(entry.name)
        old = Path(tempfile.mkdtemp(prefix=f".{path.name[:64]}.old.", dir=path.parent))
        os.replace(path, old / "previous")
    except BaseException as exc:
        try:
            give_back(path)
        except OSError:  # the user's files stay where they are now, under a name the caller does not delete
            rescue = Path(tempfile.mkdtemp(prefix=f".{path.name[:64]}.kept.", dir=staging.parent))
            os.replace(staging, rescue / "files")
            staging.mkdir()  # for the caller to remove
            raise AekitError(f"Saving into '{path}' failed ({exc}); the files of yours that were in it are in "
                             f"'{rescue / 'files'}'. Move them back, then save to another folder.") from None
        raise
    try:
        os.replace(staging, path)
    except BaseException:
        os.replace(old / "previous", path)
        give_back(path)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_folder(path: Path, *, is_part: Callable[[str], bool], suffix: str = ".tmp") -> Iterator[Path]:
    """A folder to build ``path``'s new contents in (:func:`staging_folder`), put in place by
    :func:`replace_folder` when the block succeeds, else removed: an interrupted save leaves the previous folder
    as it was."""
    staging = staging_folder(path, suffix=suffix)
    try:
        yield staging
        replace_folder(staging, path, is_part=is_part)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # nothing left once renamed into place


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``, on error removed."""
    path = check_output_path(path, option="Output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the name's start only: a legal name of 255 characters plus the temporary suffix would be too long
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise AekitError(f"Cannot write '{path}': {exc.strerror or exc}. Choose a folder you can write to.") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (tmp, Path(tmp)):  # name the user's file, not ours
            raise write_error(path, exc) from None
        raise


def plain(value: Any) -> Any:
    """NumPy numbers and arrays (as grid searches pass them), also inside dicts, lists and tuples, as Python
    numbers and lists: for configs and JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    return value


def params_to_store(params: dict[str, Any]) -> dict[str, Any]:
    """An estimator's ``get_params()`` for its JSON file: tuples as lists, NumPy numbers as numbers; a
    ``random_state`` that is not a number (a RandomState) is left out."""
    return {k: plain(list(v) if isinstance(v, tuple) else v) for k, v in params.items()
            if k != "random_state" or isinstance(v, (int, np.integer, type(None)))}


def _json_value(value: Any) -> Any:
    """JSON for what json cannot write by itself: NumPy numbers and arrays, paths; anything else is refused."""
    if isinstance(value, (np.generic, np.ndarray)):
        return plain(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise AekitError(f"A value of type {type(value).__name__} cannot be stored in JSON ({value!r:.60}). Store "
                     "numbers, strings, lists and dicts of them.")


def json_text(data: Any) -> str:
    """``data`` as indented JSON text (NumPy numbers as plain numbers); an AekitError for what JSON cannot hold."""
    try:
        return json.dumps(data, indent=2, default=_json_value, allow_nan=True) + "\n"
    except AekitError:
        raise
    except ValueError as exc:  # a circular reference
        raise AekitError(f"The data cannot be stored in JSON ({exc}).") from None


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    text = json_text(data)  # first: what cannot be written leaves the old file as it was
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------ state files
def _flatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _flatten(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"Cannot store {type(obj).__name__} in a state file")


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor] | None) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return None if tensors is None else tensors[obj["__tensor__"]]
        return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write a nested dict of tensors and plain values (optimizer, scheduler, RNG states) to one safetensors
    file: tensors as tensors, the structure as JSON in the header. No pickle anywhere."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, tensors)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"aekit.state": json.dumps(skeleton)})


def load_state(path: str | os.PathLike[str], *, tensors: bool = True) -> dict[str, Any]:
    """Read a file written by :func:`save_state`; ``tensors=False`` reads only its plain values (tensors come back
    as None), from the header, without loading the weights."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            skeleton = json.loads((f.metadata() or {})["aekit.state"])
        if not tensors:
            return _unflatten(skeleton, None)
        tensors = load_file(str(path))
    except (OSError, SafetensorError, KeyError, json.JSONDecodeError) as exc:
        reason = "it is missing" if isinstance(exc, FileNotFoundError) else f"it is damaged: {exc}"
        raise ModelFileError(f"Cannot read the state file '{path}' ({reason}). Write it again: fit, train or save "
                             "anew.") from None
    return _unflatten(skeleton, tensors)


# -------------------------------------------------------------------------------------------- models
@dataclass
class SavedModel:
    """A loaded model directory: the module (in eval mode) and the JSON sections stored beside it."""

    model: Autoencoder
    scaler: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def save_model(directory: str | os.PathLike[str], model: Autoencoder, *, scaler: dict[str, Any] | None = None,
               training: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` and its metadata to ``directory`` (created if needed); returns the directory.

    Both files are written to temporary names first and renamed only when both are complete, so a save that
    fails (metadata JSON cannot hold, a full disk) leaves a model already in ``directory`` as it was.

    The weights are stored in the module's dtype; :func:`load_model` returns float32 unless told otherwise
    (``dtype=None`` keeps the stored one)."""
    _check_save_arguments(directory, model)
    directory = check_output_folder(directory, FORMAT, option="Model directory")
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "aekit_version": __version__,
        "model": model.config.to_json_dict(),
        "custom_modules": model.custom_modules,  # read by every aekit version: any part custom
        "custom_parts": list(model.custom_parts),  # which: "encoder", "decoder"
        "scaler": scaler,
        "training": training or {},
        "data": data or {},
        "extra": extra or {},
    }
    json_text(record)  # refuse what JSON cannot hold before touching the directory
    directory.mkdir(parents=True, exist_ok=True)
    weights, storages = {}, set()
    for key, value in model.state_dict().items():
        tensor = value.detach().cpu().contiguous()
        # tied weights (a decoder reusing the encoder's matrix) share storage, which safetensors refuses: each
        # name gets its own copy, and loading ties them again by copying into the module's shared parameter
        storage = tensor.untyped_storage().data_ptr()
        weights[key] = tensor.clone() if storage in storages else tensor
        storages.add(storage)
    # config.json is renamed into place first, then the weights: between the two, the checksum tells them apart
    with atomic_path(directory / WEIGHTS_FILE) as weights_tmp, atomic_path(directory / CONFIG_FILE) as config_tmp:
        save_file(weights, str(weights_tmp), metadata={"format": FORMAT})
        config_tmp.write_text(json_text({**record, "weights_sha256": sha256_file(weights_tmp)}), encoding="utf-8")
    return directory


def _check_save_arguments(directory: Any, model: Any) -> None:
    """One line for what ``save_model`` cannot save: the arguments swapped, an estimator, anything else."""
    if isinstance(directory, nn.Module) and isinstance(model, (str, os.PathLike)):
        raise AekitError("save_model takes the directory first, then the model. Call save_model(path, model).")
    if not isinstance(model, Autoencoder):
        if callable(getattr(model, "save", None)) and callable(getattr(model, "get_params", None)):
            raise AekitError(f"save_model saves an aekit.Autoencoder module; got the estimator "
                             f"{type(model).__name__}. Save the estimator with est.save(path), or pass its module: "
                             "save_model(path, est.model_).")
        for attribute, wrapper in (("_orig_mod", "torch.compile"), ("module", "DistributedDataParallel/DataParallel")):
            if isinstance(getattr(model, attribute, None), Autoencoder):
                raise AekitError(f"The 'model' argument of save_model must be an aekit.Autoencoder. Got "
                                 f"{type(model).__name__}, a {wrapper} wrapper around one, instead. Pass the "
                                 f"module it wraps: save_model(path, model.{attribute}).")
        raise AekitError(f"The 'model' argument of save_model must be an aekit.Autoencoder. Got "
                         f"{type(model).__name__} instead. Pass the module to save: save_model(path, model).")
    if not isinstance(directory, (str, os.PathLike)):
        raise AekitError(f"The 'directory' argument of save_model must be a path (str or pathlib.Path). Got "
                         f"{type(directory).__name__} instead. Call save_model(path, model).")


def read_config(directory: str | os.PathLike[str], *, file: str = CONFIG_FILE, file_format: str = FORMAT,
                max_version: int = FORMAT_VERSION, what: str = "model",
                origin: str = "the --out folder of 'aekit train'",
                error: type[AekitError] = ModelFileError) -> dict[str, Any]:
    """The parsed JSON description of a saved directory, with clear errors for every way it can be wrong.

    Parameters
    ----------
    directory : the saved folder.
    file, file_format, max_version : the JSON file in it, the ``format`` it must declare and the newest
        ``format_version`` this aekit reads. The defaults describe a model directory; applications that save
        their own folders (anomaly detectors, codecs) pass theirs.
    what, origin : for the messages: what the folder holds ("model", "detector") and what writes it.
    error : the exception raised: ``ModelFileError`` for saved models, ``DataError`` for saved data.
    """
    directory = Path(directory)
    path = directory / file
    if not directory.is_dir():
        raise error(f"No {what} directory at '{directory}'. Pass {origin}.")
    if not path.is_file():
        raise error(f"'{directory}' is not an aekit {what} directory (no {file}){_what_it_holds(directory)}. Pass "
                    f"{origin}.")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"'{path}' is not valid JSON ({exc}). Restore it or save the {what} again.") from None
    if not isinstance(config, dict) or config.get("format") != file_format:
        kind = _kind_name(config.get("format") if isinstance(config, dict) else None)
        held = f" (it describes an aekit {kind})" if kind else ""
        raise error(f"'{path}' is not an aekit {what} file{held}. Pass {origin}.")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise error(f"'{path}' has format_version {version!r}, not a whole number. Restore it or save the {what} "
                    "again.")
    if version > max_version:
        raise error(f"'{directory}' was saved by aekit {config.get('aekit_version')} in format "
                             f"{config['format_version']}; this aekit {__version__} reads up to {max_version}. "
                             "Upgrade aekit.")
    return config


def _what_it_holds(directory: Path, besides: str | None = None) -> str:
    """'; it holds an aekit anomaly detector (detector.json)' when an aekit folder's description of another
    format than ``besides`` is there (a detector's folder passed for a model's), else ''."""
    for candidate in sorted(directory.glob("*.json"))[:20]:
        file_format = _format_of(candidate)
        if _kind_name(file_format) and file_format != besides:
            return f"; it holds an aekit {_kind_name(file_format)} ({candidate.name})"
    return ""


def _format_of(path: Path) -> Any:
    """The ``format`` a JSON description declares; None for a file that is not such a description."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None


# formats whose name does not read as what they hold
_KIND_NAMES = {"aekit.sae": "SAE run", "aekit.sae.activations": "SAE activation harvest"}


def _kind_name(file_format: Any) -> str:
    """What an aekit format describes, in words ('aekit.anomaly_detector' -> 'anomaly detector', 'aekit.sae' ->
    'SAE run'); '' if none."""
    if not isinstance(file_format, str) or not file_format.startswith("aekit."):
        return ""
    return _KIND_NAMES.get(file_format) or file_format.removeprefix("aekit.").replace("_", " ").replace(".", " ")


def _section(config: dict[str, Any], key: str, directory: Path, *, optional: bool = True,
             allow_none: bool = False) -> Any:
    """``config[key]``, a JSON object (or absent, or null where ``allow_none``); else one line naming it."""
    if key not in config:
        if optional:
            return None if allow_none else {}
        raise ModelFileError(f"'{directory / CONFIG_FILE}' has no '{key}' section; the file was cut or edited. "
                             "Restore it or save the model again.")
    value = config[key]
    if isinstance(value, dict) or (allow_none and value is None):
        return value
    raise ModelFileError(f"'{directory / CONFIG_FILE}' has {key!r}: {json.dumps(value)[:80]}, not a JSON object; the "
                         "file was edited or damaged. Restore it or save the model again.")


def _unregistered_part(architecture: AutoencoderConfig, directory: Path) -> str | None:
    """The one line for a part the config names that no imported module registers, else None."""
    for field_name, spec in architecture.parts():
        registry = PART_REGISTRIES[field_name]
        if spec.name not in registry:
            return (f"'{directory}' uses the {registry.kind} {spec.name!r}, which nothing imported in this process "
                    f"registers (aekit's own: {', '.join(registry.names())}). If it is a part of your own, import "
                    f"the module that registers it (@{registry.kind.upper()}S.register({spec.name!r})) before "
                    "loading.")
    return None


def _check_custom_parts(config: dict[str, Any], directory: Path, encoder: nn.Module | None,
                        decoder: nn.Module | None) -> None:
    """Refuse, in one line, custom modules missing (or passed for a part that was the backbone's)."""
    given = {"encoder": encoder is not None, "decoder": decoder is not None}
    stored = config.get("custom_parts")
    if not (isinstance(stored, list) and set(stored) <= set(given)):  # saved before aekit stored which
        if config.get("custom_modules") and not any(given.values()):
            raise ModelFileError(f"'{directory}' was saved with a custom encoder/decoder. Pass the same modules: "
                                 "load_model(path, encoder=..., decoder=...).")
        return
    missing = [part for part in ("encoder", "decoder") if part in stored and not given[part]]
    extra = [part for part in ("encoder", "decoder") if part not in stored and given[part]]
    if missing:
        passed = ", ".join(f"{part}=..." for part in stored)
        raise ModelFileError(f"'{directory}' was saved with a custom {' and '.join(missing)}, which load_model was "
                             f"not given. Pass the same module(s) built as when saving: load_model(path, {passed}).")
    if extra:
        raise ModelFileError(f"'{directory}' was saved with its backbone's own {' and '.join(extra)}, but load_model "
                             f"was given one. Leave out {', '.join(f'{part}=' for part in extra)}.")


class _DefaultDtype:
    """The type of ``_FLOAT32_DEFAULT``: float32, chosen by default rather than by the caller."""

    def __repr__(self) -> str:
        return "float32 (default)"


# load_model's default dtype: float32, but a cast to it warns, which an explicit torch.float32 does not
_FLOAT32_DEFAULT = _DefaultDtype()


def load_model(directory: str | os.PathLike[str], *, device: str | torch.device = "cpu",
               encoder: nn.Module | None = None, decoder: nn.Module | None = None,
               dtype: torch.dtype | None | _DefaultDtype = _FLOAT32_DEFAULT) -> SavedModel:
    """Load a model directory written by :func:`save_model`; the weights are verified against their sha256.

    Parameters
    ----------
    directory : the saved folder.
    device : as training takes it (``"auto"``, ``"cpu"``, ``"cuda:1"``, ...).
    encoder, decoder : the custom modules the model was saved with, built as then (the weights are loaded into
        them); parts of the backbone's need none.
    dtype : the dtype of the returned module's weights. float32 by default, whatever was stored, because
        aekit's estimators, commands and ONNX export feed float32 data; weights stored in another floating
        dtype (a float64 or bfloat16 module) are then cast, with a warning. A dtype passed explicitly
        (``torch.float32`` included) is cast to without a warning. None keeps the stored dtype.
    """
    from aekit.training import resolve_device  # the trainer saves through this module

    if not isinstance(directory, (str, os.PathLike)):
        got = "a model already loaded" if isinstance(directory, nn.Module) else type(directory).__name__
        raise AekitError(f"load_model reads a saved model directory and takes its path (str or pathlib.Path). Got "
                         f"{got} instead. Pass the folder save_model wrote, e.g. load_model('run').")
    default = isinstance(dtype, _DefaultDtype)
    if default:
        dtype = torch.float32
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise AekitError(f"The 'dtype' parameter of load_model must be a floating torch dtype or None. Got "
                         f"{dtype!r} instead. Pass e.g. torch.float32, or None to keep the stored one.")
    device = resolve_device(device)
    directory = Path(directory)
    config = read_config(directory)
    model_section = _section(config, "model", directory, optional=False)
    scaler = _section(config, "scaler", directory, allow_none=True)
    training, data, extra = (_section(config, key, directory) for key in ("training", "data", "extra"))
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelFileError(f"'{directory}' has no {WEIGHTS_FILE}. Train or save the model again.")
    if sha256_file(weights_path) != config.get("weights_sha256"):
        raise ModelFileError(f"'{weights_path}' does not match the checksum in {CONFIG_FILE}: the file is "
                             "truncated or was modified. Restore it or train the model again.")
    _check_custom_parts(config, directory, encoder, decoder)
    try:
        architecture = AutoencoderConfig.from_json_dict(model_section)
    except AekitError as exc:
        raise ModelFileError(f"'{directory / CONFIG_FILE}' holds an architecture this aekit cannot build: "
                             f"{str(exc).rstrip('.')}. Restore the file or save the model again.") from None
    unregistered = _unregistered_part(architecture, directory)
    if unregistered:
        raise ModelFileError(unregistered)
    try:
        model = Autoencoder(architecture, encoder=encoder, decoder=decoder, warn_identity=False)
        state = load_file(str(weights_path))
        _cast_to(model, state, dtype)  # before loading: float64 weights copied into float32 ones would lose bits
        model.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, KeyError, AekitError) as exc:
        # one line: torch lists every mismatched tensor on its own line
        detail = " ".join(str(exc).split()).rstrip(".")
        detail = detail if len(detail) <= 300 else detail[:300] + " (...)"
        raise ModelFileError(f"Cannot load '{directory}': {detail}. Train or save the model again.") from None
    stored = sorted({_dtype_name(t.dtype) for t in state.values() if t.is_floating_point()})
    if default and any(name != "float32" for name in stored):
        warn(logger, f"'{directory}' holds {'/'.join(stored)} weights; load_model returns them as float32 by "
                     "default, the dtype aekit's estimators, commands and export compute in. Pass "
                     "dtype=torch.float32 to cast without this warning, or dtype=None to keep the stored dtype.",
             stacklevel=2)
    model.to(device).eval()
    return SavedModel(model=model, scaler=scaler, training=training, data=data, extra=extra)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _cast_to(model: nn.Module, state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> None:
    """Give ``model``'s floating tensors ``dtype``, or with None the dtype each has in ``state``."""
    if dtype is not None:
        model.to(dtype)
        return
    tensors = [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]
    for name, tensor in tensors:
        stored = state.get(name)
        if stored is not None and tensor.is_floating_point() and stored.is_floating_point() \
                and tensor.dtype != stored.dtype:
            tensor.data = tensor.data.to(stored.dtype)
