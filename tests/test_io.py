"""Model files: safetensors + JSON, checksums, atomic writes, no pickle."""

from __future__ import annotations

import json
import os

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
