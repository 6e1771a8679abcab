"""``aekit.AutoEncoder``: the scikit-learn face of aekit (fit / transform / inverse_transform / score_samples)."""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from aekit.data import Dataset, Scaler, check_features, check_numeric_columns, validate_finite
from aekit.errors import AekitError, DataError, ModelFileError, check_choice, check_float, check_int
from aekit.io import load_model, params_to_store, plain, save_model
from aekit.model import LOG_LIKELIHOOD_TERMS, Autoencoder, AutoencoderConfig, describe
from aekit.parts import BACKBONES, LIKELIHOODS
from aekit.presets import PRESETS, build_config, option_names
from aekit.training import FitResult, Trainer, TrainerConfig, make_source, resolve_device

__all__ = ["AutoEncoder"]

logger = logging.getLogger(__name__)

SCALERS = ("auto", "minmax", "standard", "none")
_INFERENCE_BATCH = 256
_SAMPLE_KINDS = {1: "rows (n_features,)", 2: "signals or windows (channels, length)",
                 3: "images (channels, height, width)"}  # a backbone's sample_ndims, in words


class AutoEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """An autoencoder with scikit-learn's estimator API.

    ``transform`` gives latent codes, ``inverse_transform`` decodes them, ``reconstruct`` and ``score_samples``
    work in the caller's original units (the scaler fitted on the training split is undone). The codes are named
    ``autoencoder0``, ``autoencoder1``, ... (``get_feature_names_out``, as PCA's ``pca0``...), so
    ``set_output(transform="pandas")`` gives them as a DataFrame, in a Pipeline too.

    Parameters
    ----------
    model : str or None, default "dense"
        A preset name (``aekit.list_models()``): ``"dense"``, ``"conv"``, ... None only as :meth:`load` sets it
        for a module saved alone with :func:`aekit.save_model` that no preset rebuilds: it transforms but cannot
        fit.
    latent_dim : int, default 8
        Size of the code.
    hidden_dims : tuple of int or None, default None
        Widths of the backbone's layers (channels per stage for ``"conv"``); None keeps the preset's.
    model_options : dict or None, default None
        Options of the preset's parts, e.g. ``{"dropout": 0.1}`` or ``{"backbone.activation": "gelu"}``.
    loss : {"mse", "l1", "bce", "ce"} or None, default None
        Reconstruction likelihood; None keeps the preset's.
    max_epochs, batch_size, lr, optimizer, weight_decay, schedule, grad_clip, early_stopping, patience :
        Training settings, see :class:`aekit.training.TrainerConfig`. With or without early stopping, the
        fitted model holds the weights of its best epoch by the monitored loss (``best_epoch_``), not the last.
    validation_fraction : float in [0, 1), default 0.1
        Share of the rows held out for early stopping; 0 monitors the training loss.
    scaler : {"auto", "minmax", "standard", "none"}, default "auto"
        Fitted on the training split only. ``"auto"``: per-feature min-max for tables, one global min-max for
        images and signals, none for categorical likelihoods.
    input_shape : tuple of int or None, default None
        Shape of one sample when rows of ``X`` are flattened images, e.g. ``(1, 28, 28)``. None: the shape of
        ``X`` beyond the first axis, or a square single-channel image if the backbone needs images.
    random_state : int, RandomState or None, default None
        Seeds the weights, the split, the shuffling and any sampling: same seed, same model on CPU.
    device : str, default "auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    precision : {"auto", "32", "bf16-mixed", "16-mixed"}, default "auto"
        Mixed precision on CUDA by default, float32 elsewhere.
    verbose : bool, default False
        Show a progress bar (on terminals only) and log each epoch.

    Attributes
    ----------
    model_ : aekit.Autoencoder, the trained module (eval mode).
    scaler_ : aekit.data.Scaler
    input_shape_ : tuple of int
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when fitted on a DataFrame with string column names.
    history_ : list of dict, one per epoch (train_loss, val_loss, lr, ...).
    best_epoch_ : int
    """

    def __init__(
        self,
        model: str = "dense",
        latent_dim: int = 8,
        hidden_dims: tuple[int, ...] | None = None,
        *,
        model_options: dict[str, Any] | None = None,
        loss: str | None = None,
        max_epochs: int = 50,
        batch_size: int = 128,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        schedule: str = "constant",
        grad_clip: float | None = None,
        validation_fraction: float = 0.1,
        early_stopping: bool = True,
        patience: int = 10,
        scaler: str = "auto",
        input_shape: tuple[int, ...] | None = None,
        random_state: int | np.random.RandomState | None = None,
        device: str = "auto",
        precision: str = "auto",
        verbose: bool = False,
    ) -> None:
        self.model = model
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.model_options = model_options
        self.loss = loss
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.grad_clip = grad_clip
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.scaler = scaler
        self.input_shape = input_shape
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.verbose = verbose

    # --------------------------------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None, *, run_dir: str | os.PathLike[str] | None = None,
            resume: bool = False) -> AutoEncoder:
        """Train on ``X``, of shape (n_samples, n_features) or (n_samples, *input_shape).

        Parameters
        ----------
        X : array-like, DataFrame, memory-mapped ndarray (streamed when large) or :class:`aekit.data.Dataset`.
        y : ignored.
        run_dir : folder for ``metrics.jsonl`` and the per-epoch checkpoint; None keeps nothing on disk.
        resume : continue from the checkpoint in ``run_dir``.

        Returns
        -------
        self
        """
        if self.model is None:  # set by hand, or by AutoEncoder.load for a module saved alone no preset builds
            raise AekitError("model=None: no preset to build, so fit cannot build a model. Pass a preset name (see "
                             "aekit.list_models()); an estimator loaded from a module saved with aekit.save_model "
                             "that no preset builds has model=None and can transform but not fit: train that module "
                             "with your own loop (or aekit.training.Trainer), or fit AutoEncoder(model=<preset>, ...) "
                             "with settings that match it.")
        X = self._validate(X, reset=True)
        check_float(self.validation_fraction, name="validation_fraction", owner="AutoEncoder", low=0.0, high=1.0,
                    high_inclusive=False)
        check_choice(self.scaler, SCALERS, name="scaler", owner="AutoEncoder")
        trainer_config = self._trainer_config(run_dir if resume else None)
        config = self._model_config(X)
        samples = X.reshape(X.shape[0], *config.input_shape)
        train_rows, val_rows = self._split(len(samples), trainer_config.seed)
        self.scaler_ = self._make_scaler(config).fit(samples, indices=train_rows)
        self._check_target_range(config, samples, train_rows)
        device = resolve_device(self.device)
        trainer = Trainer(trainer_config, run_dir=run_dir)
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(trainer_config.seed)
            if device.type == "cuda":
                torch.cuda.manual_seed(trainer_config.seed)
            model = Autoencoder(config).float()  # float32 like the batches, whatever torch's default dtype
            # the sources own their copies, so the scaler may work in place; the identity scaler is skipped
            scale = None if self.scaler_.is_identity else functools.partial(self.scaler_.transform, copy=False)
            train = make_source(samples, train_rows, scale, device)
            val = make_source(samples, val_rows, scale, device) if len(val_rows) else None
            result: FitResult = trainer.fit(model, train, val, resume=resume)
        self.model_ = model.eval()
        self.config_ = config
        self.input_shape_ = config.input_shape
        self.flat_input_ = X.ndim == 2
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.stopped_reason_ = result.stopped_reason
        self.n_train_samples_ = len(train_rows)
        return self

    def _trainer_config(self, resumed: str | os.PathLike[str] | None = None) -> TrainerConfig:
        """The training settings; resuming from the run directory ``resumed`` without a fixed ``random_state``,
        the seed is the checkpoint's (it draws the validation split, which the resumed run must share)."""
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool):
            seed = check_int(self.random_state, name="random_state", owner="AutoEncoder", low=0, high=2**32 - 1)
        elif resumed is not None and (saved := Trainer.saved_settings(resumed)).get("seed") is not None:
            seed = int(saved["seed"])
        else:
            seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        return TrainerConfig(
            max_epochs=self.max_epochs, batch_size=self.batch_size, lr=self.lr, optimizer=self.optimizer,
            weight_decay=self.weight_decay, schedule=self.schedule, grad_clip=self.grad_clip,
            early_stopping=self.early_stopping, patience=self.patience, seed=seed, device=self.device,
            precision=self.precision, progress=None if self.verbose else False, owner="AutoEncoder",
        )

    def _model_config(self, X: np.ndarray) -> AutoencoderConfig:
        if self.model_options is not None and not isinstance(self.model_options, Mapping):
            raise AekitError(f"The 'model_options' parameter of AutoEncoder must be a dict of part options, e.g. "
                             f"{{'dropout': 0.1}}. Got {self.model_options!r} instead.")
        options = plain(dict(self.model_options or {}))
        if self.hidden_dims is not None:
            if not isinstance(self.hidden_dims, (list, tuple, np.ndarray)):
                raise AekitError(f"The 'hidden_dims' parameter of AutoEncoder must be a list of layer widths, e.g. "
                                 f"(256, 128). Got {self.hidden_dims!r} instead.")
            names = option_names(PRESETS.get(self.model)()) if self.model in PRESETS else {"hidden_dims"}
            if "hidden_dims" not in names:  # else build_config's "unknown option 'hidden_dims'", a name never typed
                sizes = sorted(n for n in names if n.endswith("_dim") or n in ("d_model", "dim_feedforward"))
                example = next((n for n in ("hidden_dim", "d_model") if n in sizes), sizes[0] if sizes else "")
                advice = (f"Its sizes are options of their own ({', '.join(sizes)}): pass them as model_options, "
                          f"e.g. {{'{example}': 64}} (CLI: --set {example}=64)." if sizes else
                          f"Its options: {', '.join(sorted(names))}.")
                raise AekitError(f"The 'hidden_dims' parameter of AutoEncoder sets the layer widths of the dense and "
                                 f"conv backbones; model {self.model!r} has none. {advice}")
            options["hidden_dims"] = plain(list(self.hidden_dims))
        input_shape = self._infer_input_shape(X)
        latent_dim = check_int(self.latent_dim, name="latent_dim", owner="AutoEncoder", low=1)
        return build_config(self.model, input_shape=input_shape, latent_dim=latent_dim, options=options,
                            likelihood=self.loss)

    def _infer_input_shape(self, X: np.ndarray) -> tuple[int, ...]:
        return sample_shape(self.model, tuple(X.shape[1:]), self.input_shape)

    def _make_scaler(self, config: AutoencoderConfig) -> Scaler:
        kind = self.scaler
        if kind == "auto":
            kind = "none" if LIKELIHOODS.get(config.likelihood.name).discrete else "minmax"
        # Per feature for tables; one global range for images and signals keeps contrast between pixels.
        return Scaler(kind, per_feature=len(config.input_shape) == 1)

    def _check_target_range(self, config: AutoencoderConfig, samples: np.ndarray, rows: np.ndarray) -> None:
        """Refuse a loss whose targets have a range (BCE: [0, 1]) for scaled training data outside it, and a
        discrete one (cross-entropy: class ids) for scaled or fractional data: the loss would clamp or truncate
        the targets and the model learn, silently, something else (a binarized image)."""
        likelihood = LIKELIHOODS.get(config.likelihood.name)
        name = config.likelihood.name
        if likelihood.discrete and not self.scaler_.is_identity:
            raise DataError(f"loss={name!r} reads each value as a class id, which scaler={self.scaler!r} would turn "
                            "into fractions. Use scaler='none' (or 'auto'), or a loss for any values such as 'mse'.")
        bounds = likelihood.target_range
        if not likelihood.discrete and (bounds is None or self.scaler_.kind == "minmax"):  # min-max: in [0, 1]
            return
        low, high, step, fraction = math.inf, -math.inf, _INFERENCE_BATCH * 16, None
        for start in range(0, len(rows), step):
            chunk = self.scaler_.transform(np.asarray(samples[rows[start:start + step]], dtype=np.float64))
            low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
            if likelihood.discrete and fraction is None and not (whole := chunk == np.round(chunk)).all():
                fraction = float(chunk[~whole][0])
        if fraction is not None:
            raise DataError(f"loss={name!r} needs whole class ids, but the training data holds fractions such as "
                            f"{fraction:.6g}; cross-entropy would cut them to whole numbers. Pass class ids (integer "
                            "codes such as 8-bit pixels), or use a loss for any values such as 'mse'.")
        if bounds is not None and (low < bounds[0] or high > bounds[1]):
            raise DataError(f"loss={config.likelihood.name!r} needs values in [{bounds[0]:g}, {bounds[1]:g}], but the "
                            f"training data spans [{low:.4g}, {high:.4g}] with scaler={self.scaler!r}. Use "
                            "scaler='minmax' (or 'auto'), or a loss for any values such as 'mse'.")

    def _split(self, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        n_val = int(round(n_samples * self.validation_fraction))
        if n_val >= n_samples > 1:
            raise DataError(f"validation_fraction={self.validation_fraction} of {n_samples} samples leaves no rows to "
                            "train on. Lower it (0.1 is usual), or 0 to train without validation.")
        if n_val == 0 or n_val >= n_samples:
            if self.validation_fraction > 0:
                logger.info("%d sample(s): too few for a validation split of %g; training without one.", n_samples,
                            self.validation_fraction)
            return np.arange(n_samples), np.arange(0)
        perm = np.random.default_rng(seed).permutation(n_samples)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    # ------------------------------------------------------------------------------------- validation
    def _validate(self, X: Any, *, reset: bool) -> np.ndarray:
        """Numeric, finite samples as an ndarray (memmaps stay memory-mapped), checked against the fit."""
        if isinstance(X, Dataset):
            X = X.X
        if isinstance(X, np.memmap):  # stream: no full copy into memory
            if X.ndim < 2:
                raise AekitError(f"Expected samples along the first axis of a 2-D or larger array. Got shape "
                                 f"{X.shape} instead. Reshape the data to (n_samples, n_features).")
            validate_finite(Dataset(X=X, y=None, kind="tabular", feature_names=None, class_names=None,
                                    source="memory-mapped array"))
            if reset:
                self.n_features_in_ = math.prod(X.shape[1:])
                if hasattr(self, "feature_names_in_"):  # a memory-mapped array has no column names
                    del self.feature_names_in_
        else:
            if isinstance(X, pd.DataFrame):  # else sklearn's "could not convert string to float", without the column
                check_numeric_columns(X, "X")
            elif not reset:
                X = X if hasattr(X, "shape") else np.asarray(X)  # nested lists of images too
                if len(X.shape) > 2:
                    # images or signals: checked against the fitted sample shape, then one row each, so that
                    # n_features_in_ (the values per sample) is compared the same way for every layout
                    X = np.asarray(X)
                    X = check_features(X, self.input_shape_).reshape(len(X), math.prod(self.input_shape_))
            # NaN/Inf checked below in one line naming the row, not sklearn's paragraph on HistGradientBoosting
            X = validate_data(self, X, reset=reset, allow_nd=True, dtype=[np.float32, np.float64],
                              ensure_all_finite=False)
            validate_finite(Dataset(X=X, y=None, kind="tabular", feature_names=None, class_names=None, source="X"))
            if reset:
                self.n_features_in_ = math.prod(X.shape[1:])  # as for memory-mapped data: values per sample
        _check_float32_range(X)
        if not reset:
            X = check_features(X, self.input_shape_)
        return X

    def _samples(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self._validate(X, reset=False)

    def _run(self, fn: Callable[[torch.Tensor], torch.Tensor], X: np.ndarray, *, scale: bool = True) -> np.ndarray:
        """Apply ``fn`` to scaled batches of ``X`` without gradients; float32 numpy out (integers stay int64).

        Every batch is padded to the same size: float32 BLAS kernels pick their blocking by batch size, so a
        row's result would otherwise change in the last digit with the rows around it. Fixed-size batches keep
        ``transform(X)[i]`` equal to ``transform(X[i:i+1])``.
        """
        device = next(self.model_.parameters()).device
        outputs = []
        size = _INFERENCE_BATCH
        self.model_.eval()
        with torch.no_grad():
            for start in range(0, max(len(X), 1), size):  # no rows: one padded batch gives the output's shape
                chunk = np.array(X[start:start + size], dtype=np.float32)  # a writable copy, also of memmaps
                n = len(chunk)
                tensor = torch.zeros((size, *chunk.shape[1:]), dtype=torch.float32)
                tensor[:n] = torch.from_numpy(chunk)
                tensor = tensor.to(device)
                if scale:
                    tensor = self.scaler_.transform(tensor)
                out = fn(tensor)[:n]
                outputs.append((out.float() if out.is_floating_point() else out).cpu().numpy())
        return np.concatenate(outputs)

    def scaled_samples(self, X: Any) -> np.ndarray:
        """``X`` as the module reads it: checked against the fit, shaped (n_samples, *input_shape_), scaled by
        ``scaler_``; float32. For training ``model_`` further with a loss of one's own (as
        :class:`aekit.cluster.LatentClustering` does), not needed for inference."""
        samples = self._samples(X)
        shaped = np.array(samples, dtype=np.float32).reshape(len(samples), *self.input_shape_)
        return self.scaler_.transform(shaped, copy=False)

    # -------------------------------------------------------------------------------------- inference
    def transform(self, X: Any) -> np.ndarray:
        """Latent codes, shape (n_samples, latent_dim); deterministic."""
        samples = self._samples(X)  # first: it raises NotFittedError on an unfitted estimator
        return self._run(self.model_.encode, samples)

    def code_indices(self, X: Any) -> np.ndarray:
        """The codebook entry chosen at each code position of a vector-quantized model; deterministic.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        ndarray of int64, shape (n_samples, n_vectors), or (n_samples, length, n_vectors) for a code per position
            One index into ``model_.bottleneck.codebook`` per code vector, ``latent_dim // embedding_dim`` of
            them per sample (or per position of a sequence). The codebook rows at these indices,
            flattened per sample, are the codes of :meth:`transform`, so ``inverse_transform`` of them is
            :meth:`reconstruct`. A model whose bottleneck has no codebook raises.
        """
        samples = self._samples(X)
        return self._run(self.model_.code_indices, samples)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decode codes (n_samples, latent_dim) into the original units, shaped like the training rows."""
        check_is_fitted(self, "model_")
        codes = _as_codes(X, self.config_.latent_dim)
        out = self._run(lambda z: self.scaler_.inverse_transform(self.model_.decode(z)), codes, scale=False)
        return out.reshape(len(out), math.prod(self.input_shape_)) if self.flat_input_ else out

    def reconstruct(self, X: Any) -> np.ndarray:
        """``inverse_transform(transform(X))`` in the caller's units, shaped like ``X``."""
        samples = self._samples(X)
        out = self._run(lambda x: self.scaler_.inverse_transform(self.model_.reconstruct(x)), samples)
        return out.reshape(np.shape(X)) if np.ndim(X) > 1 else out

    def degrade(self, X: Any, random_state: int | np.random.RandomState | None = 0) -> np.ndarray:
        """``X`` as the model's training corruption degrades it (noise, masks, grayscale, downsampling), in the
        caller's units and shaped like ``X``: the inputs a restoration model learned to restore.

        ``reconstruct(degrade(X))`` is then the restoration of ``X``, to compare with ``X`` itself
        (``aekit.evaluation.compare_with_pca(..., reference=X)``). The same ``random_state`` gives the same
        degradation. Refused for a model trained without a corruption.
        """
        check_is_fitted(self, "model_")
        corruption = self.model_.corruption
        if corruption is None:
            raise AekitError(f"Model {self.model!r} was trained without a corruption, so it has nothing to degrade "
                             "samples with. Use a model trained to restore, such as 'denoising', 'denoising-conv' or "
                             "'super-resolution'.")
        samples = self._samples(X)
        generator = _torch_generator(random_state, "AutoEncoder.degrade")
        device = next(self.model_.parameters()).device
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(int(generator.initial_seed()))  # the corruption draws from torch's global RNG
            out = self._run(lambda x: self.scaler_.inverse_transform(corruption(x)), samples)
        return out.reshape(np.shape(X)) if np.ndim(X) > 1 else out

    def score_samples(self, X: Any) -> np.ndarray:
        """Negative mean squared reconstruction error per sample, in the original units (higher = typical).

        For categorical models (token ids, class ids) the error is the per-sample cross-entropy in nats instead:
        squared differences between ids mean nothing.
        """
        samples = self._samples(X)

        def error(x: torch.Tensor) -> torch.Tensor:
            if self.model_.likelihood.discrete:
                return -self.model_(x).nll
            x_hat = self.model_.reconstruct(x)
            diff = self.scaler_.inverse_transform(x_hat) - self.scaler_.inverse_transform(x)
            return -diff.square().flatten(1).mean(1)

        return self._run(error, samples).astype(np.float64)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean of :meth:`score_samples`: higher is better, so ``GridSearchCV`` can pick a model unaided."""
        return float(np.mean(self.score_samples(X)))

    # ------------------------------------------------------------------------------------ generation
    def bottleneck_stats(self, X: Any) -> dict[str, np.ndarray]:
        """What the bottleneck and the regularizers report about the codes of ``X`` (eval mode), over the samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        dict of str to ndarray
            Scalars (shape ()) such as ``l0`` and ``active_fraction`` (sparse codes), ``kl`` and
            ``active_units`` (variational), ``perplexity`` (vector-quantized), and per-unit vectors such as
            ``kl_by_unit`` (latent_dim,) or ``code_frequency`` (codebook_size,). Each batch's value is weighted by
            its number of samples; figures of the whole data set that are no such mean (codebook usage and
            perplexity, active units) are recomputed from it by the bottleneck (``pool_stats``), so they do not
            depend on the batch size (except a contractive penalty's random projection estimate, used above 16
            code units with a deep encoder: seeded per batch, it follows the batches' rows within its spread).
            Each regularizer's figures are named ``"<regularizer>.<figure>"``:
            ``l1.l0`` and ``l1.mean_abs_code``; ``kl_sparsity.mean_activation`` against ``kl_sparsity.rho``,
            ``kl_sparsity.near_rho_fraction`` and ``kl_sparsity.kl``; ``contractive.jacobian_frobenius_sq``.
            Empty for a model whose parts report nothing (``deterministic`` with no regularizer).
        """
        samples = self._samples(X)
        if len(samples) == 0:
            raise DataError("bottleneck_stats got 0 samples. Pass at least one row.")
        device = next(self.model_.parameters()).device
        totals: dict[str, np.ndarray] = {}
        self.model_.eval()
        with torch.no_grad():
            for start in range(0, len(samples), _INFERENCE_BATCH):
                x = torch.from_numpy(np.array(samples[start:start + _INFERENCE_BATCH], dtype=np.float32)).to(device)
                out = self.model_(self.scaler_.transform(x, copy=False))
                for name, value in out.stats.items():
                    weighted = value.detach().double().cpu().numpy() * len(x)
                    totals[name] = totals[name] + weighted if name in totals else weighted
        return self.model_.pool_stats({name: total / len(samples) for name, total in totals.items()})

    def sample(self, n_samples: int = 1, random_state: int | np.random.RandomState | None = None) -> np.ndarray:
        """Draw codes from the model's prior and decode them, in the original units.

        Parameters
        ----------
        n_samples : int, default 1
        random_state : int, RandomState or None, default None
            Seeds the draw (the same seed gives the same samples); None draws fresh randomness.

        Returns
        -------
        ndarray of shape (n_samples, n_features), or (n_samples, *input_shape) when fitted on shaped samples:
        the decoded means (e.g. pixel probabilities), not noisy draws. Needs a generative model (a variational
        preset such as ``"vae"``); others raise an ``AekitError``.
        """
        check_is_fitted(self, "model_")
        n_samples = check_int(n_samples, name="n_samples", owner="AutoEncoder.sample", low=1)
        generator = _torch_generator(random_state, "AutoEncoder.sample")
        self.model_.eval()
        outputs = []
        with torch.no_grad():
            for start in range(0, n_samples, _INFERENCE_BATCH):
                x = self.model_.sample(min(_INFERENCE_BATCH, n_samples - start), generator=generator)
                outputs.append(self.scaler_.inverse_transform(x).float().cpu().numpy())
        out = np.concatenate(outputs)
        return out.reshape(n_samples, -1) if self.flat_input_ else out

    def interpolate(self, a: Any, b: Any, steps: int = 8) -> np.ndarray:
        """Decode ``steps`` codes evenly spaced between the codes of rows ``a`` and ``b``, ends included.

        Parameters
        ----------
        a, b : array-like, one sample each in the original units (a row like those of ``X``).
        steps : int, default 8

        Returns
        -------
        ndarray of shape (steps, n_features), or (steps, *input_shape) when fitted on shaped samples, in the
        original units. Works for every model; codes are deterministic (a VAE's posterior means).
        """
        check_is_fitted(self, "model_")
        steps = check_int(steps, name="steps", owner="AutoEncoder.interpolate", low=2)
        n_features = math.prod(self.input_shape_)
        ends = []
        for name, row in (("a", a), ("b", b)):
            row = np.asarray(row, dtype=np.float64)
            if row.size != n_features:
                raise AekitError(f"The '{name}' argument of interpolate must be one sample with {n_features} values. "
                                 f"Got shape {row.shape} instead. Pass a single row, e.g. X[i].")
            ends.append(row.reshape(self.input_shape_))
        if self.flat_input_ and isinstance(a, pd.Series) and isinstance(b, pd.Series):
            pair = self._samples(pd.DataFrame([a, b]))  # their labels checked against the fitted columns
        else:
            pair = self._samples(np.stack(ends).reshape(2, -1) if self.flat_input_ else np.stack(ends))  # checked
        device = next(self.model_.parameters()).device
        self.model_.eval()
        with torch.no_grad():
            x = self.scaler_.transform(torch.as_tensor(np.asarray(pair, dtype=np.float32), device=device))
            x = x.reshape(2, *self.input_shape_)
            out = self.scaler_.inverse_transform(self.model_.interpolate(x[0], x[1], steps)).float().cpu().numpy()
        return out.reshape(steps, -1) if self.flat_input_ else out

    def log_likelihood(self, X: Any, k: int = 100, random_state: int | np.random.RandomState | None = None,
                       term: str = "bound") -> np.ndarray:
        """Importance-weighted lower bound on log p(x) per sample, in nats (Burda et al., 2016).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        k : int, default 100
            Importance samples per row: the bound tightens as ``k`` grows (papers report k=5000); ``k=1`` is a
            one-sample ELBO estimate.
        random_state : int, RandomState or None, default None
            Seeds the importance samples; every row gets the same draws, so its value does not depend on the
            rows scored with it.
        term : {"bound", "reconstruction"}, default "bound"
            ``"reconstruction"``: instead of the bound, the mean of ``log p(x|z)`` over ``k`` codes drawn from the
            posterior, the "reconstruction probability" of An and Cho (2015), which leaves the prior out.

        Returns
        -------
        ndarray of shape (n_samples,), float64. For densities (gaussian, laplace, mse, l1 likelihoods) the
        log-Jacobian of the fitted scaler is added, so the values are densities of ``X`` in its original units,
        comparable with other density models; probability masses (bce, ce) need no such term. A Bernoulli
        (bce) reads each scaled value as a probability in [0, 1] and clamps those outside it, so rows beyond the
        training range are scored as their clamped versions, not as unlikely. Needs a variational model.
        """
        samples = self._samples(X)
        k = check_int(k, name="k", owner="AutoEncoder.log_likelihood", low=1)
        check_choice(term, LOG_LIKELIHOOD_TERMS, name="term", owner="AutoEncoder.log_likelihood")
        state = _torch_generator(random_state, "AutoEncoder.log_likelihood").get_state()
        device = next(self.model_.parameters()).device
        self.model_.eval()
        outputs = []
        for start in range(0, len(samples), _INFERENCE_BATCH):
            chunk = torch.from_numpy(np.array(samples[start:start + _INFERENCE_BATCH], dtype=np.float32)).to(device)
            x = self.scaler_.transform(chunk)  # (batch, *input_shape)
            # the same k draws for every row of every batch: a row's value does not depend on the rows scored
            # with it or on their order (in exchange, a mean over rows keeps the noise of k draws)
            generator = torch.Generator().set_state(state)
            outputs.append(self.model_.log_likelihood(x, k, generator=generator, term=term, common_draws=True
                                                      ).double().cpu().numpy())
        log_p = np.concatenate(outputs) if outputs else np.zeros(0)
        if getattr(self.model_.likelihood, "density", False):
            # x_scaled = (x - offset) / scale, so log p(x) = log p(x_scaled) - sum(log scale) over the elements
            scale = np.broadcast_to(np.asarray(self.scaler_.scale_, dtype=np.float64), tuple(self.input_shape_))
            log_p = log_p - np.log(scale).sum()
        return log_p

    # ----------------------------------------------------------------------------------------- files
    def save(self, path: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None) -> Path:
        """Write a model directory (config.json + model.safetensors); atomic per file.

        ``metadata`` (JSON-able) is stored as the ``extra`` section and comes back as ``metadata_``.
        """
        check_is_fitted(self, "model_")
        params = params_to_store(self.get_params())
        data = {"input_shape": list(self.input_shape_), "n_features_in": int(self.n_features_in_),
                "flat_input": self.flat_input_}
        if hasattr(self, "feature_names_in_"):
            data["feature_names_in"] = [str(n) for n in self.feature_names_in_]
        training = {"estimator": params, "history": self.history_, "best_epoch": self.best_epoch_,
                    "stopped_reason": self.stopped_reason_, "n_train_samples": self.n_train_samples_}
        return save_model(path, self.model_, scaler=self.scaler_.to_dict(), training=training, data=data,
                          extra=metadata)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "cpu") -> AutoEncoder:
        """Load a directory written by :meth:`save` (or ``aekit train``); never unpickles.

        A module saved by hand with :func:`aekit.save_model` stores no estimator parameters: those its
        architecture fixes are filled in (``latent_dim``; ``model``, ``model_options`` and ``loss`` of the preset
        that builds that architecture; ``scaler`` as stored, ``"none"`` without one), so a clone fits the same
        model. With no such preset, ``model`` is None and ``fit`` refuses. A model saved with a custom
        encoder/decoder cannot be loaded here (:func:`aekit.load_model` needs the same modules passed).
        The weights come back as float32, the dtype the estimator feeds, whatever dtype they were stored in.
        """
        saved = load_model(path, device=resolve_device(device), dtype=torch.float32)
        config = saved.model.config
        stored = saved.training.get("estimator")
        if stored is None:  # a module saved alone: its parameters are what its architecture says
            params = _params_of_module(saved.model, saved.scaler)
        elif isinstance(stored, dict):
            params = stored
        else:
            raise ModelFileError(f"'{path}' has training.estimator: {json.dumps(stored)[:80]}, not the estimator's "
                                 "parameters (a JSON object); the file was edited. Restore it or save the model again.")
        valid = cls().get_params()
        estimator = cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items() if k in valid})
        try:
            resolve_device(estimator.device)
        except AekitError:  # trained on "cuda", loaded on a CPU machine: a refit (a clone) runs where it is loaded
            estimator.device = str(resolve_device(device))
        estimator.model_ = saved.model
        estimator.config_ = config
        identity = {"kind": "none", "per_feature": False, "sample_shape": list(config.input_shape),
                    "offset": [0.0], "scale": [1.0]}  # a module saved alone: its inputs are already scaled
        estimator.scaler_ = Scaler.from_dict(saved.scaler or identity)
        # a module saved with aekit.save_model has no data section: it reads samples of its own input shape
        estimator.input_shape_ = _stored_input_shape(saved.data, config.input_shape, path)
        # values per sample (earlier saves stored an image's channel count here, as scikit-learn counts axis 1)
        estimator.n_features_in_ = math.prod(estimator.input_shape_)
        flat = saved.data.get("flat_input", len(estimator.input_shape_) == 1)
        names = saved.data.get("feature_names_in")
        if not isinstance(flat, bool) or (names is not None and not (
                isinstance(names, list) and len(names) == estimator.n_features_in_)):
            field, value = ("flat_input", flat) if not isinstance(flat, bool) else ("feature_names_in", names)
            raise ModelFileError(f"'{path}' has data.{field}: {json.dumps(value)[:80]}, which does not describe "
                                 f"this model's {estimator.n_features_in_} input values; the file was edited. Restore "
                                 "it or save the model again.")
        estimator.flat_input_ = flat
        if names is not None:
            estimator.feature_names_in_ = np.asarray(names, dtype=object)
        estimator.history_ = saved.training.get("history", [])
        estimator.best_epoch_ = saved.training.get("best_epoch", -1)
        estimator.stopped_reason_ = saved.training.get("stopped_reason", "")
        estimator.n_train_samples_ = saved.training.get("n_train_samples", 0)
        estimator.metadata_ = saved.extra
        return estimator

    @property
    def _n_features_out(self) -> int:
        """Width of the codes ``transform`` returns (``get_feature_names_out`` names them)."""
        check_is_fitted(self, "config_")
        return int(self.config_.latent_dim)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags


def _stored_input_shape(data: dict[str, Any], model_shape: tuple[int, ...], path: Any) -> tuple[int, ...]:
    """The sample shape the data section stores (the model's own without one), checked: positive ints holding as
    many values as the model's input."""
    shape = data.get("input_shape", list(model_shape))
    if not (isinstance(shape, list) and shape and all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                                      for s in shape)
            and math.prod(shape) == math.prod(model_shape)):
        raise ModelFileError(f"'{path}' has data.input_shape: {json.dumps(shape)[:80]}, not a shape of the model's "
                             f"{math.prod(model_shape)} input values such as {list(model_shape)}; the file was edited. "
                             "Restore it or save the model again.")
    return tuple(shape)


def _params_of_module(model: Autoencoder, scaler: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters of an estimator that fits ``model``'s architecture again, for a module saved without any:
    ``latent_dim``, the sample shape, the stored scaler's kind, and the preset (with the fewest options and
    ``loss``) whose :func:`build_config` gives that architecture; ``model=None`` when none does, which ``fit``
    refuses. (A model with custom modules never gets here: load_model refuses it when given none.)"""
    config = model.config
    params: dict[str, Any] = {"latent_dim": config.latent_dim, "model": None,
                              "input_shape": tuple(config.input_shape) if len(config.input_shape) > 1 else None}
    kind = (scaler or {}).get("kind", "none")  # the identity without one: its inputs come scaled
    if kind in SCALERS:
        params["scaler"] = kind
    target = describe(config)
    found: tuple[int, str, dict[str, Any], str | None] | None = None
    for name in PRESETS.names():
        preset = PRESETS.get(name)()
        regularizers = [spec.name for spec in preset.regularizers]
        corruption = preset.corruption.name if preset.corruption is not None else None
        if ((preset.backbone.name, preset.bottleneck.name, regularizers, corruption)
                != (config.backbone.name, config.bottleneck.name, [spec.name for spec in config.regularizers],
                    config.corruption.name if config.corruption is not None else None)
                or len(set(regularizers)) < len(regularizers)):  # options reach one of two same-named parts only
            continue
        loss = config.likelihood.name if config.likelihood.name != preset.likelihood.name else None
        try:
            base = describe(build_config(name, input_shape=config.input_shape, latent_dim=config.latent_dim,
                                         likelihood=loss))
            options = {f"{slot}.{key}": value
                       for slot in ("backbone", "bottleneck", "likelihood", "corruption") if slot in target
                       for key, value in target[slot].items() if key != "name" and base[slot].get(key) != value}
            options.update({f"{slot}.{key}": value for slot, values in target["regularizers"].items()
                            for key, value in values.items() if base["regularizers"][slot].get(key) != value})
            rebuilt = build_config(name, input_shape=config.input_shape, latent_dim=config.latent_dim,
                                   options=options, likelihood=loss)
        except AekitError:  # a preset this architecture's options do not fit
            continue
        cost = len(options) + (loss is not None)
        if describe(rebuilt) == target and (found is None or cost < found[0]):
            found = (cost, name, options, loss)
    if found is not None:
        params.update(model=found[1], model_options=found[2] or None, loss=found[3])
    return params


def sample_shape(model: str, shape: tuple[int, ...], input_shape: tuple[int, ...] | None = None,
                 owner: str = "AutoEncoder") -> tuple[int, ...]:
    """The shape of one sample as preset ``model`` reads data whose samples have ``shape``: ``input_shape`` if
    given (it must hold as many values), the samples' own shape where the model reads it, and flat square rows as
    single-channel images for a model of images (digits, MNIST); else one line on what the model reads."""
    n_features = math.prod(shape)
    if input_shape is not None:
        given = tuple(int(s) for s in input_shape)
        if math.prod(given) != n_features:
            raise AekitError(f"The 'input_shape' parameter of {owner} must have {n_features} elements like the data. "
                             f"Got {tuple(input_shape)} ({math.prod(given)}) instead.")
        return given
    wanted = BACKBONES.get(PRESETS.get(model)().backbone.name).sample_ndims
    if wanted is None or len(shape) in wanted:
        return tuple(shape)
    side = math.isqrt(n_features)
    if 3 in wanted and side * side == n_features:  # flattened square grayscale images (digits, MNIST)
        return (1, side, side)
    needs = " or ".join(_SAMPLE_KINDS[n] for n in wanted)
    example = "(1, H, W)" if 3 in wanted else f"(1, {n_features}) for one channel"
    advice = (f"Pass input_shape, e.g. input_shape={example}." if len(shape) == 1 and 1 not in wanted
              else "Pick a model for these samples: see 'aekit list-models'.")
    raise AekitError(f"Model {model!r} needs samples shaped as {needs}, but the data's samples have shape "
                     f"{tuple(shape)}. {advice}")


def _check_float32_range(X: np.ndarray) -> None:
    """Refuse finite values that float32, in which the model computes, cannot hold (they would become inf and
    every output NaN); read in chunks, so memory-mapped data stays on disk."""
    if X.dtype != np.float64:
        return
    limit, step = float(np.finfo(np.float32).max), _INFERENCE_BATCH * 16
    for start in range(0, len(X), step):
        chunk = np.asarray(X[start:start + step])
        rows = np.abs(chunk.reshape(len(chunk), -1)).max(axis=1, initial=0.0)
        if (rows > limit).any():
            first = start + int(np.argmax(rows > limit))
            raise DataError(f"X holds values beyond float32's range (up to {rows.max():.3g}, first in row {first}, "
                            "counting from 0); the model computes in float32. Rescale or fix them.")


def _torch_generator(random_state: int | np.random.RandomState | None, owner: str = "AutoEncoder"
                     ) -> torch.Generator:
    """A CPU torch generator seeded from a scikit-learn style ``random_state``."""
    if random_state is not None and not isinstance(random_state, np.random.RandomState):
        check_int(random_state, name="random_state", owner=owner, low=0, high=2**32 - 1)
    return torch.Generator().manual_seed(int(check_random_state(random_state).randint(0, 2**31 - 1)))


def _as_codes(Z: Any, latent_dim: int) -> np.ndarray:
    Z = np.asarray(Z, dtype=np.float32)
    if Z.ndim != 2 or Z.shape[1] != latent_dim:
        raise AekitError(f"inverse_transform expects codes of shape (n_samples, {latent_dim}). Got shape "
                         f"{Z.shape} instead. Pass the output of transform().")
    if not np.isfinite(Z).all():
        raise AekitError("The codes contain NaN or Inf. Pass finite codes, e.g. the output of transform().")
    return Z
