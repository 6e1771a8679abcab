"""Training a sparse autoencoder on activations: from a harvested directory or any (n, d) tensor.

    run = train_sae("acts/", arch="topk", expansion=8, k=32, tokens=2_000_000, out="runs/sae")
    run.metrics["fvu"], run.metrics["l0"], run.metrics["dead_fraction"]     # on held-out activations
    run = train_sae(torch.randn(50_000, 64), arch="jumprelu", sparsity_weight=3e-3)   # any tensor works

What the field has learned, all on by default: inputs scaled to E ||x||^2 = d_in; b_dec initialised at the
geometric median of a sample; the encoder initialised as the decoder's transpose; decoder rows at unit norm after
every step, with the radial part of their gradient removed; AuxK for dead latents (Gao et al. 2024); a linear
warm-up of the L0/L1 coefficient; a shuffling buffer over shards; Adam (eps 6.25e-10, lr 2e-4 / sqrt(latent_dim /
2^14) unless given) with a linear LR warm-up and a linear decay to zero over the last fifth (Conerly et al. 2024).

A run directory holds ``config.json`` (the SAE and training configs, the activations' provenance, the held-out
rows), ``sae.safetensors`` (weights, checksummed), ``history.json`` (loss terms every ``log_every`` steps) and
``metrics.json`` (held-out ``l0``, ``fvu``, ``nmse``, ``dead_fraction``, ``dense_fraction``, tokens/s). It is
written to a staging folder beside the run directory and renamed into place whole, so an interrupted save leaves
the previous run (or none) as it was; files there that are not the run's (notes, plots) stay, and the previous
run's ``dashboard.html``, which described the old SAE, goes. A run already in the folder is replaced only with
``overwrite=True`` (``--overwrite``).

``history.json``'s ``dead_fraction`` counts latents silent for ``dead_tokens`` (250k) training tokens, so it stays
0 in shorter runs; ``metrics.json``'s counts latents that never fired on the held-out tokens, and says when there
are too few of those for the figure to mean much (``dead_fraction_note``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from aekit._version import __version__
from aekit.config import field_names, from_dict, to_dict
from aekit.errors import AekitError, DataError, ModelFileError, check_choice, check_float, check_int, did_you_mean
from aekit.io import (
    check_output_folder,
    read_config,
    sha256_file,
    staged_folder,
    write_error,
    write_json,
)
from aekit.sae.activations import ActivationStore, TensorActivations, shuffled_batches
from aekit.sae.measure import reconstruction_metrics
from aekit.sae.model import SAEConfig, SparseAutoencoder
from aekit.training.trainer import resolve_device

__all__ = ["SAERun", "SAETrainConfig", "load_sae", "open_activations", "train_sae"]

logger = logging.getLogger(__name__)

FORMAT = "aekit.sae"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "sae.safetensors"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.json"
FIRES_FILE = "fires.npy"
# What a run records of the harvest it was trained on (its config.json's "activations"): the same values in a
# harvest's manifest mean the same activations (a folder moved since still matches, one harvested again does not)
PROVENANCE = ("model", "layer", "site", "hook", "texts", "n_tokens")
DASHBOARD_FILE = "dashboard.html"
# What a run directory's save replaces; anything else in the folder is the user's and stays. The dashboard is
# dropped, not kept: it describes the SAE it was made from.
_RUN_PARTS = (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE, HISTORY_FILE, FIRES_FILE, DASHBOARD_FILE)


@dataclass(frozen=True)
class SAETrainConfig:
    """How to train a :class:`SparseAutoencoder`. Every default is the usual first choice."""

    tokens: int = 2_000_000  # training budget in tokens (repeats the data if it is smaller)
    batch_size: int = 1024  # small next to OpenAI's 128k tokens: on a CPU, more steps per token matter more
    lr: float | None = None  # None: 2e-4 / sqrt(latent_dim / 2^14), Gao et al.'s fit of the best LR
    # fraction of steps with a linear LR ramp from 0; at 1k steps and a high LR a 2% ramp left 1.5% of the latents
    # dead, 5% left 0.65% (benchmarks/sae_minilm.py)
    lr_warmup: float = 0.05
    lr_decay: float = 0.2  # final fraction of steps with a linear decay to 0
    sparsity_warmup: float = 0.05  # fraction of steps over which the L0/L1 coefficient ramps up from 0
    threshold_lr_scale: float = 10.0  # JumpReLU thresholds learn this much faster (see _fit)
    adam_eps: float = 6.25e-10  # Gao et al.: Adam's default 1e-8 is large next to these small gradients
    aux_k: int | None = None  # None: d_in // 2 (Gao et al.); 0 turns AuxK off
    aux_weight: float = 1 / 32
    # a latent silent for this many training tokens is dead (for AuxK and history.json's dead_fraction): in a run
    # of fewer tokens than this no latent is ever counted dead, so AuxK never acts and that figure stays 0
    dead_tokens: int = 250_000
    b_dec_init: Literal["geometric_median", "mean", "zeros"] = "geometric_median"
    normalize: bool = True  # scale inputs to E ||x||^2 = d_in, so hyperparameters carry across models
    init_tokens: int = 16384  # sample for the input scale and b_dec
    buffer_tokens: int = 262144  # shuffling buffer (2^18 tokens x 384 x 4 B = 384 MiB for MiniLM)
    holdout: float = 0.05  # last fraction of the tokens, never trained on, for metrics.json
    seed: int = 0
    device: str = "auto"
    log_every: int = 50

    def __post_init__(self) -> None:
        owner = "SAETrainer"
        check_int(self.tokens, name="tokens", owner=owner, low=1)
        check_int(self.batch_size, name="batch_size", owner=owner, low=1)
        if self.lr is not None:
            check_float(self.lr, name="lr", owner=owner, low=0.0, low_inclusive=False, high=math.inf,
                        high_inclusive=False)
        for name in ("lr_warmup", "lr_decay", "sparsity_warmup"):
            check_float(getattr(self, name), name=name, owner=owner, low=0.0, high=1.0)
        check_float(self.threshold_lr_scale, name="threshold_lr_scale", owner=owner, low=0.0, low_inclusive=False)
        check_float(self.adam_eps, name="adam_eps", owner=owner, low=0.0, low_inclusive=False)
        if self.aux_k is not None:
            check_int(self.aux_k, name="aux_k", owner=owner, low=0)
        check_float(self.aux_weight, name="aux_weight", owner=owner, low=0.0)
        check_int(self.dead_tokens, name="dead_tokens", owner=owner, low=1)
        check_choice(self.b_dec_init, ["geometric_median", "mean", "zeros"], name="b_dec_init", owner=owner)
        check_int(self.init_tokens, name="init_tokens", owner=owner, low=1)
        check_int(self.buffer_tokens, name="buffer_tokens", owner=owner, low=1)
        check_float(self.holdout, name="holdout", owner=owner, low=0.0, high=0.5, low_inclusive=False)
        check_int(self.seed, name="seed", owner=owner, low=0, high=2**32 - 1)
        check_int(self.log_every, name="log_every", owner=owner, low=1)

    def learning_rate(self, latent_dim: int) -> float:
        return self.lr if self.lr is not None else 2e-4 / math.sqrt(latent_dim / 2**14)

    def lr_factor(self, step: int, steps: int) -> float:
        """The LR multiplier at ``step`` of ``steps``: linear warm-up, constant, linear decay to 0."""
        warmup = max(1, round(self.lr_warmup * steps))
        decay = round(self.lr_decay * steps)
        if step < warmup:
            return (step + 1) / warmup
        if decay and step >= steps - decay:
            return max(0.0, (steps - step) / decay)
        return 1.0

    def sparsity_factor(self, step: int, steps: int) -> float:
        ramp = self.sparsity_warmup * steps
        return 1.0 if ramp < 1 else min(1.0, (step + 1) / ramp)

    def to_json_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> SAETrainConfig:
        return from_dict(cls, data, owner="SAETrainConfig")


@dataclass
class SAERun:
    """A trained SAE with its held-out metrics, training history and where it was saved."""

    sae: SparseAutoencoder
    train_config: SAETrainConfig
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    fires: Tensor | None = None  # tokens each latent fired on in the held-out set (latent_dim,)
    holdout: tuple[int, int] = (0, 0)
    provenance: dict[str, Any] = field(default_factory=dict)
    directory: Path | None = None


def open_activations(activations: Any) -> ActivationStore | TensorActivations:
    """An activation directory (path or store), or an in-memory (n, d) tensor or array."""
    if isinstance(activations, (ActivationStore, TensorActivations)):
        return activations
    if isinstance(activations, (str, os.PathLike)):
        return ActivationStore(activations)
    return TensorActivations(activations)


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    sae_fields = [n for n in field_names(SAEConfig) if n != "d_in"]
    train_fields = field_names(SAETrainConfig)
    valid = sae_fields + train_fields
    unknown = [k for k in options if k not in valid]
    if unknown:
        raise AekitError(f"Unknown option {unknown[0]!r} for train_sae. Valid options: {', '.join(valid)}."
                         f"{did_you_mean(unknown[0], valid)}")
    return ({k: v for k, v in options.items() if k in sae_fields},
            {k: v for k, v in options.items() if k in train_fields})


def check_run_output(out: str | os.PathLike[str], *, overwrite: bool, option: str = "out",
                     flag: str = "overwrite=True") -> Path:
    """``out`` if a run may be saved there; else one line: a file, another aekit kind's folder, a config.json that
    is not aekit's, or, without ``overwrite``, an SAE run already there (``flag`` names the way to pass it)."""
    out = check_output_folder(out, FORMAT, option=option)
    if (out / CONFIG_FILE).is_file() and not overwrite:
        raise AekitError(f"{option} {out} holds a trained SAE ({CONFIG_FILE}); training again would replace it. Pass "
                         f"{flag} to replace it, or another folder.")
    return out


def train_sae(activations: Any, *, out: str | os.PathLike[str] | None = None, overwrite: bool = False,
              **options: Any) -> SAERun:
    """Train a sparse autoencoder.

    Parameters
    ----------
    activations : an activation directory from :func:`~aekit.sae.activations.harvest` (or its
        :class:`ActivationStore`), or any (n_tokens, d) tensor or array of activations.
    out : run directory to write (see the module docstring); None writes nothing. It is checked before
        training: a file there, or a folder holding another kind's config.json (an autoencoder model), is refused.
    overwrite : replace an SAE run already in ``out`` (refused without it).
    **options : fields of :class:`SAEConfig` (``arch``, ``expansion``, ``k``, ``sparsity_weight``, ...) and of
        :class:`SAETrainConfig` (``tokens``, ``batch_size``, ``lr``, ...).

    Returns
    -------
    SAERun, with held-out ``metrics`` (l0, fvu, nmse, dead_fraction, dense_fraction, tokens_per_second).
    """
    if out is not None:
        check_run_output(out, overwrite=overwrite)  # before any work: a bad path costs nothing
    source = open_activations(activations)
    sae_options, train_options = _split_options(options)
    config = SAEConfig(d_in=source.d_in, **sae_options)
    train = SAETrainConfig(**train_options)
    n_holdout = max(1, round(train.holdout * source.n_tokens))
    n_train = source.n_tokens - n_holdout
    if n_train < 2:  # one row has no variance to learn, whatever it holds
        raise DataError(f"Only {max(n_train, 0)} training row(s) remain of the {source.n_tokens} activations after "
                        f"holding out {n_holdout} (holdout={train.holdout:g}); an SAE needs at least 2 to learn "
                        "from. Pass more activations.")
    if train.tokens < train.batch_size:
        raise AekitError(f"The training budget tokens={train.tokens} is less than one batch "
                         f"(batch_size={train.batch_size}). Raise the budget to at least one batch, or lower "
                         "batch_size.")
    if n_train < train.batch_size:
        raise AekitError(f"Only {n_train} training tokens remain after holding out {n_holdout}, fewer than one "
                         f"batch of {train.batch_size}. Harvest more tokens or lower batch_size.")
    device = resolve_device(train.device)
    torch.manual_seed(train.seed)
    sae = SparseAutoencoder(config).to(device)
    generator = torch.Generator().manual_seed(train.seed)
    if n_train <= train.init_tokens:
        sample = source.read(0, n_train)
    else:  # 16 random stretches: a fair sample without one read per row
        size = max(1, train.init_tokens // 16)
        offsets = torch.randint(0, n_train - size + 1, (16,), generator=generator).tolist()
        sample = torch.cat([source.read(o, o + size) for o in offsets])
    if bool((sample == sample[0]).all()):
        raise DataError(f"The activations are constant: all {len(sample)} rows sampled for initialisation equal "
                        f"{_preview(sample[0])}, so there is no variance to explain (FVU is undefined) and nothing "
                        "to learn. Pass activations that vary from token to token.")
    sae.initialize(sample.to(device), b_dec_init=train.b_dec_init, normalize=train.normalize)
    history, seconds = _fit(sae, source, n_train, train, generator, device)
    metrics, fires = reconstruction_metrics(sae, source, n_train, source.n_tokens)
    steps = train.tokens // train.batch_size
    if steps * train.batch_size != train.tokens:
        logger.warning("The budget of %d tokens was rounded down to %d steps of %d: %d tokens.", train.tokens,
                       steps, train.batch_size, steps * train.batch_size)
    metrics.update({"train_tokens": steps * train.batch_size, "train_seconds": seconds,
                    "tokens_per_second": steps * train.batch_size / max(seconds, 1e-9), "steps": steps})
    provenance = {k: source.manifest.get(k) for k in PROVENANCE}
    if isinstance(source, ActivationStore):
        provenance["activations"] = str(source.directory.resolve())
    run = SAERun(sae=sae.eval(), train_config=train, metrics=metrics, history=history, fires=fires,
                 holdout=(n_train, source.n_tokens), provenance=provenance)
    if out is not None:
        save_run(out, run)
    logger.info("Trained %s SAE: held-out l0 %.1f, fvu %s, dead %.2f%% (%.0f tokens/s)", config.arch,
                metrics["l0"], "undefined" if metrics["fvu"] is None else f"{metrics['fvu']:.4f}",
                100 * metrics["dead_fraction"], metrics["tokens_per_second"])
    return run


def _preview(row: Tensor, shown: int = 4) -> str:
    values = ", ".join(f"{float(v):g}" for v in row[:shown])
    return f"[{values}{', ...' if len(row) > shown else ''}]"


def _fit(sae: SparseAutoencoder, source: ActivationStore | TensorActivations, n_train: int, train: SAETrainConfig,
         generator: torch.Generator, device: torch.device) -> tuple[list[dict[str, float]], float]:
    steps = train.tokens // train.batch_size  # train_sae refuses a budget below one batch
    lr = train.learning_rate(sae.config.latent_dim)
    # JumpReLU thresholds move by about lr per Adam step; at lr ~5e-4 they cannot follow pre-activations that grow
    # by O(1) within a few thousand steps, and L0 drifts far above its target whatever the L0 coefficient.
    thresholds = [p for name, p in sae.named_parameters() if name.endswith("threshold")]
    others = [p for name, p in sae.named_parameters() if not name.endswith("threshold")]
    groups = [{"params": others, "scale": 1.0}]
    if thresholds:
        groups.append({"params": thresholds, "scale": train.threshold_lr_scale})
    optimizer = torch.optim.Adam(groups, lr=lr, eps=train.adam_eps)
    aux_k = sae.config.d_in // 2 if train.aux_k is None else train.aux_k
    silent = torch.zeros(sae.config.latent_dim, dtype=torch.int64, device=device)  # tokens since last firing
    batches = shuffled_batches(source, 0, n_train, batch_size=train.batch_size, buffer_tokens=train.buffer_tokens,
                               generator=generator)
    history: list[dict[str, float]] = []
    sae.train()
    started = time.perf_counter()
    for step in range(steps):
        x = next(batches).to(device, non_blocking=True) * sae.input_scale  # (batch, d_in), normalised
        for group in optimizer.param_groups:
            group["lr"] = group["scale"] * lr * train.lr_factor(step, steps)
        out = sae.loss(x, dead=silent >= train.dead_tokens, aux_k=aux_k, aux_weight=train.aux_weight,
                       sparsity_scale=train.sparsity_factor(step, steps))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        sae.project_decoder_grad()
        optimizer.step()
        sae.normalize_decoder()
        silent += len(x)
        silent[out.fired] = 0
        if not torch.isfinite(out.loss):
            raise AekitError(f"The SAE loss became {float(out.loss.detach())} at step {step}. Lower the learning rate "
                             f"(lr={lr:g}) or the sparsity weight.")
        if step % train.log_every == 0 or step == steps - 1:
            record = {"step": step, "tokens": (step + 1) * train.batch_size, "loss": float(out.loss.detach()),
                      **{f"loss_{name}": float(value.detach()) for name, value in out.losses.items()},
                      "l0": float(out.l0), "dead_fraction": float((silent >= train.dead_tokens).float().mean())}
            history.append(record)
            logger.debug("step %d: %s", step, record)
    return history, time.perf_counter() - started


# ------------------------------------------------------------------------------------------- run directories
def save_run(directory: str | os.PathLike[str], run: SAERun) -> Path:
    """Write ``run`` to ``directory`` (config.json, sae.safetensors, history.json, metrics.json, fires.npy).

    The run is written whole to a staging folder beside ``directory`` and renamed into place
    (:func:`aekit.io.replace_folder`): files there that are not run parts stay, and an interrupted save leaves the
    old run whole. A replaced run's ``dashboard.html`` is dropped (it describes the old SAE); in a folder that held
    no run, every file there is the user's and stays. Whether a run there may be replaced is :func:`train_sae`'s
    check (``overwrite``)."""
    directory = check_output_folder(directory, FORMAT, option="out")
    held_a_run = (directory / CONFIG_FILE).is_file()  # check_output_folder: then it is an SAE run's
    weights = {k: v.detach().cpu().contiguous() for k, v in run.sae.state_dict().items()}
    record = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "aekit_version": __version__,
        "sae": run.sae.config.to_json_dict(), "training": run.train_config.to_json_dict(),
        "activations": run.provenance, "holdout": list(run.holdout),
    }
    try:
        with staged_folder(directory, is_part=lambda name: held_a_run and name in _RUN_PARTS) as staging:
            save_file(weights, str(staging / WEIGHTS_FILE), metadata={"format": FORMAT})
            write_json(staging / CONFIG_FILE, {**record, "weights_sha256": sha256_file(staging / WEIGHTS_FILE)})
            write_json(staging / HISTORY_FILE, run.history)
            write_json(staging / METRICS_FILE, run.metrics)
            if run.fires is not None:
                with open(staging / FIRES_FILE, "wb") as f:
                    np.save(f, run.fires.numpy())
    except (OSError, SafetensorError) as exc:
        raise write_error(directory, exc, what="the SAE run ") from None
    run.directory = directory
    return directory


def load_sae(directory: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> SAERun:
    """Load a run directory written by :func:`train_sae`; the weights are checked against their sha256."""
    directory = Path(directory)
    config = read_config(directory, file=CONFIG_FILE, file_format=FORMAT, max_version=FORMAT_VERSION,
                         what="SAE run", origin="the --out folder of 'aekit sae train'")
    weights = directory / WEIGHTS_FILE
    if not weights.is_file() or sha256_file(weights) != config.get("weights_sha256"):
        raise ModelFileError(f"'{weights}' is missing or does not match the checksum in {CONFIG_FILE}. Train the "
                             "SAE again.")

    def refuse(detail: str) -> ModelFileError:
        detail = " ".join(detail.split()).rstrip(".")  # one line: torch lists each mismatched tensor on its own
        detail = detail if len(detail) <= 300 else detail[:300] + " (...)"
        return ModelFileError(f"Cannot load the SAE in '{directory}': {detail}. Train it again.")

    for key, kind in (("sae", dict), ("training", dict), ("activations", dict), ("holdout", list)):
        if (key in config and not isinstance(config[key], kind)) or (key in ("sae", "training") and key not in config):
            raise refuse(f"{CONFIG_FILE} holds {key} {config.get(key)!r:.60}, not a {kind.__name__}")
    holdout = config.get("holdout", [0, 0])
    if not (len(holdout) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in holdout)
            and 0 <= holdout[0] <= holdout[1]):
        raise refuse(f"{CONFIG_FILE} holds holdout {holdout!r:.60}, not two row numbers [start, stop]")
    try:
        sae = SparseAutoencoder(SAEConfig.from_json_dict(config["sae"]))
        state = load_file(str(weights))
        train = SAETrainConfig.from_json_dict(config["training"])
    except (SafetensorError, RuntimeError, KeyError, TypeError, ValueError, AekitError) as exc:
        raise refuse(str(exc)) from None
    shapes = {k: tuple(v.shape) for k, v in sae.state_dict().items()}
    wrong = [f"{k} is {tuple(v.shape)} where {CONFIG_FILE} makes it {shapes[k]}" for k, v in state.items()
             if k in shapes and tuple(v.shape) != shapes[k]]
    if wrong:  # a hand-edited arch, expansion or k: the weights are another SAE's
        raise refuse(f"the weights do not fit the SAE {CONFIG_FILE} describes ({'; '.join(wrong[:2])})")
    try:
        sae.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # other tensors than the arch has (a hand-edited arch)
        raise refuse(str(exc)) from None
    side = directory / METRICS_FILE  # the side files: figures, curves and firing counts, each optional
    try:
        metrics: dict[str, Any] = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
        side = directory / HISTORY_FILE
        history: list[dict[str, float]] = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else []
        side = directory / "fires.npy"
        fires = torch.from_numpy(np.load(side, allow_pickle=False)) if side.is_file() else None
    except (ValueError, OSError, EOFError) as exc:  # JSONDecodeError is a ValueError
        raise ModelFileError(f"Cannot read '{side}' ({' '.join(str(exc).split())}). Delete it (it is optional) "
                             "or train the SAE again.") from None
    if not isinstance(metrics, dict) or not isinstance(history, list):
        raise ModelFileError(f"'{directory}' holds a {METRICS_FILE} or {HISTORY_FILE} of the wrong shape. Train the "
                             "SAE again.")
    return SAERun(sae=sae.to(device).eval(), train_config=train, metrics=metrics, history=history, fires=fires,
                  holdout=(holdout[0], holdout[1]), provenance=config.get("activations", {}),
                  directory=directory)
