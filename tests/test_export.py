"""ONNX export: the graphs reproduce transform / inverse_transform in raw units, at any batch size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aekit
from aekit.errors import AekitError
from aekit.export import export_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

MODELS = {
    "dense": {"model": "dense"},
    "conv": {"model": "conv", "input_shape": (1, 8, 8)},
}
# The conv model also covers out_dir and opset (each export costs about a second: the graphs are traced by
# torch.export).
EXPORT_OPTIONS = {"dense": {}, "conv": {"out_dir": "onnx", "opset": 18}}


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, tmp_path_factory, digits):
    """A model trained for one epoch on digits (raw 0..16 pixels), saved, and its two exported graphs."""
    estimator = aekit.AutoEncoder(**MODELS[request.param], latent_dim=4, max_epochs=1, batch_size=64,
                                  random_state=0, device="cpu").fit(digits)
    model_dir = estimator.save(tmp_path_factory.mktemp(request.param) / "model")
    options = dict(EXPORT_OPTIONS[request.param])
    if "out_dir" in options:
        options["out_dir"] = model_dir.parent / options["out_dir"]
    return estimator, model_dir, export_onnx(model_dir, **options), options


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("batch", [1, 7])
def test_graphs_match_the_estimator_in_raw_units(exported, digits, batch) -> None:
    estimator, _, paths, _ = exported
    rows = digits[10:10 + batch]
    x = rows.astype(np.float32).reshape(batch, *estimator.input_shape_)  # raw units, the model's sample shape
    z = _session(paths["encoder"]).run(["z"], {"x": x})[0]
    assert z.shape == (batch, 4) and z.dtype == np.float32
    np.testing.assert_allclose(z, estimator.transform(rows), rtol=0, atol=1e-5)

    x_hat = _session(paths["decoder"]).run(["x_hat"], {"z": z})[0]
    assert x_hat.shape == (batch, *estimator.input_shape_)
    np.testing.assert_allclose(x_hat.reshape(batch, -1), estimator.inverse_transform(z), rtol=0, atol=1e-5)
    assert np.abs(x_hat).max() > 1.5  # raw units (0..16), so the inverse scaler is in the graph


def test_files_names_and_dynamic_batch(exported) -> None:
    _, model_dir, paths, options = exported
    out_dir = options.get("out_dir", model_dir)
    assert paths == {"encoder": out_dir / "encoder.onnx", "decoder": out_dir / "decoder.onnx"}
    for path, input_name, output_name in ((paths["encoder"], "x", "z"), (paths["decoder"], "z", "x_hat")):
        proto = onnx.load(str(path))
        assert [i.name for i in proto.graph.input] == [input_name]
        assert [o.name for o in proto.graph.output] == [output_name]
        batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
        assert batch_dim.dim_param and not batch_dim.HasField("dim_value")
        if "opset" in options:
            assert {o.domain: o.version for o in proto.opset_import}[""] == options["opset"]
    # the weights live inside the graphs (no .data side files) and no temporary file is left behind
    assert sorted(p.name for p in out_dir.iterdir() if "onnx" in p.name) == ["decoder.onnx", "encoder.onnx"]


def test_missing_model_dir_is_a_clean_error(tmp_path) -> None:
    with pytest.raises(AekitError, match=r"No model directory at '.*nowhere'\. Pass the --out folder"):
        export_onnx(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_bad_opset_is_a_clean_error(tmp_path) -> None:
    for opset in (3, 999):  # below what the exporters write, beyond what the installed onnx knows
        with pytest.raises(AekitError, match=rf"The 'opset' parameter of export_onnx must be an int in \[7, \d+\]\. "
                                             rf"Got {opset} instead\."):
            export_onnx(tmp_path, opset=opset)


@pytest.fixture
def small_model_dir(tmp_path):
    """An untrained dense model with a per-feature min-max scaler, saved as save_model writes it."""
    model = aekit.Autoencoder(aekit.AutoencoderConfig((6,), 2, backbone=aekit.PartSpec("dense", {"hidden_dims": [5]})))
    scaler = {"kind": "minmax", "per_feature": True, "sample_shape": [6], "offset": [0.0, 1, 2, 3, 4, 5],
              "scale": [1.0, 2, 3, 4, 5, 6]}
    return model.eval(), aekit.save_model(tmp_path / "small", model, scaler=scaler)


def test_torchscript_fallback_when_dynamo_fails(small_model_dir, monkeypatch, caplog) -> None:
    from aekit import export

    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported op\nlong trace")

    monkeypatch.setattr(export, "_export_dynamo", refuse)
    model, model_dir = small_model_dir
    paths = export_onnx(model_dir)
    assert "dynamo ONNX exporter failed on the encoder" in caplog.text and "unsupported op" in caplog.text
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    offset, scale = np.arange(6, dtype=np.float32), np.arange(1, 7, dtype=np.float32)
    with torch.no_grad():
        z = model.encode(torch.from_numpy((x - offset) / scale)).numpy()
        x_hat = model.decode(torch.from_numpy(z)).numpy() * scale + offset
    np.testing.assert_allclose(_session(paths["encoder"]).run(None, {"x": x})[0], z, atol=1e-6)
    np.testing.assert_allclose(_session(paths["decoder"]).run(None, {"z": z})[0], x_hat, atol=1e-6)


def test_export_failure_is_a_clean_error(small_model_dir, monkeypatch) -> None:
    from aekit import export

    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported op\nlong trace")

    monkeypatch.setattr(export, "_export_dynamo", refuse)
    monkeypatch.setattr(export, "_export_torchscript", refuse)
    _, model_dir = small_model_dir
    with pytest.raises(AekitError, match=r"^Cannot export the encoder of '.*small' to ONNX \(RuntimeError: "
                                         r"unsupported op\)\. Check the torch/onnx versions"):
        export_onnx(model_dir)
    assert not (model_dir / "encoder.onnx").exists()


def test_the_opset_asked_for_is_the_one_written(small_model_dir, tmp_path) -> None:
    import onnx

    _, model_dir = small_model_dir
    paths = export_onnx(model_dir, tmp_path / "out", opset=13)  # below the dynamo exporter's own
    for path in paths.values():
        assert [e.version for e in onnx.load(path).opset_import if e.domain in ("", "ai.onnx")] == [13]

