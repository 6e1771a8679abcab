"""Model files: safetensors + JSON, checksums, atomic writes, no pickle."""

from __future__ import annotations

import json
import os
import warnings

import pytest
import torch

from aekit import Autoencoder, AutoencoderConfig, PartSpec
from aekit.errors import AekitError, ModelFileError
from aekit.io import atomic_path, load_model, load_state, save_model, save_state


@pytest.fixture
def saved(tmp_path):
    model = Autoencoder(AutoencoderConfig((1, 6, 6), 3, backbone=PartSpec("conv", {"norm": "batch"}))).eval()
    directory = save_model(tmp_path / "model", model, scaler={"kind": "none"}, training={"lr": 0.01},
                           data={"n": 3}, extra={"note": "x"})
    return model, directory


def test_round_trip_is_exact(saved) -> None:
    model, directory = saved
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_model(directory)
    x = torch.rand(4, 1, 6, 6)
    assert torch.equal(model.reconstruct(x), loaded.model.reconstruct(x))
    assert not loaded.model.training
    assert (loaded.scaler, loaded.training, loaded.data, loaded.extra) == ({"kind": "none"}, {"lr": 0.01},
                                                                         {"n": 3}, {"note": "x"})
    config = json.loads((directory / "config.json").read_text())
    assert config["aekit_version"] and config["format"] == "aekit.model" and len(config["weights_sha256"]) == 64


def test_files_are_not_pickles(saved) -> None:
    _, directory = saved
    head = (directory / "model.safetensors").read_bytes()[:2]
    assert head != b"\x80\x04" and head != b"PK"  # neither a raw pickle nor a torch.save zip


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "does not match the checksum"),
        ("flip", "does not match the checksum"),
        ("delete", "has no model.safetensors"),
        ("config", "no config.json"),
        ("badjson", "is not valid JSON"),
    ],
)
def test_damaged_directories_fail_clearly(saved, damage: str, message: str) -> None:
    _, directory = saved
    weights = directory / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "flip":
        data = bytearray(weights.read_bytes())
        data[-5] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "delete":
        weights.unlink()
    elif damage == "config":
        (directory / "config.json").unlink()
    else:
        (directory / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=message):
        load_model(directory)


def test_missing_directory(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="No model directory at"):
        load_model(tmp_path / "nope")


def test_newer_format_is_refused(saved) -> None:
    _, directory = saved
    config = json.loads((directory / "config.json").read_text())
    config["format_version"] = 99
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="Upgrade aekit"):
        load_model(directory)


def test_atomic_path_leaves_nothing_on_failure(tmp_path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_state_files_round_trip_nested_structures(tmp_path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.rand(4, 3)).sum().backward()
    optimizer.step()
    state = {"optimizer": optimizer.state_dict(), "best": float("inf"), "none": None, "rng": torch.get_rng_state()}
    save_state(tmp_path / "s.safetensors", state)
    loaded = load_state(tmp_path / "s.safetensors")
    assert loaded["best"] == float("inf") and loaded["none"] is None
    assert torch.equal(loaded["rng"], state["rng"])
    assert set(loaded["optimizer"]["state"]) == {0, 1}  # int keys survive
    fresh = torch.optim.Adam(model.parameters())
    fresh.load_state_dict(loaded["optimizer"])
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])


def test_atomic_files_get_normal_permissions(tmp_path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    with atomic_path(tmp_path / "report.html") as tmp:
        tmp.write_text("x")
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o666 & ~umask


def test_load_model_takes_devices_as_training_does(saved) -> None:
    _, directory = saved
    assert load_model(directory, device="auto").model.bottleneck is not None  # "auto": CUDA when present, else CPU
    if not torch.cuda.is_available():
        with pytest.raises(AekitError, match="Device 'cuda' was requested but CUDA is not available here"):
            load_model(directory, device="cuda")
    with pytest.raises(AekitError, match="Unknown device 'gpu0'"):
        load_model(directory, device="gpu0")


class _TiedDecoder(torch.nn.Module):
    def __init__(self, encoder: torch.nn.Linear) -> None:
        super().__init__()
        self.encoder = encoder  # the same Linear: its weight is saved under two names

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.encoder.weight


def test_tied_weights_save_and_load_tied(tmp_path) -> None:
    def build() -> Autoencoder:
        encoder = torch.nn.Linear(6, 3, bias=False)
        return Autoencoder(AutoencoderConfig((6,), 3), encoder=encoder, decoder=_TiedDecoder(encoder))

    model = build()
    save_model(tmp_path / "tied", model)
    loaded = load_model(tmp_path / "tied", encoder=(fresh := build()).encoder, decoder=fresh.decoder).model
    assert torch.equal(loaded.encoder.weight, model.encoder.weight)
    assert loaded.decoder.encoder.weight is loaded.encoder.weight


def test_atomic_path_takes_the_longest_legal_name_and_names_the_users_file(tmp_path, monkeypatch) -> None:
    long = tmp_path / ("b" * 251 + ".npy")  # 255 characters: legal, but not with a temporary suffix added
    with atomic_path(long) as tmp:
        tmp.write_bytes(b"x")
    assert long.read_bytes() == b"x"
    with monkeypatch.context() as patch:  # e.g. a folder of /proc, or one this user may not write to
        patch.setattr("tempfile.mkstemp", lambda **_: (_ for _ in ()).throw(PermissionError(13, "Permission denied",
                                                                                           str(tmp_path / ".x"))))
        with pytest.raises(AekitError, match=r"Cannot write '.*/out.npy': Permission denied. Choose a folder"):
            with atomic_path(tmp_path / "out.npy"):
                pass

    def fail_inside(tmp):
        raise OSError(28, "No space left on device", str(tmp))

    with pytest.raises(AekitError, match=r"Cannot write '.*/out.npy': No space left on device"):
        with atomic_path(tmp_path / "out.npy") as tmp:
            fail_inside(tmp)
    assert os.listdir(tmp_path) == [long.name]


def test_loading_a_model_does_not_repeat_the_identity_warning(tmp_path) -> None:
    import warnings

    from aekit.errors import AekitUserWarning

    with pytest.warns(AekitUserWarning, match="can learn the identity"):
        model = Autoencoder(AutoencoderConfig((3,), 4))
    save_model(tmp_path / "wide", model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(tmp_path / "wide")


def test_a_folder_describing_something_else_is_not_written_over(tmp_path, saved) -> None:
    from aekit.io import check_output_folder

    model, _ = saved
    (tmp_path / "sae").mkdir()
    (tmp_path / "sae" / "config.json").write_text('{"format": "aekit.sae"}')
    with pytest.raises(AekitError, match="Model directory .*/sae holds an aekit SAE run; writing here would replace "
                                         "its config.json"):
        save_model(tmp_path / "sae", model)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.json").write_text("not json")
    with pytest.raises(AekitError, match="holds a config.json that is not aekit's"):
        check_output_folder(tmp_path / "mine", "aekit.model", option="--out")
    with pytest.raises(ModelFileError, match=r"is not an aekit model file \(it describes an aekit SAE run\)"):
        load_model(tmp_path / "sae")
    save_model(tmp_path / "m", model)
    save_model(tmp_path / "m", model)  # a model over a model: as before
    (tmp_path / "detector").mkdir()  # another kind under another name: the files would mix
    (tmp_path / "detector" / "detector.json").write_text('{"format": "aekit.anomaly_detector"}')
    with pytest.raises(AekitError, match=r"Model directory .*/detector is another aekit folder; it holds an aekit "
                                         r"anomaly detector \(detector.json\): writing an aekit model there would mix "
                                         r"the two\. Pass another folder\."):
        save_model(tmp_path / "detector", model)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.json").write_text('{"format": "mine"}')  # the user's JSON: not aekit's kinds
    save_model(tmp_path / "notes", model)


def test_replace_folder_keeps_the_user_s_files_and_puts_the_old_folder_back_on_failure(tmp_path, monkeypatch) -> None:
    from aekit.io import replace_folder, staging_folder

    target = tmp_path / "saved"
    target.mkdir()
    (target / "part.bin").write_text("old")
    (target / "notes.txt").write_text("mine")
    staging = staging_folder(target)
    (staging / "part.bin").write_text("new")
    replace_folder(staging, target, is_part=lambda name: name == "part.bin")
    assert (target / "part.bin").read_text() == "new" and (target / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]  # no staging or old folder left
    staging = staging_folder(target)
    (staging / "part.bin").write_text("newer")
    real = os.replace

    def fail_into_target(src, dst):  # the rename of the new folder into place fails
        if str(dst) == str(target) and str(src) == str(staging):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", fail_into_target)
    with pytest.raises(OSError):
        replace_folder(staging, target, is_part=lambda name: name == "part.bin")
    assert (target / "part.bin").read_text() == "new" and (target / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------------- QA: misuse and damaged files
def _edit_config(directory, **changes) -> None:
    config = json.loads((directory / "config.json").read_text())
    for key, value in changes.items():
        if value is _DELETE:
            del config[key]
        else:
            config[key] = value
    (directory / "config.json").write_text(json.dumps(config))


_DELETE = object()


def test_save_and_load_model_refuse_wrong_arguments(tmp_path) -> None:
    model = Autoencoder(AutoencoderConfig((4,), 2))
    with pytest.raises(AekitError, match=r"save_model takes the directory first, then the model. Call "
                                         r"save_model\(path, model\)."):
        save_model(model, tmp_path / "m")  # type: ignore[arg-type]
    with pytest.raises(AekitError, match=r"The 'model' argument of save_model must be an aekit.Autoencoder. Got "
                                         r"Linear instead."):
        save_model(tmp_path / "m", torch.nn.Linear(2, 2))  # type: ignore[arg-type]
    with pytest.raises(AekitError, match=r"The 'model' argument of save_model must be an aekit.Autoencoder. Got "
                                         r"DataParallel, a DistributedDataParallel/DataParallel wrapper around one, "
                                         r"instead. Pass the module it wraps: save_model\(path, model.module\)."):
        save_model(tmp_path / "m", torch.nn.DataParallel(model))  # type: ignore[arg-type]

    class OptimizedModule:  # what torch.compile returns, without compiling
        _orig_mod = model

    with pytest.raises(AekitError, match=r"Got OptimizedModule, a torch.compile wrapper around one, instead. Pass "
                                         r"the module it wraps: save_model\(path, model._orig_mod\)."):
        save_model(tmp_path / "m", OptimizedModule())  # type: ignore[arg-type]
    with pytest.raises(AekitError, match=r"load_model reads a saved model directory and takes its path \(str or "
                                         r"pathlib.Path\). Got a model already loaded instead."):
        load_model(model)  # type: ignore[arg-type]
    with pytest.raises(AekitError, match="'dtype' parameter of load_model must be a floating torch dtype or None"):
        load_model(tmp_path, dtype=torch.int64)
    assert not (tmp_path / "m").exists()


def test_save_model_of_an_estimator_says_to_pass_its_module(tmp_path) -> None:
    import numpy as np

    from aekit import AutoEncoder

    estimator = AutoEncoder(latent_dim=2, max_epochs=1, random_state=0).fit(np.random.default_rng(0).random((20, 4)))
    with pytest.raises(AekitError, match=r"save_model saves an aekit.Autoencoder module; got the estimator "
                                         r"AutoEncoder. Save the estimator with est.save\(path\), or pass its module: "
                                         r"save_model\(path, est.model_\)."):
        save_model(tmp_path / "m", estimator)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": [1, 2]}, r"config.json' has 'model': \[1, 2\], not a JSON object; the file was edited or damaged. "
                            r"Restore it or save the model again."),
        ({"model": _DELETE}, r"config.json' has no 'model' section; the file was cut or edited."),
        ({"training": [1]}, r"config.json' has 'training': \[1\], not a JSON object"),
        ({"data": "x"}, r"config.json' has 'data': \"x\", not a JSON object"),
        ({"scaler": 3}, r"config.json' has 'scaler': 3, not a JSON object"),
        ({"model": {"input_shape": [4]}}, r"holds an architecture this aekit cannot build: Cannot build "
                                          r"AutoencoderConfig from .*latent_dim.*Pass every required option. Restore"),
    ],
)
def test_damaged_sections_name_the_field_and_its_value(saved, changes: dict, message: str) -> None:
    _, directory = saved
    _edit_config(directory, **changes)
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(directory)
    assert ".." not in str(info.value)


def test_a_wrapped_message_has_no_doubled_period(saved) -> None:
    _, directory = saved
    config = json.loads((directory / "config.json").read_text())
    config["model"]["latent_dim"] = 4  # the weights are of latent_dim 3
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="Cannot load") as info:
        load_model(directory)
    text = str(info.value).replace("(...)", "")  # the mark of a detail cut short
    assert ".." not in text and text.endswith(". Train or save the model again.")


def test_a_part_no_imported_module_registers_says_to_import_it(tmp_path, monkeypatch) -> None:
    from dataclasses import dataclass

    from aekit.parts import REGULARIZERS
    from aekit.parts.regularizers.l1 import L1Regularizer

    @dataclass(frozen=True)
    class Config:
        weight: float = 0.1

    monkeypatch.setitem(REGULARIZERS._items, "my_penalty", L1Regularizer)
    directory = save_model(tmp_path / "m", Autoencoder(AutoencoderConfig((4,), 2,
                                                                         regularizers=(PartSpec("my_penalty"),))))
    monkeypatch.delitem(REGULARIZERS._items, "my_penalty")  # a new process that has not imported its module
    with pytest.raises(ModelFileError, match=r"uses the regularizer 'my_penalty', which nothing imported in this "
                                             r"process registers \(aekit's own: contractive, kl_sparsity, l1\). If it "
                                             r"is a part of your own, import the module that registers it "
                                             r"\(@REGULARIZERS.register\('my_penalty'\)\) before loading."):
        load_model(directory)


def _custom_model(encoder: bool, decoder: bool) -> Autoencoder:
    return Autoencoder(AutoencoderConfig((6,), 2),
                       encoder=torch.nn.Linear(6, 5) if encoder else None,
                       decoder=torch.nn.Linear(2, 6) if decoder else None)


@pytest.mark.parametrize(
    ("saved_with", "given", "message"),
    [
        ((True, True), (True, False), r"was saved with a custom decoder, which load_model was not given. Pass the "
                                      r"same module\(s\) built as when saving: load_model\(path, encoder=..., "
                                      r"decoder=...\)."),
        ((True, False), (False, False), r"was saved with a custom encoder, which load_model was not given"),
        ((False, True), (True, True), r"was saved with its backbone's own encoder, but load_model was given one. "
                                      r"Leave out encoder=."),
    ],
)
def test_custom_modules_missing_or_extra_are_named(tmp_path, saved_with, given, message: str) -> None:
    model = _custom_model(*saved_with)
    directory = save_model(tmp_path / "m", model)
    assert json.loads((directory / "config.json").read_text())["custom_parts"] == list(model.custom_parts)
    encoder = torch.nn.Linear(6, 5) if given[0] else None
    decoder = torch.nn.Linear(2, 6) if given[1] else None
    with pytest.raises(ModelFileError, match=message):
        load_model(directory, encoder=encoder, decoder=decoder)


def test_custom_modules_load_and_old_files_without_custom_parts_still_load(tmp_path) -> None:
    model = _custom_model(True, True).eval()
    directory = save_model(tmp_path / "m", model)
    x = torch.rand(3, 6)
    loaded = load_model(directory, encoder=torch.nn.Linear(6, 5), decoder=torch.nn.Linear(2, 6)).model
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))
    _edit_config(directory, custom_parts=_DELETE)  # as saved by an earlier aekit
    with pytest.raises(ModelFileError, match="was saved with a custom encoder/decoder. Pass the same modules"):
        load_model(directory)
    assert torch.equal(load_model(directory, encoder=torch.nn.Linear(6, 5), decoder=torch.nn.Linear(2, 6)
                                  ).model.reconstruct(x), model.reconstruct(x))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_weights_of_another_dtype_load_as_float32_with_a_warning_or_as_stored(tmp_path, dtype) -> None:
    model = Autoencoder(AutoencoderConfig((4,), 2)).to(dtype)
    with torch.no_grad():  # bits float32 cannot hold: float64 must come back exactly, not through float32
        for parameter in model.parameters():
            parameter.add_(1e-12)
    directory = save_model(tmp_path / "m", model)
    name = str(dtype).removeprefix("torch.")
    with pytest.warns(UserWarning, match=rf"holds {name} weights; load_model returns them as float32 by default, "
                                         r"the dtype aekit's estimators, commands and export compute in. Pass "
                                         r"dtype=torch.float32 to cast without this warning, or dtype=None"):
        as_float32 = load_model(directory).model
    with warnings.catch_warnings():  # a dtype the caller asks for (float32 included) is cast to silently
        warnings.simplefilter("error")
        kept = load_model(directory, dtype=None).model
        explicit = load_model(directory, dtype=torch.float32).model
        half = load_model(directory, dtype=torch.float16).model
    for key, value in model.state_dict().items():
        assert as_float32.state_dict()[key].dtype == torch.float32
        assert torch.equal(as_float32.state_dict()[key], value.float())
        assert torch.equal(explicit.state_dict()[key], value.float())
        assert half.state_dict()[key].dtype == torch.float16
        assert kept.state_dict()[key].dtype == dtype and torch.equal(kept.state_dict()[key], value)


def test_float32_weights_load_without_a_warning(saved) -> None:
    import warnings

    _, directory = saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert next(load_model(directory).model.parameters()).dtype == torch.float32
