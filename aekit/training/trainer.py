"""The training loop: optimizers, schedules, validation, early stopping, checkpoints, resume, DDP, AMP.

One loop for every autoencoder: it only calls ``model(x).loss``. What differs between families lives in
the parts, never here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from aekit.config import from_dict, to_dict
from aekit.errors import AekitError, check_choice, check_float, check_int, warn
from aekit.io import FORMAT as MODEL_FORMAT
from aekit.io import atomic_path, check_output_folder, load_state, save_state
from aekit.training.distributed import DistributedContext, all_reduce_sum, context
from aekit.training.pretraining import pretrain
from aekit.training.sources import BatchSource, batch_bounds, has_batch_norm

__all__ = ["TrainerConfig", "Trainer", "FitResult", "TrainingError", "resolve_device", "CHECKPOINT_FILE",
           "METRICS_FILE"]

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.jsonl"
# The way out of every resume error, in the Python API's terms (the CLI writes them as its flags: _in_cli_terms).
_AFRESH = "train afresh into another run_dir with resume=False"


class TrainingError(AekitError):
    """Training cannot go on (for example the loss became NaN before any epoch finished)."""


@dataclass(frozen=True)
class TrainerConfig:
    """How to train. Every field has the default a practitioner would pick first."""

    max_epochs: int = 50
    batch_size: int = 128  # global batch: split over processes under DDP
    lr: float = 1e-3  # Adam's standard step; autoencoders rarely need tuning here
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    momentum: float = 0.9  # SGD only (Nesterov off): the usual value
    weight_decay: float = 0.0
    schedule: Literal["constant", "cosine", "onecycle", "plateau"] = "constant"
    grad_clip: float | None = None  # max global gradient norm
    early_stopping: bool = True
    patience: int = 10  # epochs without validation improvement before stopping
    min_delta: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto -> cuda, mps, cpu
    precision: Literal["auto", "32", "bf16-mixed", "16-mixed"] = "auto"  # auto: bf16-mixed on CUDA, else 32
    progress: bool | None = None  # None: a progress bar only when stderr is a terminal
    # not a setting: whose parameters these are in error messages (AutoEncoder's, when it builds the config)
    owner: InitVar[str] = "Trainer"

    def __post_init__(self, owner: str) -> None:
        def checked(name: str, check: Any, **bounds: Any) -> None:
            # stored as plain int / float: NumPy numbers (a grid search's) would not go into JSON checkpoints
            object.__setattr__(self, name, check(getattr(self, name), name=name, owner=owner, **bounds))

        checked("max_epochs", check_int, low=1)
        checked("batch_size", check_int, low=1)
        checked("lr", check_float, low=0.0, low_inclusive=False)
        check_choice(self.optimizer, ["adam", "adamw", "sgd"], name="optimizer", owner=owner)
        checked("momentum", check_float, low=0.0, high=1.0, high_inclusive=False)
        checked("weight_decay", check_float, low=0.0)
        check_choice(self.schedule, ["constant", "cosine", "onecycle", "plateau"], name="schedule", owner=owner)
        if self.grad_clip is not None:
            checked("grad_clip", check_float, low=0.0, low_inclusive=False)
        if not isinstance(self.early_stopping, (bool, np.bool_)):
            raise AekitError(f"The 'early_stopping' parameter of {owner} must be True or False. Got "
                             f"{self.early_stopping!r} instead.")
        object.__setattr__(self, "early_stopping", bool(self.early_stopping))
        checked("patience", check_int, low=1)
        checked("min_delta", check_float, low=0.0)
        checked("seed", check_int, low=0, high=2**32 - 1)
        check_choice(self.precision, ["auto", "32", "bf16-mixed", "16-mixed"], name="precision", owner=owner)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> TrainerConfig:
        return from_dict(cls, data, owner="Trainer")


@dataclass
class FitResult:
    """What training produced, besides the weights now in the model."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    best_loss: float = math.inf
    stopped_reason: str = "max_epochs"
    device: str = "cpu"


def resolve_device(device: str | torch.device, local_rank: int | None = None) -> torch.device:
    """``"auto"`` -> CUDA (this process's GPU under DDP), else Apple MPS, else CPU; anything else as given."""
    if isinstance(device, torch.device):
        return device
    if local_rank is None:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise AekitError(f"Unknown device {device!r}. Use 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'.") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if resolved.type not in available:  # xpu, meta, ...: devices aekit does not train on
        raise AekitError(f"Device {device!r} is not supported. Use 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'.")
    if not available[resolved.type]:
        name = "CUDA" if resolved.type == "cuda" else "Apple's MPS"
        raise AekitError(f"Device {device!r} was requested but {name} is not available here. Use 'auto' or 'cpu'.")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise AekitError(f"Device {device!r} was requested but this machine has {torch.cuda.device_count()} CUDA "
                         f"device(s), numbered from 0. Use 'cuda' or 'cuda:0'.")
    return resolved


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return None
    if precision == "32":
        return None
    if precision == "16-mixed" and device.type != "cuda":
        raise AekitError(f"Precision '16-mixed' needs a CUDA device; training runs on {device.type}. "
                         "Use 'bf16-mixed' or '32'.")
    return torch.bfloat16 if precision == "bf16-mixed" else torch.float16


class Trainer:
    """Trains an :class:`~aekit.model.Autoencoder` on batch sources.

    Parameters
    ----------
    config : training settings.
    run_dir : where ``metrics.jsonl`` and the per-epoch ``checkpoint.safetensors`` go (None: nowhere).
    """

    def __init__(self, config: TrainerConfig | None = None, *, run_dir: str | Path | None = None) -> None:
        self.config = config or TrainerConfig()
        self.run_dir = None
        if run_dir is not None:  # a bad path fails now, in one line, not after the first epoch
            self.run_dir = check_output_folder(run_dir, MODEL_FORMAT, option="run_dir")

    # ------------------------------------------------------------------------------------------- parts
    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        cfg = self.config
        params = [p for p in model.parameters() if p.requires_grad]
        # Adam's foreach form: a few calls per step for all parameters instead of a Python loop over them (torch
        # picks it by itself only on CUDA); same updates bit for bit, 10-15% off a small model's fit on CPU.
        # (SGD's loop is short: no gain measured.)
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    def _scheduler(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Any:
        cfg = self.config
        total = cfg.max_epochs * steps_per_epoch
        if cfg.schedule == "cosine":  # stepped per batch
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total, 1))
        if cfg.schedule == "onecycle":  # stepped per batch
            return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=max(total, 1))
        if cfg.schedule == "plateau":  # stepped per epoch on the monitored loss
            return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5,
                                                              patience=max(1, cfg.patience // 3))
        return None

    # -------------------------------------------------------------------------------------------- fit
    def fit(self, model: nn.Module, train: BatchSource, val: BatchSource | None = None, *,
            resume: bool = False) -> FitResult:
        """Train ``model`` in place; on return it holds the best weights (by validation loss if ``val``).

        With ``resume=True`` training continues from ``run_dir/checkpoint.safetensors``.
        """
        cfg = self.config
        ctx = context(train.device.type)
        device = train.device
        autocast_dtype = _autocast_dtype(cfg.precision, device)
        grad_scaler = torch.amp.GradScaler("cuda", enabled=autocast_dtype == torch.float16)
        n_train = len(train)
        if n_train == 0:
            raise AekitError("The training split is empty. Provide more samples or lower validation_fraction.")
        # every process gets a row of each batch, and two under BatchNorm (it cannot train on one): a last batch
        # with fewer joins the one before
        per_process = 2 if has_batch_norm(model) else 1
        min_rows = per_process * ctx.world_size
        if min_rows > min(n_train, cfg.batch_size):
            who = f"each of {ctx.world_size} processes" if ctx.enabled else "the process"
            raise AekitError(f"A batch must give {who} {per_process} row(s){' (BatchNorm)' if per_process > 1 else ''}"
                             f", {min_rows} in all; batch_size={cfg.batch_size} with {n_train} training rows cannot. "
                             f"Use a batch size and a training split of at least {min_rows} rows"
                             f"{', or fewer devices' if ctx.enabled else ''}.")
        bounds = batch_bounds(n_train, cfg.batch_size, min_rows=min_rows)
        steps_per_epoch = len(bounds)

        model.to(device)
        if not resume:  # greedy layer-wise pretraining for models that ask for it (the stacked preset)
            pretrain(model, train, cfg)
        net: nn.Module = model
        if ctx.enabled:
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        optimizer = self._optimizer(model)
        scheduler = self._scheduler(optimizer, steps_per_epoch)
        per_step_schedule = cfg.schedule in ("cosine", "onecycle")
        rng = np.random.default_rng(cfg.seed)
        result = FitResult(device=str(device))
        best_state: dict[str, Tensor] | None = None
        bad_epochs, start_epoch = 0, 0

        rows = {"train": len(train), "validation": len(val) if val is not None else 0}  # checked on resume
        # what was trained, also checked on resume: the model's config and a digest of the rows as the model reads
        # them (another file of as many rows, or another scaler, would otherwise continue silently)
        trained_on: dict[str, str | None] = {}
        if self.run_dir is not None:  # (no checkpoint without a run directory)
            settings = getattr(model, "settings", None)  # an Autoencoder's, with every default filled in
            trained_on = {"model_settings": json.dumps(settings()) if callable(settings) else None,
                          "data_digest": _data_digest(train, val)}
        if resume:
            state = self._load_checkpoint(rows, trained_on)
            expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
            saved = {name: tuple(value.shape) for name, value in state["model"].items()}
            if saved != expected:  # else torch's multi-line "size mismatch" list
                differ = sorted(n for n in expected.keys() | saved.keys() if expected.get(n) != saved.get(n))
                shapes = [f"shape {d[differ[0]]}" if differ[0] in d else "none" for d in (saved, expected)]
                raise AekitError(f"Cannot resume: the checkpoint in '{self.run_dir}' is of another model (its "
                                 f"{differ[0]} has {shapes[0]}, this model's {shapes[1]}; {len(differ)} tensor(s) "
                                 "differ). Resume with the settings and data it was trained with, or "
                                 f"{_AFRESH}.")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler") is not None:
                scheduler.load_state_dict(state["scheduler"])
            if state.get("grad_scaler"):
                grad_scaler.load_state_dict(state["grad_scaler"])
            rng.bit_generator.state = json.loads(state["numpy_rng"])
            torch.set_rng_state(state["torch_rng"])
            best_state = state.get("best_state")
            result.history = json.loads(state["history"])
            result.best_epoch, result.best_loss = state["best_epoch"], state["best_loss"]
            bad_epochs, start_epoch = state["bad_epochs"], state["epoch"] + 1
            logger.info("Resuming at epoch %d from %s", start_epoch + 1, self.run_dir)
        if ctx.is_main and self.run_dir is not None:
            self._rewrite_metrics(result.history)

        # parts with warm-ups or annealing (KL weight, sparsity coefficients) follow the training progress
        # the parts' own hooks: not the model's, which forwards to them (each part would be told twice a step)
        progress_hooks = [m.set_progress for m in model.modules()
                          if m is not model and callable(getattr(m, "set_progress", None))]
        total_steps = max(cfg.max_epochs * steps_per_epoch, 1)
        # While a warm-up runs, the training objective is not yet the final one (a KL weight of 0.1 makes the
        # training loss far lower than -ELBO), so those epochs can be neither the best nor a bad one; their weights
        # are kept only as the fallback should training end or diverge before the warm-ups do.
        warmup_end = max((float(getattr(m, "warmup_end", 0.0)) for m in model.modules()), default=0.0)
        bar = tqdm(total=(cfg.max_epochs - start_epoch) * steps_per_epoch, unit="step", dynamic_ncols=True,
                   disable=(not ctx.is_main) or (None if cfg.progress is None else not cfg.progress),
                   desc="training", leave=False)
        try:
            for epoch in range(start_epoch, cfg.max_epochs):
                started = time.perf_counter()
                lr = optimizer.param_groups[0]["lr"]  # the epoch's rate (at its first step, for per-step schedules)
                model.train()
                perm = torch.from_numpy(rng.permutation(n_train))
                sums: dict[str, Tensor] = {}
                for step, (start, stop) in enumerate(bounds):
                    for hook in progress_hooks:
                        hook((epoch * steps_per_epoch + step) / total_steps)
                    batch = perm[start:stop]
                    local = batch[ctx.rank::ctx.world_size]
                    x = train.batch(local)  # (local_batch, *input_shape)
                    with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                        enabled=autocast_dtype is not None):
                        out = net(x)
                    loss = out.loss
                    if ctx.enabled:  # DDP averages gradients; weight by batch share so the result is the global mean
                        loss = loss * (len(local) * ctx.world_size / len(batch))
                    optimizer.zero_grad(set_to_none=True)
                    grad_scaler.scale(loss).backward()
                    if cfg.grad_clip is not None:
                        grad_scaler.unscale_(optimizer)
                        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    grad_scaler.step(optimizer)
                    grad_scaler.update()
                    if per_step_schedule:
                        scheduler.step()
                    n_local = len(local)
                    scalar_stats = ((f"stat_{k}", v) for k, v in out.stats.items() if v.ndim == 0)
                    for name, value in (("loss", out.loss), *out.losses.items(), *scalar_stats):
                        term = value.detach().float() * n_local
                        sums[name] = sums[name] + term if name in sums else term
                    bar.update(1)
                names = list(sums)
                totals = all_reduce_sum(torch.stack([sums[k] for k in names]), ctx).cpu()
                train_metrics = {k: float(v) / n_train for k, v in zip(names, totals)}
                record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_metrics.pop("loss")}
                record.update({f"train_{k}": v for k, v in train_metrics.items()})
                if not math.isfinite(record["train_loss"]):
                    raise _NonFinite(epoch)
                if val is not None and len(val) > 0:
                    record["val_loss"] = self.evaluate(net, val, ctx, autocast_dtype)
                    if not math.isfinite(record["val_loss"]):
                        raise _NonFinite(epoch)
                monitored = record.get("val_loss", record["train_loss"])
                if scheduler is not None and not per_step_schedule:
                    scheduler.step(monitored)
                record["lr"] = lr
                record["seconds"] = round(time.perf_counter() - started, 4)
                record["samples_per_second"] = round(n_train / max(record["seconds"], 1e-9), 1)
                warming_up = epoch * steps_per_epoch / total_steps < warmup_end  # the epoch began mid-warm-up
                if warming_up or monitored < result.best_loss - cfg.min_delta:
                    result.best_epoch, bad_epochs = epoch + 1, 0
                    result.best_loss = math.inf if warming_up else monitored
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad_epochs += 1
                result.history.append(record)
                bar.set_postfix({k: f"{record[k]:.4g}" for k in ("train_loss", "val_loss") if k in record})
                logger.info("epoch %d: %s", epoch + 1, record)
                if ctx.is_main and self.run_dir is not None:
                    self._save_checkpoint(epoch, model, optimizer, scheduler, grad_scaler, rng, best_state, rows,
                                          trained_on, result, bad_epochs)
                    self._append_metrics(record)
                if cfg.early_stopping and bad_epochs >= cfg.patience:
                    result.stopped_reason = f"early stopping: no improvement for {bad_epochs} epochs"
                    break
        except _NonFinite as stop:
            result.stopped_reason = (f"the loss became NaN/Inf in epoch {stop.epoch + 1} (lr={self.config.lr:g})")
            if best_state is None:
                raise TrainingError(
                    f"The loss became NaN/Inf in epoch {stop.epoch + 1}, before any epoch finished cleanly. Lower "
                    f"the learning rate (now {self.config.lr:g}), set grad_clip, or check the data scaling."
                ) from None
            message = (f"Training stopped: {result.stopped_reason}; keeping the best weights "
                       f"(epoch {result.best_epoch}). Lower the learning rate or set grad_clip.")
            warn(logger, message, RuntimeWarning, stacklevel=2)
        finally:
            bar.close()
            # training is over, however it ended: warm-ups at their end, as a saved and loaded model has them
            # (progress is no state), so the model in memory and its saved copy compute the same
            for hook in progress_hooks:
                hook(1.0)
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return result

    @torch.no_grad()
    def evaluate(self, net: nn.Module, source: BatchSource, ctx: DistributedContext | None = None,
                 autocast_dtype: torch.dtype | None = None) -> float:
        """Mean loss per sample over ``source`` in eval mode (summed over processes under DDP)."""
        ctx = ctx or DistributedContext()
        was_training = net.training
        net.eval()
        device = source.device
        total = torch.zeros(2, dtype=torch.float64, device=device)
        positions = torch.arange(len(source))[ctx.rank::ctx.world_size]
        # Restoration models are validated on what they are trained for: corrupted input, clean target. The
        # corruption draws from a fixed seed (and leaves the global RNG as it was), so epochs compare fairly.
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            # Only the generators this pass draws from: torch.manual_seed also queues a seed for every CUDA
            # device, capturing a stack trace each time, about 1 ms a call, once per epoch (10% of a small fit).
            seed = self.config.seed + ctx.rank
            torch.random.default_generator.manual_seed(seed)
            if device.type == "cuda":
                with torch.cuda.device(device):  # the model is on it, so CUDA is initialized: no queued call
                    torch.cuda.manual_seed(seed)
            for start in range(0, len(positions), max(self.config.batch_size, 1024)):
                local = positions[start:start + max(self.config.batch_size, 1024)]
                with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                    enabled=autocast_dtype is not None):
                    out = net(source.batch(local), corrupt=True)
                total[0] += out.loss.detach().double() * len(local)
                total[1] += len(local)
        total = all_reduce_sum(total, ctx)
        net.train(was_training)
        return float(total[0] / total[1].clamp_min(1))

    # ------------------------------------------------------------------------------------- checkpoints
    @staticmethod
    def saved_settings(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
        """The training settings of the checkpoint in ``run_dir`` (empty without one), read from its header."""
        path = Path(run_dir) / CHECKPOINT_FILE
        return load_state(path, tensors=False).get("trainer_config", {}) if path.is_file() else {}

    def _load_checkpoint(self, rows: dict[str, int], trained_on: dict[str, str | None]) -> dict[str, Any]:
        """The checkpoint to resume from, refused when this run would not continue that training: other
        optimizer settings (the optimizer's saved state would override them), another schedule or, for one
        laid out over all steps (cosine, one-cycle), another length, other split sizes or seed (the epochs
        would be judged on another validation set), another model config (loss, corruption, parts), other rows
        or scaling of them, or damaged weights."""
        if self.run_dir is None:
            raise AekitError("resume=True needs a run directory with a checkpoint. Pass run_dir.")
        path = self.run_dir / CHECKPOINT_FILE
        if not path.is_file():
            raise AekitError(f"Cannot resume: no {CHECKPOINT_FILE} in '{self.run_dir}'. Train with resume=False "
                             "first.")
        state = load_state(path)
        saved = state.get("trainer_config", {})
        fixed = ["optimizer", "schedule", "lr", "weight_decay", "momentum", "batch_size", "seed"]
        if self.config.schedule in ("cosine", "onecycle"):
            fixed.append("max_epochs")
        current = to_dict(self.config)
        changed = [name for name in fixed if name in saved and saved[name] != current[name]]
        if changed:
            raise AekitError(f"Cannot resume: the checkpoint in '{self.run_dir}' was trained with "
                             f"{', '.join(f'{name}={saved[name]!r}' for name in changed)}; this run asks for "
                             f"{', '.join(f'{name}={current[name]!r}' for name in changed)}. Resume with the same "
                             f"settings, or {_AFRESH}.")
        saved_rows = state.get("rows")
        if saved_rows is not None and saved_rows != rows:
            raise AekitError(f"Cannot resume: the checkpoint in '{self.run_dir}' was trained on {saved_rows['train']} "
                             f"rows and validated on {saved_rows['validation']}; this run has {rows['train']} and "
                             f"{rows['validation']}. Resume with the same data, validation_fraction and random seed.")
        saved_config, config = state.get("model_settings"), trained_on.get("model_settings")
        if saved_config is not None and config is not None and saved_config != config:
            name, before, now = _first_difference(json.loads(saved_config), json.loads(config))
            raise AekitError(f"Cannot resume: the checkpoint in '{self.run_dir}' is of another model: its {name} is "
                             f"{before}, this run's {now}. Resume with "
                             "the model settings it was trained with (model, loss, options), or "
                             f"{_AFRESH}.")
        if state.get("data_digest") not in (None, trained_on.get("data_digest")):
            raise AekitError(f"Cannot resume: the checkpoint in '{self.run_dir}' was trained on other rows than this "
                             "run's, as the model reads them (another data file, or another scaler). Resume with the "
                             f"same data and scaler, or {_AFRESH}.")
        damaged = [name for name, tensor in state["model"].items()
                   if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
        if damaged:
            raise AekitError(f"Cannot resume: the checkpoint in '{self.run_dir}' holds NaN or infinite weights (in "
                             f"{damaged[0]}); it is damaged. To start over, {_AFRESH}.")
        return state

    def _save_checkpoint(self, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                         grad_scaler: torch.amp.GradScaler, rng: np.random.Generator,
                         best_state: dict[str, Tensor] | None, rows: dict[str, int],
                         trained_on: dict[str, str | None], result: FitResult, bad_epochs: int) -> None:
        assert self.run_dir is not None
        save_state(self.run_dir / CHECKPOINT_FILE, {
            "epoch": epoch,
            "trainer_config": to_dict(self.config),
            "rows": rows,
            **{key: value for key, value in trained_on.items() if value is not None},
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "grad_scaler": grad_scaler.state_dict() if grad_scaler.is_enabled() else None,
            "numpy_rng": json.dumps(rng.bit_generator.state),
            "torch_rng": torch.get_rng_state(),
            "best_state": best_state,
            "best_epoch": result.best_epoch,
            "best_loss": result.best_loss,
            "bad_epochs": bad_epochs,
            "history": json.dumps(result.history),
        })

    def _append_metrics(self, record: dict[str, Any]) -> None:
        assert self.run_dir is not None
        with open(self.run_dir / METRICS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _rewrite_metrics(self, history: list[dict[str, Any]]) -> None:
        """Start ``metrics.jsonl`` afresh (or, on resume, with exactly the checkpoint's epochs)."""
        assert self.run_dir is not None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.run_dir / METRICS_FILE) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in history), encoding="utf-8")


def _first_difference(before: Any, now: Any, path: str = "") -> tuple[str, str, str]:
    """The setting (dotted path, e.g. ``backbone.hidden_dims``) that tells best how two JSON model configs differ,
    with both values as JSON ('unset' where one has none): another part first (the backbone, the bottleneck:
    another preset, named as ``backbone``), then the code size, then options, each part's in the order of
    :data:`_TELLING`. Sorted by name alone, a dense checkpoint resumed as conv was told apart by its dropout."""
    if not path and isinstance(before, dict) and isinstance(now, dict):
        for part in _PARTS:  # a part's name: the options that follow it differ as a consequence
            names = [(config.get(part) or {}).get("name", _UNSET) if isinstance(config.get(part, {}), dict)
                     else _UNSET for config in (before, now)]
            if names[0] != names[1]:
                return part, *_shown(names[0]), *_shown(names[1])
    if isinstance(before, dict) and isinstance(now, dict):
        for key in sorted(before.keys() | now.keys(), key=lambda k: (_TELLING.index(k) if k in _TELLING
                                                                      else len(_TELLING), k)):
            if before.get(key, _UNSET) != now.get(key, _UNSET):
                return _first_difference(before.get(key, _UNSET), now.get(key, _UNSET), f"{path}.{key}".lstrip("."))
    return path, *_shown(before), *_shown(now)


def _shown(value: Any) -> tuple[str]:
    """A config value as a message shows it: JSON, or 'unset'."""
    return ("unset" if value is _UNSET else json.dumps(value),)


_UNSET = object()
_PARTS = ("backbone", "bottleneck", "likelihood", "corruption")  # the parts a preset picks, the telling first
_TELLING = ("name", "latent_dim", "backbone", "bottleneck", "input_shape", "likelihood", "corruption",
            "regularizers")


def _data_digest(train: BatchSource, val: BatchSource | None, rows: int = 256) -> str:
    """A digest of up to ``rows`` evenly spaced rows of each split, as the model reads them (scaled): enough to
    tell another file or another scaling apart, at the cost of reading a few batches."""
    digest = hashlib.blake2b(digest_size=16)
    for source in (train, val):
        if source is None or len(source) == 0:
            continue
        positions = np.unique(np.linspace(0, len(source) - 1, min(len(source), rows)).round().astype(np.int64))
        batch = source.batch(torch.from_numpy(positions)).detach().cpu().contiguous().numpy()
        digest.update(str(batch.shape).encode())
        digest.update(batch.tobytes())
    return digest.hexdigest()


class _NonFinite(Exception):
    def __init__(self, epoch: int) -> None:
        super().__init__(epoch)
        self.epoch = epoch
