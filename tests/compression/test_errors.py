"""The remaining error messages of aekit.compression, one test each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aekit import Autoencoder, AutoencoderConfig
from aekit.compression import entropy, pretrained
from aekit.compression.aez import AezWriter
from aekit.compression.api import decompress
from aekit.compression.codec import (
    DEFAULT_STEPS,
    EPOCH_RANGE,
    Codec,
    CodecSpec,
    default_epochs,
    random_patches,
    train_codec,
)
from aekit.errors import AekitError, DataError, ModelFileError
from aekit.io import read_config


def test_missing_constriction_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entropy, "constriction", None)
    with pytest.raises(AekitError, match=r"Entropy coding needs the 'constriction' package, which is not installed. "
                                         r"Install it with pip install 'aekit\[codec\]'."):
        entropy.encode_integers(np.arange(5))


def test_unknown_kind_in_a_file_is_reported(tmp_path: Path) -> None:
    with AezWriter(tmp_path / "x.aez", {"kind": "hologram"}):
        pass
    with pytest.raises(DataError, match="holds data of unknown kind 'hologram'. Upgrade aekit."):
        decompress(tmp_path / "x.aez", tmp_path / "x.npy")


def test_tiles_need_large_enough_images() -> None:
    with pytest.raises(DataError, match=r"Images must be at least 16x16 pixels to cut training tiles; got one of shape "
                                        r"\(8, 30, 3\)"):
        random_patches([np.zeros((8, 30, 3), np.uint8)], 10, 16)


def test_training_needs_two_samples(tmp_path: Path) -> None:
    with pytest.raises(AekitError, match=r"train_codec needs at least 2 samples; got an array of shape \(1, 4\)"):
        train_codec(np.zeros((1, 4), np.float32), tmp_path / "c", kind="array")


def test_training_needs_a_positive_batch_size(tmp_path: Path) -> None:
    with pytest.raises(AekitError, match="The 'batch_size' parameter of train_codec must be"):
        train_codec(np.zeros((8, 4), np.float32), tmp_path / "c", kind="array", batch_size=0)


def test_the_default_budget_counts_steps_so_small_tables_get_more_passes(tmp_path: Path) -> None:
    assert default_epochs(18_000, 64) == 160  # 282 steps a pass: 160 passes make 45,000 steps
    assert default_epochs(2_896, 64) * 46 >= DEFAULT_STEPS > (default_epochs(2_896, 64) - 1) * 46
    assert default_epochs(700, 64) == EPOCH_RANGE[1]  # a small table: capped
    assert default_epochs(10**6, 64) == EPOCH_RANGE[0]  # a large one: the floor
    train_codec(np.random.default_rng(0).random((22, 3), np.float32), tmp_path / "c", kind="array",
                latent_dim=2)  # 20 training rows: one step a pass, so many passes
    assert 30 < read_config(tmp_path / "c")["training"]["epochs_run"] <= EPOCH_RANGE[1]


def test_a_model_without_entropy_model_is_not_a_codec() -> None:
    model = Autoencoder(AutoencoderConfig((4,), 2))
    with pytest.raises(ModelFileError, match="has bottleneck 'deterministic', which has no entropy model. Train a "
                                             "codec with 'aekit train-codec'."):
        Codec(model, CodecSpec("array", 3, 1e-3, n_features=4), fingerprint="0" * 64, scaler=None, source="here")


def test_missing_pretrained_codecs_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    pretrained.load_pretrained.cache_clear()
    with pytest.raises(ModelFileError, match="No pretrained rgb codec is installed in .* Reinstall aekit or run 'make "
                                             "pretrained'."):
        pretrained.load_pretrained("rgb", 2)
    pretrained.load_pretrained.cache_clear()


def test_nan_rows_cannot_train_a_codec(cli, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.array([[1.0, np.nan], [2.0, 3.0]]))
    code, _out, err = cli("train-codec", tmp_path / "x.npy", "--out", tmp_path / "c")
    assert code == 1 and "contains NaN or infinite values. Replace them before training a codec." in err


def test_init_must_be_a_codec_of_the_same_recipe(tmp_path: Path, array_codec: Codec, digits: np.ndarray) -> None:
    scaled = array_codec.scaler.transform(digits).astype(np.float32)
    with pytest.raises(AekitError, match=r"The codec at '.*' was built as .*, but this training builds .*\. Start from "
                                         r"a codec trained with the same preset, options and sample shape, or drop "
                                         r"'init'\."):
        train_codec(scaled, tmp_path / "wide", kind="array", latent_dim=32, epochs=1, init=array_codec.source)
