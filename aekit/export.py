"""Export a saved model's encoder and decoder as ONNX graphs that work in the user's original units.

``encoder.onnx``: ``x`` (batch, *input_shape), raw units -> scaler -> encoder -> bottleneck (eval) -> ``z``.
``decoder.onnx``: ``z`` (batch, latent_dim) -> decoder -> likelihood mean -> inverse scaler -> ``x_hat``.
The batch dimension is dynamic in both.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from aekit.data import Scaler
from aekit.errors import AekitError
from aekit.io import atomic_path, load_model

__all__ = ["export_onnx"]

logger = logging.getLogger(__name__)


class _Affine(nn.Module):
    """The fitted scaler as constant buffers, so the graph takes and returns raw units."""

    def __init__(self, scaler: Scaler | None, shape: tuple[int, ...]) -> None:
        super().__init__()
        fitted = scaler is not None and hasattr(scaler, "offset_")
        offset = torch.as_tensor(scaler.offset_ if fitted else 0.0, dtype=torch.float32)
        scale = torch.as_tensor(scaler.scale_ if fitted else 1.0, dtype=torch.float32)
        self.register_buffer("offset", offset.expand(shape).clone() if offset.ndim else offset)
        self.register_buffer("scale", scale.expand(shape).clone() if scale.ndim else scale)

    def forward(self, x: Tensor, inverse: bool = False) -> Tensor:
        return x * self.scale + self.offset if inverse else (x - self.offset) / self.scale


class _Encoder(nn.Module):
    def __init__(self, model: nn.Module, affine: _Affine) -> None:
        super().__init__()
        self.model, self.affine = model, affine

    def forward(self, x: Tensor) -> Tensor:
        return self.model.encode(self.affine(x))  # (batch, latent_dim)


class _Decoder(nn.Module):
    def __init__(self, model: nn.Module, affine: _Affine) -> None:
        super().__init__()
        self.model, self.affine = model, affine

    def forward(self, z: Tensor) -> Tensor:
        return self.affine(self.model.decode(z), inverse=True)  # (batch, *input_shape)


def _export(module: nn.Module, example: Tensor, path: Path, input_name: str, output_name: str,
            opset: int | None) -> None:
    # The dynamo-based exporter is torch's supported path (the TorchScript one is deprecated); it needs onnxscript.
    batch = torch.export.Dim("batch", min=1)
    with atomic_path(path) as tmp, warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, (example,), input_names=[input_name], output_names=[output_name],
                                    dynamic_shapes=({0: batch},), dynamo=True, opset_version=opset,
                                    verbose=False)
        program.save(str(tmp))


def export_onnx(model_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None, *,
                opset: int | None = None) -> dict[str, Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` for the model directory ``model_dir``.

    Parameters
    ----------
    model_dir : a directory written by ``aekit train`` or ``AutoEncoder.save``.
    out_dir : where to write the graphs (default ``model_dir``).
    opset : ONNX opset version (default: the exporter's).

    Returns
    -------
    dict with the paths under ``"encoder"`` and ``"decoder"``.
    """
    try:
        import onnxscript  # noqa: F401  (the exporter's dependency; fail early with an install hint)
    except ImportError:
        raise AekitError("ONNX export needs the onnx extras, which are not installed. Run: pip install "
                         "'aekit[onnx]'.") from None
    saved = load_model(model_dir)
    model = saved.model.float().eval()
    shape = model.config.input_shape
    scaler = Scaler.from_dict(saved.scaler) if saved.scaler else None
    affine = _Affine(scaler, shape)
    out = Path(out_dir) if out_dir is not None else Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"encoder": out / "encoder.onnx", "decoder": out / "decoder.onnx"}
    with torch.no_grad():
        x = torch.rand(2, *shape)
        z = model.encode(affine(x))
    try:
        _export(_Encoder(model, affine), x, paths["encoder"], "x", "z", opset)
        _export(_Decoder(model, affine), z, paths["decoder"], "z", "x_hat", opset)
    except AekitError:
        raise
    except Exception as exc:  # noqa: BLE001 - exporter failures come in many types
        raise AekitError(f"ONNX export of '{model_dir}' failed ({type(exc).__name__}: {str(exc)[:300]}). "
                         "This architecture may use an operation ONNX cannot express; use the PyTorch model.") from None
    logger.info("Exported %s", paths)
    return paths
