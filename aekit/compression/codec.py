"""A codec: a trained autoencoder whose bottleneck has an entropy model, plus what it was trained on.

A codec directory is an ordinary aekit model directory (``config.json`` + ``model.safetensors``, see
:mod:`aekit.io`) whose ``extra["codec"]`` section says what the codec compresses: image tiles of one colour
mode, or rows of an array with a fitted scaler. Its fingerprint is the sha256 of its weights, which every
``.aez`` file records so that a file is never decoded with another model.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from aekit.config import from_dict, to_dict
from aekit.data.scalers import Scaler
from aekit.errors import AekitError, DataError, ModelFileError, check_choice, check_int
from aekit.io import (
    CONFIG_FILE,
    FORMAT,
    check_output_folder,
    check_output_path,
    load_model,
    read_config,
    save_model,
    staging_folder,
    write_error,
)
from aekit.model import Autoencoder

__all__ = [
    "QUALITY_LEVELS",
    "Codec",
    "CodecSpec",
    "check_codec_output",
    "default_epochs",
    "from_tiles",
    "random_patches",
    "rate_weight_for",
    "shrink_image",
    "to_tiles",
    "train_codec",
]

logger = logging.getLogger(__name__)

# quality -> lambda per value of one sample (the loss's rate term is rate_weight * bits per sample, its
# distortion the mean squared error per value in [0, 1] units, so lambda is divided by the sample size).
# Each step is a factor 4: about 1 dB of PSNR... 6 dB apart at the low end, a geometric ladder like JPEG's.
QUALITY_LEVELS: dict[int, float] = {1: 8e-3, 2: 2e-3, 3: 5e-4, 4: 1.25e-4, 5: 3e-5}
# Rows of codes run through the model at a time. Encoder and decoder must batch identically: the same batch
# shapes give bit-identical reconstructions, which the error-bounded mode relies on.
BATCH_ROWS = 1024
# The default training budget, in optimizer steps rather than passes: a rate-distortion transform needs many
# steps whatever the data size. 30 passes over 900 rows (cardio) are 400 steps and left every quality level at
# one point (34.3-34.4 dB); 1,000 passes (13,000 steps) spread the ladder to 34.0-44.6 dB and lifted it above
# PCA + quantization + zstd. On MNIST, 54 passes (15,000 steps) gained 1.1 dB over 30 passes at quality 3.
# The high qualities need the most: their transform must be precise, not just their code fine. Three times the
# steps (45,000) took satellite's quality 4 from 37.3 to 41.2 dB at the same ratio (13.3-13.5:1) and cardio's
# from 43.8 dB at 8.4:1 to 43.6 dB at 10.4:1, and quality 1 by 0.2 dB. Small data sets get more passes, bounded
# so a tiny one does not run for ever.
DEFAULT_STEPS = 45_000
EPOCH_RANGE = (10, 3_500)


def default_epochs(n_train: int, batch_size: int) -> int:
    """Passes over ``n_train`` rows in batches of ``batch_size`` that make about ``DEFAULT_STEPS`` steps, within
    ``EPOCH_RANGE``: 160 passes over 18,000 rows, 979 over 2,900, the cap of 3,500 under 830 rows."""
    steps_per_epoch = math.ceil(n_train / batch_size)
    low, high = EPOCH_RANGE
    return min(high, max(low, math.ceil(DEFAULT_STEPS / steps_per_epoch)))


def rate_weight_for(quality: int, sample_size: int) -> float:
    """The ``rate_weight`` (lambda) of quality level ``quality`` for samples of ``sample_size`` values."""
    check_int(quality, name="quality", owner="train_codec", low=min(QUALITY_LEVELS), high=max(QUALITY_LEVELS))
    return QUALITY_LEVELS[quality] / sample_size


@dataclass(frozen=True)
class CodecSpec:
    """What a codec compresses, stored as ``extra["codec"]`` of its model directory.

    kind : "image" (tiles of ``tile`` x ``tile`` pixels with ``channels`` channels, values / 255) or "array"
        (rows of ``n_features`` values scaled by the model directory's scaler).
    """

    kind: Literal["image", "array"]
    quality: int
    rate_weight: float
    tile: int | None = None
    channels: int | None = None
    n_features: int | None = None


def to_tiles(image: np.ndarray, tile: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Cut an image (H, W, C) into tiles (n, C, tile, tile), padding the edges by replication.

    Returns the tiles and the grid (rows, cols) of tiles, in row-major order.
    """
    height, width, channels = image.shape
    rows, cols = math.ceil(height / tile), math.ceil(width / tile)
    padded = np.pad(image, ((0, rows * tile - height), (0, cols * tile - width), (0, 0)), mode="edge")
    tiles = padded.reshape(rows, tile, cols, tile, channels).transpose(0, 2, 4, 1, 3)  # (rows, cols, C, t, t)
    return np.ascontiguousarray(tiles.reshape(rows * cols, channels, tile, tile)), (rows, cols)


def from_tiles(tiles: np.ndarray, grid: tuple[int, int], height: int, width: int) -> np.ndarray:
    """Inverse of :func:`to_tiles`: tiles (n, C, t, t) -> image (height, width, C)."""
    rows, cols = grid
    channels, tile = tiles.shape[1], tiles.shape[2]
    image = tiles.reshape(rows, cols, channels, tile, tile).transpose(0, 3, 1, 4, 2)  # (rows, t, cols, t, C)
    return image.reshape(rows * tile, cols * tile, channels)[:height, :width]


def random_patches(images: list[np.ndarray], n: int, tile: int, *, seed: int = 0, scales: tuple[int, ...] = (1,),
                   permute_channels: bool = False) -> np.ndarray:
    """``n`` random ``tile`` x ``tile`` crops (n, C, tile, tile) in [0, 1] of uint8 images (H, W, C), equally
    many per image and scale, each flipped and transposed at random (free augmentations: natural images look
    alike mirrored or turned).

    scales : downscaling factors; each image also contributes crops of itself shrunk by each factor (Lanczos),
        so a few images give textures at several sizes. A scale that leaves the image smaller than a tile is
        skipped for that image.
    permute_channels : shuffle the channels of each crop of a 3-channel image at random. A codec trained on a
        handful of photos otherwise learns their colours: on 5 photos, 4 epochs, scales (1, 2, 3) and
        permutations raised held-out flower.jpg tiles from 24.1 to 28.7 dB PSNR.
    """
    check_int(n, name="patches", owner="random_patches", low=1)
    small = [image.shape for image in images if image.shape[0] < tile or image.shape[1] < tile]
    if small:
        raise DataError(f"Images must be at least {tile}x{tile} pixels to cut training tiles; got one of shape "
                        f"{small[0]}. Drop the small images or pass a smaller tile.")
    for factor in scales:
        check_int(factor, name="scales", owner="random_patches", low=1)
    sources = [shrink_image(image, factor) for image in images for factor in scales]
    sources = [image for image in sources if image.shape[0] >= tile and image.shape[1] >= tile]
    if not sources:
        raise DataError(f"No image is at least {tile}x{tile} pixels at any of the scales {tuple(scales)}. Include "
                        "scale 1 or pass larger images.")
    rng = np.random.default_rng(seed)
    per_image = -(-n // len(sources))
    out = []
    for image in sources:
        height, width = image.shape[:2]
        for _ in range(per_image):
            top, left = rng.integers(0, height - tile + 1), rng.integers(0, width - tile + 1)
            crop = image[top:top + tile, left:left + tile]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            if rng.random() < 0.5:
                crop = crop[::-1]
            if rng.random() < 0.5:
                crop = crop.transpose(1, 0, 2)
            if permute_channels and crop.shape[2] == 3:
                crop = crop[..., rng.permutation(3)]
            out.append(crop.transpose(2, 0, 1))
    stacked = np.stack(out)[rng.permutation(len(out))[:n]]
    return stacked.astype(np.float32) / 255.0


def shrink_image(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` (H, W, C) uint8 shrunk by an integer ``factor`` with a Lanczos filter (Pillow)."""
    if factor == 1:
        return image
    from PIL import Image

    height, width, channels = image.shape
    size = (max(1, width // factor), max(1, height // factor))
    if channels == 1:
        return np.asarray(Image.fromarray(image[..., 0]).resize(size, Image.LANCZOS))[..., None]
    return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))


class Codec:
    """A loaded codec: the model in eval mode, its :class:`CodecSpec`, scaler and fingerprint.

    ``analyze`` maps samples to integer codes, ``synthesize`` codes to reconstructions, ``pmf`` tabulates the
    entropy model for the coder. Load with :meth:`load`.
    """

    def __init__(self, model: Autoencoder, spec: CodecSpec, *, fingerprint: str, scaler: Scaler | None,
                 source: str, columns: list[str] | None = None) -> None:
        pmf = getattr(model.bottleneck, "code_pmf", None)
        if not callable(pmf):
            raise ModelFileError(f"The model at {source} has bottleneck '{model.config.bottleneck.name}', which has no "
                                 "entropy model. Train a codec with 'aekit train-codec'.")
        self.model, self.spec, self.fingerprint, self.scaler, self.source = model, spec, fingerprint, scaler, source
        self.columns = columns  # a table codec's training columns, in order (None: arrays, images, older codecs)
        self._pmf: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = pmf

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, source: str | None = None) -> Codec:
        """Load a codec directory written by :func:`train_codec` (weights verified against their sha256)."""
        directory = Path(directory)
        config = read_config(directory, what="codec", origin="the --out folder of 'aekit train-codec'")
        if "codec" not in (config.get("extra") or {}):
            raise ModelFileError(f"'{directory}' is an aekit model but not a codec (no codec section in its config). "
                                 "Train one with 'aekit train-codec'.")
        saved = load_model(directory, dtype=torch.float32)
        spec = from_dict(CodecSpec, saved.extra["codec"], owner="CodecSpec")
        scaler = Scaler.from_dict(saved.scaler) if saved.scaler else None
        return cls(saved.model, spec, fingerprint=config["weights_sha256"], scaler=scaler,
                   source=source or str(directory), columns=saved.data.get("columns"))

    @property
    def latent_dim(self) -> int:
        return self.model.config.latent_dim

    @torch.no_grad()
    def analyze(self, samples: np.ndarray) -> np.ndarray:
        """Integer codes (n, latent_dim) int32 of samples (n, *input_shape) in model units."""
        codes = [self.model.encode(torch.from_numpy(np.ascontiguousarray(samples[i:i + BATCH_ROWS], np.float32)))
                 for i in range(0, len(samples), BATCH_ROWS)]
        if not codes:
            return np.zeros((0, self.latent_dim), np.int32)
        return torch.cat(codes).numpy().astype(np.int32)

    @torch.no_grad()
    def synthesize(self, codes: np.ndarray) -> np.ndarray:
        """Reconstructions (n, *input_shape) float32, in model units, of integer codes (n, latent_dim)."""
        shape = (0, *self.model.config.input_shape)
        parts = [self.model.decode(torch.from_numpy(codes[i:i + BATCH_ROWS].astype(np.float32)))
                 for i in range(0, len(codes), BATCH_ROWS)]
        return torch.cat(parts).numpy() if parts else np.zeros(shape, np.float32)

    def pmf(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Probabilities (latent_dim, width) of the codes ``low[j]..high[j]`` of every unit (float64)."""
        table = self._pmf(torch.from_numpy(low.astype(np.int64)), torch.from_numpy(high.astype(np.int64)))
        return table.double().numpy()


def _start_from(model: Autoencoder, init: str | os.PathLike[str]) -> None:
    """Copy the weights of the codec at ``init`` into ``model``; the two may differ only in ``rate_weight``."""
    start = Codec.load(init).model
    ours, theirs = to_dict(model.config), to_dict(start.config)
    ours["bottleneck"]["options"].pop("rate_weight", None)
    theirs["bottleneck"]["options"].pop("rate_weight", None)
    if ours != theirs:
        raise AekitError(f"The codec at '{init}' was built as {theirs}, but this training builds {ours}. Start from a "
                         "codec trained with the same preset, options and sample shape, or drop 'init'.")
    model.load_state_dict({name: value.float() for name, value in start.state_dict().items()})


def _set_pca_transform(model: Autoencoder, samples: np.ndarray, lambda_per_value: float) -> None:
    """Set a linear codec's encoder and decoder to the principal components of ``samples`` at the quantization
    step that is optimal for ``lambda_per_value`` at high rate, and freeze them (training fits the densities).

    Per value, uniform quantization with step s costs s^2 / 12 of squared error and -log2 s bits plus a constant;
    the loss D + lambda' R is smallest at s = sqrt(6 lambda' / ln 2). The code is ``round(W (x - mean) / s)`` with
    W the components (rows), the reconstruction ``s W^T z + mean``.
    """
    encoder, decoder, bottleneck = model.encoder, model.decoder, model.bottleneck
    project, head = getattr(bottleneck, "project", None), getattr(decoder, "head", None)
    decoder_parameters = {name for name, _ in decoder.named_parameters()}
    if (any(True for _ in encoder.parameters()) or project is None or head is None
            or decoder_parameters != {"head.weight", "head.bias"}):
        raise AekitError(f"transform='pca' needs a linear codec (preset 'codec-linear'); this one's "
                         f"'{model.config.backbone.name}' backbone has layers of its own. Pass preset='codec-linear' "
                         "or transform='learned'.")
    flat = samples.reshape(len(samples), -1).astype(np.float64)
    mean = flat.mean(0)
    _, _, components = np.linalg.svd(flat - mean, full_matrices=False)  # (min(n, d), d), rows by variance
    components = components[:model.config.latent_dim]
    if len(components) < model.config.latent_dim:
        raise AekitError(f"transform='pca' needs at least latent_dim={model.config.latent_dim} samples; got "
                         f"{len(samples)}. Pass more samples or a smaller latent_dim.")
    step = math.sqrt(6 * lambda_per_value / math.log(2))
    gain = bottleneck.config.code_gain
    with torch.no_grad():
        project.weight.copy_(torch.from_numpy(components / (step * gain)))  # (latent, d)
        project.bias.copy_(torch.from_numpy(-(components @ mean) / (step * gain)))
        head.weight.copy_(torch.from_numpy(components.T * step))  # (d, latent)
        head.bias.copy_(torch.from_numpy(mean))
    for parameter in (project.weight, project.bias, head.weight, head.bias):
        parameter.requires_grad_(False)


def check_codec_output(out: str | os.PathLike[str], *, protect: list[str | os.PathLike[str]] | tuple = (),
                       overwrite: bool = False, option: str = "out") -> Path:
    """``out`` if a codec may be written there: not a file, not (inside) what ``protect`` lists (the training
    data), not another aekit folder or a plain model; an existing codec only with ``overwrite``, since every
    ``.aez`` file compressed with it needs it to decode. ``train_codec`` calls it before training."""
    out = check_output_path(out, option=option, protect=protect, folder=True)
    check_output_folder(out, FORMAT, option=option)  # another aekit kind, or a config.json that is not aekit's
    if (out / CONFIG_FILE).is_file():
        config = read_config(out, what="codec", origin="a new folder")
        if "codec" not in (config.get("extra") or {}):
            raise AekitError(f"{option} {out} holds an aekit model (from 'aekit train'), not a codec; writing here "
                             "would replace it. Pass another folder.")
        if not overwrite:
            flag = "--overwrite" if option.startswith("--") else "overwrite=True"
            raise AekitError(f"{option} {out} holds a codec already, and every .aez file compressed with it needs it "
                             f"to decode. Pass another folder, or {flag} to replace it anyway.")
    return out


def _save_codec(out: Path, model: Autoencoder, **sections: Any) -> None:
    """``save_model`` into ``out``; a new folder is written under a temporary name and renamed when complete, so a
    failed save (a full disk) leaves no folder behind, and the failure is one line naming ``out``."""
    existed = out.exists()
    target = out
    try:
        if not existed:
            target = staging_folder(out)
        save_model(target, model, **sections)
        if not existed:
            os.replace(target, out)
    except BaseException as exc:
        if target != out:
            shutil.rmtree(target, ignore_errors=True)
        from safetensors import SafetensorError

        if isinstance(exc, (OSError, SafetensorError)):
            raise write_error(out, exc, what="the codec folder ") from None
        raise


def train_codec(samples: np.ndarray, out: str | os.PathLike[str], *, kind: Literal["image", "array"],
                quality: int = 3, latent_dim: int | None = None, rate_weight: float | None = None,
                epochs: int | None = None, batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
                scaler: Scaler | None = None, data: dict[str, Any] | None = None,
                options: dict[str, Any] | None = None, preset: str | None = None,
                half_precision: bool = False, init: str | os.PathLike[str] | None = None,
                transform: Literal["learned", "pca"] = "learned", overwrite: bool = False) -> Codec:
    """Train a codec on ``samples`` and save it to ``out``.

    Parameters
    ----------
    samples : images: tiles (n, C, tile, tile) with values in [0, 1]; arrays: rows (n, n_features) already
        scaled by ``scaler``.
    out : the codec directory to write.
    kind : "image" (preset ``codec``) or "array" (preset ``codec-dense``).
    quality : level in ``QUALITY_LEVELS`` (higher: larger files, smaller errors); sets ``rate_weight``.
    latent_dim : code units; default 128 for images, min(128, n_features) for arrays (the rate decides how
        many carry information, so a generous size costs little).
    rate_weight : overrides the quality level's lambda.
    epochs : passes over the training rows; default ``default_epochs``, about ``DEFAULT_STEPS`` optimizer steps.
    options : part options on top of the preset's (``{"hidden_dims": [64, 128, 128], "code_gain": 10.0}``).
    preset : the model recipe; default ``codec`` for images, ``codec-dense`` for arrays.
    half_precision : store the weights as float16 (half the size on disk; the shipped codecs use it).
    init : a codec directory to start from instead of random weights, of the same recipe and sample shape
        (typically the next higher quality level): a trained transform moves to another rate in a fraction
        of the steps a fresh one needs.
    transform : "learned" trains the transforms and the entropy model together on distortion + lambda * rate.
        "pca" (preset ``codec-linear`` only, the default preset then) sets the encoder and decoder to the
        principal components of the samples, scaled to the quantization step that is optimal for lambda at
        high rate, ``sqrt(6 lambda' / ln 2)`` with lambda' per value, keeps them fixed, and trains only the
        entropy model: the linear transform that minimizes squared error, without the drift that training it
        with the noise proxy for rounding causes (it cost china.jpg 2.4 dB at the same rate on 8x8 tiles).
        The shipped image codecs use it. ``latent_dim`` defaults to every component.
    overwrite : replace a codec already in ``out`` (every ``.aez`` file compressed with it becomes undecodable).
    """
    from aekit.presets import build_config
    from aekit.training.sources import TensorSource
    from aekit.training.trainer import Trainer, TrainerConfig

    check_choice(kind, ["image", "array"], name="kind", owner="train_codec")
    check_choice(transform, ["learned", "pca"], name="transform", owner="train_codec")
    check_int(batch_size, name="batch_size", owner="train_codec", low=1)
    out = check_codec_output(out, overwrite=overwrite)
    if samples.ndim < 2 or len(samples) < 2:
        raise AekitError(f"train_codec needs at least 2 samples; got an array of shape {samples.shape}. Pass more "
                         "data.")
    sample_size = int(np.prod(samples.shape[1:]))
    if latent_dim is not None:
        latent_dim = check_int(latent_dim, name="latent_dim", owner="train_codec", low=1)
    weight = rate_weight if rate_weight is not None else rate_weight_for(quality, sample_size)
    if transform == "pca":
        latent_dim = sample_size if latent_dim is None else latent_dim
        check_int(latent_dim, name="latent_dim", owner="train_codec", low=1, high=sample_size)
        preset = preset or "codec-linear"
    if kind == "image":
        spec = CodecSpec("image", quality, weight, tile=int(samples.shape[-1]), channels=int(samples.shape[1]))
        # 128 units cap what a tile can keep however many bits it is given: a 128-component PCA of the training
        # tiles, unquantized, reconstructs china.jpg (RGB, 768 values a tile) at 25.4 dB, 384 components at 38.3
        # dB. A 384-unit RGB codec trained for 13 epochs did worse than this one, so wider codes need longer runs.
        latent = latent_dim if latent_dim is not None else 128
        preset_name = preset or "codec"
    else:
        spec = CodecSpec("array", quality, weight, n_features=sample_size)
        latent = latent_dim if latent_dim is not None else min(128, sample_size)
        preset_name = preset or "codec-dense"
    torch.manual_seed(seed)
    config = build_config(preset_name, input_shape=tuple(int(s) for s in samples.shape[1:]), latent_dim=latent,
                          options={**(options or {}), "rate_weight": weight})
    model = Autoencoder(config)
    if init is not None:
        _start_from(model, init)
    if transform == "pca":
        _set_pca_transform(model, samples, weight * sample_size)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(samples))
    n_val = max(1, len(samples) // 10)
    if epochs is None:
        epochs = default_epochs(len(samples) - n_val, batch_size)
    tensor = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    device = torch.device("cpu")
    train = TensorSource(tensor[torch.from_numpy(order[n_val:])], device)
    val = TensorSource(tensor[torch.from_numpy(order[:n_val])], device)
    trainer = Trainer(TrainerConfig(max_epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device="cpu",
                                    schedule="cosine", patience=max(5, epochs // 4), progress=False,
                                    owner="train_codec"))
    result = trainer.fit(model, train, val)
    model.requires_grad_(True)  # undo _set_pca_transform's freeze: the saved model is an ordinary one
    model.eval()
    if half_precision:
        model.half()
    training = {"epochs_run": len(result.history), "best_epoch": result.best_epoch, "best_val_loss": result.best_loss,
                "seconds": round(sum(r["seconds"] for r in result.history), 1), "batch_size": batch_size, "lr": lr,
                "seed": seed, "n_samples": len(samples)}
    _save_codec(out, model, scaler=scaler.to_dict() if scaler is not None else None, training=training,
                data=data or {}, extra={"codec": to_dict(spec)})
    logger.info("Trained codec %s: %s", out, training)
    return Codec.load(out)
