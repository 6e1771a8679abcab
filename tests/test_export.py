"""ONNX export: both graphs match the PyTorch model in onnxruntime, with a dynamic batch size."""

from __future__ import annotations

import numpy as np
import pytest

from aekit import AutoEncoder
from aekit.errors import AekitError
from aekit.export import export_onnx

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the [onnx] and [test] extras")


@pytest.mark.parametrize("model", ["dense", "conv"])
def test_graphs_match_the_model(digits, tmp_path, model: str) -> None:
    estimator = AutoEncoder(model, latent_dim=4, hidden_dims=(16, 8), max_epochs=1, random_state=0).fit(digits)
    estimator.save(tmp_path / "m")
    paths = export_onnx(tmp_path / "m")
    encoder = ort.InferenceSession(str(paths["encoder"]))
    decoder = ort.InferenceSession(str(paths["decoder"]))
    shape = estimator.input_shape_
    for n in (1, 7):
        x = digits[:n].astype(np.float32).reshape(n, *shape)
        z = encoder.run(None, {"x": x})[0]
        np.testing.assert_allclose(z, estimator.transform(digits[:n]), atol=1e-5)
        x_hat = decoder.run(None, {"z": z})[0]
        np.testing.assert_allclose(x_hat.reshape(n, -1), estimator.inverse_transform(z), atol=1e-5)


def test_missing_model_directory(tmp_path) -> None:
    with pytest.raises(AekitError, match="No model directory"):
        export_onnx(tmp_path / "nope")
