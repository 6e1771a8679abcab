"""ONNX export of a saved model: an encoder graph and a decoder graph that work in the user's units.

``encoder.onnx`` maps raw samples ``x`` (batch, *input_shape), float32, to codes ``z`` (batch, latent_dim): the
stored scaler, then the encoder backbone and the bottleneck in eval mode. ``decoder.onnx`` maps codes ``z`` to
reconstructions ``x_hat`` (batch, *input_shape) in raw units: the decoder backbone, the likelihood's mean, then
the inverse scaler. The batch size is dynamic in both. The graphs therefore compute what
``AutoEncoder.transform`` and ``AutoEncoder.inverse_transform`` compute, with no aekit (or torch) at inference.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from aekit.data import Scaler
from aekit.errors import AekitError, check_int
from aekit.io import atomic_path, load_model
from aekit.model import Autoencoder
from aekit.parts import BACKBONES

__all__ = ["DECODER_FILE", "ENCODER_FILE", "export_onnx"]

logger = logging.getLogger(__name__)

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
# Opset 7 is the oldest the TorchScript exporter writes; the dynamo exporter converts down from its own.
_MIN_OPSET = 7
# Example batch for tracing: 2, not 1, because torch.export specializes a dimension of size 0 or 1 to a constant.
_EXAMPLE_BATCH = 2


class _ScaledEncoder(nn.Module):
    """Raw samples -> codes: ``encode((x - offset) / scale)``, the scaler as constants in the graph."""

    def __init__(self, model: Autoencoder, offset: Tensor | None, scale: Tensor | None) -> None:
        super().__init__()
        self.model = model
        self.scaled = offset is not None
        if offset is not None:
            self.register_buffer("offset", offset)  # shape sample_shape (per feature) or () (global)
            self.register_buffer("scale", scale)

    def forward(self, x: Tensor) -> Tensor:
        if self.scaled:
            x = (x - self.offset) / self.scale  # (batch, *input_shape), the same arithmetic as Scaler.transform
        return self.model.encode(x)  # (batch, latent_dim)


class _ScaledDecoder(nn.Module):
    """Codes -> raw reconstructions: ``decode(z) * scale + offset``."""

    def __init__(self, model: Autoencoder, offset: Tensor | None, scale: Tensor | None) -> None:
        super().__init__()
        self.model = model
        self.scaled = offset is not None
        if offset is not None:
            self.register_buffer("offset", offset)
            self.register_buffer("scale", scale)

    def forward(self, z: Tensor) -> Tensor:
        x_hat = self.model.decode(z)  # (batch, *input_shape), the likelihood's mean in scaled units
        if self.scaled:
            x_hat = x_hat * self.scale + self.offset  # the same arithmetic as Scaler.inverse_transform
        return x_hat


def export_onnx(model_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None, *,
                opset: int | None = None) -> dict[str, Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` for the model directory ``model_dir``.

    Parameters
    ----------
    model_dir : a directory written by ``AutoEncoder.save``, ``aekit.save_model`` or ``aekit train``.
    out_dir : folder for the two files (created if needed); None writes them into ``model_dir``.
    opset : ONNX opset version; None lets torch pick its default.

    Returns
    -------
    dict with keys ``"encoder"`` and ``"decoder"``, the paths written. Each file is written to a temporary
    name and renamed, so an interrupted export never leaves a half-written graph behind.

    The encoder graph has input ``x`` (batch, *input_shape) float32 in the units of the training data and
    output ``z`` (batch, latent_dim); the decoder graph has input ``z`` and output ``x_hat`` (batch,
    *input_shape) in the units of the training data. Codes are deterministic (eval mode): a variational
    model's posterior mean.
    """
    if opset is not None:  # the newest opset the installed onnx knows bounds the choice
        opset = check_int(opset, name="opset", owner="export_onnx", low=_MIN_OPSET,
                          high=_onnx().defs.onnx_opset_version())
    model_dir = Path(model_dir)
    out_dir = model_dir if out_dir is None else Path(out_dir)
    # float32, what ONNX exports here; an AekitError with a fix for every way the directory is wrong
    saved = load_model(model_dir, device="cpu", dtype=torch.float32)
    model = saved.model.eval()
    config = model.config
    if BACKBONES.get(config.backbone.name).input_kind != "values":
        raise AekitError(f"ONNX export takes real-valued inputs; the model in '{model_dir}' (backbone "
                         f"'{config.backbone.name}') reads token ids. Use the model from Python (aekit.load_model).")
    offset, scale = _scaler_tensors(saved.scaler, model_dir)
    graphs = [  # (part, module, sample shape of the input, input name, output name, file name)
        ("encoder", _ScaledEncoder(model, offset, scale), config.input_shape, "x", "z", ENCODER_FILE),
        ("decoder", _ScaledDecoder(model, offset, scale), (config.latent_dim,), "z", "x_hat", DECODER_FILE),
    ]
    written: dict[str, Path] = {}
    for part, module, sample_shape, input_name, output_name, file_name in graphs:
        example = torch.zeros(_EXAMPLE_BATCH, *sample_shape)  # (2, *sample_shape) float32
        proto = _export(module.eval(), example, input_name, output_name, opset, f"{part} of '{model_dir}'")
        path = out_dir / file_name
        with atomic_path(path) as tmp:
            tmp.write_bytes(proto)
        logger.info("Wrote the %s of %s to %s", part, model_dir, path)
        written[part] = path
    return written


def _scaler_tensors(scaler: dict[str, Any] | None, model_dir: Path) -> tuple[Tensor | None, Tensor | None]:
    """The stored scaler's offset and scale as float32 tensors, or (None, None) when it is the identity."""
    if not scaler or scaler.get("kind", "none") == "none" or scaler.get("offset") is None:
        return None, None
    try:
        fitted = Scaler.from_dict(scaler)
    except AekitError as exc:
        raise AekitError(f"The scaler stored in '{model_dir}' is unusable ({exc}) Save the model again.") from None
    # float32 like the inputs: Scaler.transform casts its float64 statistics to the dtype of the data
    return (torch.as_tensor(fitted.offset_, dtype=torch.float32),  # sample_shape, or () for one global range
            torch.as_tensor(fitted.scale_, dtype=torch.float32))


def _export(module: nn.Module, example: Tensor, input_name: str, output_name: str, opset: int | None,
            what: str) -> bytes:
    """Serialized ONNX model of ``module`` with a dynamic batch dimension.

    The dynamo exporter (torch.export + onnxscript) comes first: it is torch's default and maintained path since
    2.9 and handled every backbone we tried with a dynamic batch (conv decoders reshape with the symbolic batch
    size). The TorchScript exporter (``dynamo=False``) is the fallback: it is deprecated, but it needs no
    onnxscript, works back to torch 2.2 (our floor) and traces a few ops torch.export refuses, so one exporter's
    gap does not block the user. Either way the model is serialized in memory and written by the caller through
    ``atomic_path``: the dynamo exporter's own ``f=`` path writes the weights to a separate ``.data`` file named
    after the (temporary) file, which a rename would orphan.
    """
    onnx = _onnx()
    try:
        proto = _export_dynamo(module, example, input_name, output_name, opset)
    except Exception as exc:  # noqa: BLE001 - any exporter failure: try the other exporter before giving up
        logger.warning("The dynamo ONNX exporter failed on the %s (%s: %s); using the TorchScript exporter.",
                       what, type(exc).__name__, _first_line(exc))
        try:
            proto = _export_torchscript(module, example, input_name, output_name, opset)
        except Exception as exc2:
            raise AekitError(f"Cannot export the {what} to ONNX ({type(exc2).__name__}: {_first_line(exc2)}). "
                             "Check the torch/onnx versions (pip install 'aekit[onnx]') or try another opset."
                             ) from exc2
    try:
        onnx.checker.check_model(proto)
        return proto.SerializeToString()
    except Exception as exc:
        raise AekitError(f"The ONNX graph of the {what} is invalid ({_first_line(exc)}). Try another opset or "
                         "report it with the model's config.json.") from exc


def _onnx() -> Any:
    """The onnx package, or one line saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise AekitError("ONNX export needs the 'onnx' package, which is not installed. Install it with "
                         "pip install 'aekit[onnx]'.") from None
    return onnx


def _export_dynamo(module: nn.Module, example: Tensor, input_name: str, output_name: str,
                   opset: int | None) -> Any:
    batch = torch.export.Dim("batch")
    with _quiet_exporter():
        program = torch.onnx.export(module, (example,), dynamo=True, input_names=[input_name],
                                    output_names=[output_name], opset_version=opset,
                                    dynamic_shapes=({0: batch},), external_data=False, verbose=False)
    if program is None:  # pragma: no cover - torch versions whose dynamo path still writes only to files
        raise RuntimeError("torch.onnx.export(dynamo=True) returned no program")
    return _with_opset(program.model_proto, opset)


def _with_opset(proto: Any, opset: int | None) -> Any:
    """``proto``, if it imports the default ONNX operator set at ``opset`` (None: any); else a RuntimeError, so
    the other exporter gets its turn (the dynamo exporter keeps its own opset when it cannot convert down)."""
    written = next((int(entry.version) for entry in proto.opset_import if entry.domain in ("", "ai.onnx")), None)
    if opset is not None and written != opset:
        raise RuntimeError(f"it wrote opset {written}, not the {opset} asked for")
    return proto


def _export_torchscript(module: nn.Module, example: Tensor, input_name: str, output_name: str,
                        opset: int | None) -> Any:
    import onnx

    buffer = io.BytesIO()
    with _quiet_exporter():
        torch.onnx.export(module, (example,), buffer, dynamo=False, input_names=[input_name],
                          output_names=[output_name], opset_version=opset,
                          dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}})
    return _with_opset(onnx.load_from_string(buffer.getvalue()), opset)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' chatter (deprecation notices, 'torchvision is not installed'): the CLI prints one
    line per file, and a failure is reported through the exception anyway."""
    # onnxscript logs each failed opset conversion with its traceback, then the exporter raises anyway
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for each, level in zip(loggers, levels):
            each.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"
