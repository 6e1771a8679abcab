"""What QA found: lossy outputs, unbounded bounds, files larger than the data, codecs replaced, full disks, forged
files and messages that named the wrong thing."""

from __future__ import annotations

import builtins
import errno
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from aekit.compression import aez
from aekit.compression.aez import AezReader, AezWriter
from aekit.compression.api import Summary, _Errors, compress, decompress
from aekit.errors import AekitError, DataError

from .conftest import gradient_image


def _forge(source: Path, target: Path, header: dict | None = None, chunks=None) -> Path:
    """``source`` rewritten with another header and chunks, under a valid checksum (as another program might)."""
    reader = AezReader(source)
    found = list(reader.chunks())
    with AezWriter(target, reader.header if header is None else header) as writer:
        for chunk in (found if chunks is None else chunks(found)):
            writer.write_chunk(chunk)
    return target


# ------------------------------------------------------------------------------------------ 1. WebP
def test_webp_output_is_lossless_and_keeps_grayscale_out(tmp_path: Path) -> None:
    for channels in (3, 1):
        pixels = gradient_image(24, 32, channels)
        Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(tmp_path / f"p{channels}.png")
        compress(tmp_path / f"p{channels}.png", tmp_path / f"p{channels}.aez", max_abs_error=0.49)
    decompress(tmp_path / "p3.aez", tmp_path / "p3.webp")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "p3.webp")), gradient_image(24, 32, 3))
    with pytest.raises(DataError, match="holds a grayscale image, and WebP stores no grayscale: it would come back as "
                                        "RGB. Write a .png, .bmp or .tif file instead of 'p1.webp'"):
        decompress(tmp_path / "p1.aez", tmp_path / "p1.webp")
    assert not (tmp_path / "p1.webp").exists()


# ---------------------------------------------------------------------------------- 2. infinite bound
def test_an_infinite_bound_is_refused(cli, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(12.0).reshape(3, 4))
    with pytest.raises(AekitError, match="must be a finite number; inf bounds nothing"):
        compress(tmp_path / "x.npy", tmp_path / "x.aez", max_abs_error=float("inf"))
    code, _out, err = cli("compress", tmp_path / "x.npy", "-o", tmp_path / "x.aez", "--max-abs-error", "inf")
    assert code == 1 and err.count("\n") == 1 and "--max-abs-error must be a finite number" in err
    assert not (tmp_path / "x.aez").exists()


def test_the_error_statistics_do_not_hide_nan() -> None:
    errors = _Errors()
    errors.update(np.zeros(3), np.array([0.0, np.nan, 1.0]))
    errors.update(np.zeros(3), np.zeros(3))
    assert np.isnan(errors.max_abs)


# ---------------------------------------------------------------------------------- 3. raw fallback
def test_chunks_coding_would_enlarge_are_stored_raw(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).standard_normal((200, 50)).astype(np.float32)
    data = np.concatenate([np.zeros((200, 50), np.float32), noise])  # one chunk codes well, one does not
    np.save(tmp_path / "x.npy", data)
    summary = compress(tmp_path / "x.npy", tmp_path / "x.aez", max_abs_error=1e-6, chunk_rows=200)
    assert summary.verbatim_bytes == noise.nbytes and summary.file_bytes < data.nbytes / 2 + 1000
    assert any("raw values (chunks that coding would enlarge): 40,000 bytes" in line for line in summary.lines())
    decompress(tmp_path / "x.aez", tmp_path / "y.npy")
    assert np.array_equal(np.load(tmp_path / "y.npy"), data)


# ------------------------------------------------------------------------------ 4, 5. train-codec --out
def test_train_codec_protects_codecs_models_and_its_data(cli, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((40, 3)))
    args = ("train-codec", tmp_path / "x.npy", "--epochs", "1", "--out")
    code, _out, err = cli(*args, tmp_path / "codec")
    assert code == 0, err
    config = (tmp_path / "codec" / "config.json").read_bytes()
    code, _out, err = cli(*args, tmp_path / "codec")
    assert code == 1 and err.count("\n") == 1 and "holds a codec already, and every .aez file compressed with it " \
                                                   "needs it to decode. Pass another folder, or --overwrite" in err
    assert (tmp_path / "codec" / "config.json").read_bytes() == config
    code, _out, err = cli(*args, tmp_path / "codec", "--overwrite")
    assert code == 0, err
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text('{"format": "aekit.model", "extra": {}}')
    code, _out, err = cli(*args, tmp_path / "model", "--overwrite")
    assert code == 1 and "holds an aekit model (from 'aekit train'), not a codec" in err
    (tmp_path / "imgs").mkdir()
    Image.fromarray(gradient_image()).save(tmp_path / "imgs" / "a.png")
    code, _out, err = cli("train-codec", tmp_path / "imgs", "--out", tmp_path / "imgs")
    assert code == 1 and "which this command also uses" in err
    assert sorted(p.name for p in (tmp_path / "imgs").iterdir()) == ["a.png"]


@pytest.mark.parametrize("patches", ["0", "-3"])
def test_patches_must_be_positive(cli, tmp_path: Path, patches: str) -> None:
    Image.fromarray(gradient_image()).save(tmp_path / "a.png")
    code, _out, err = cli("train-codec", tmp_path / "a.png", "--out", tmp_path / "c", "--patches", patches)
    assert code == 1 and err == f"error: --patches must be an int in [1, inf]. Got {patches} instead.\n"


# ---------------------------------------------------------------------------------------- 6. full disk
def test_train_codec_on_a_full_disk_leaves_no_folder(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors import SafetensorError

    def full(*_args: object, **_kwargs: object) -> None:
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space '
                              'left on device" })')

    monkeypatch.setattr("aekit.io.save_file", full)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((40, 3)))
    code, _out, err = cli("train-codec", tmp_path / "x.npy", "--epochs", "1", "--out", tmp_path / "codec")
    assert code == 1 and err == (f"error: Cannot write the codec folder '{tmp_path / 'codec'}': No space left on "
                                 "device. Free space or choose another folder.\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]  # no codec folder, no temporary one


def test_compress_and_decompress_on_a_full_disk_name_the_file(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pd.DataFrame({"a": [1.5, 2.5]}).to_csv(tmp_path / "t.csv", index=False)
    compress(tmp_path / "t.csv", tmp_path / "t.aez", max_abs_error=0.1)

    class FullFile:
        def __init__(self, *_args: object) -> None:
            pass

        def __enter__(self) -> FullFile:
            return self

        def __exit__(self, *_args: object) -> None:
            pass

        def write(self, _data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def close(self) -> None:
            pass

    with monkeypatch.context() as patch:
        patch.setattr(aez, "open", FullFile, raising=False)
        with pytest.raises(AekitError, match=r"Cannot write '.*u.aez': No space left on device. Free space"):
            compress(tmp_path / "t.csv", tmp_path / "u.aez", max_abs_error=0.1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.aez", "t.csv"]

    def to_csv(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    with pytest.raises(AekitError, match=r"Cannot write '.*back.csv': No space left on device"):
        decompress(tmp_path / "t.aez", tmp_path / "back.csv")
    assert not builtins.any(p.name.startswith(".back") for p in tmp_path.iterdir())


# -------------------------------------------------------------------------------------- 7. forged files
@pytest.mark.parametrize(("change", "chunks", "detail"), [
    ({}, lambda c: c[:-1], "chunks of 20 rows where its shape says 30"),
    ({}, lambda c: c + c[-1:], "chunks of more than the 30 rows of its shape"),
    ({"shape": [40, 4]}, None, "chunks of 30 rows where its shape says 40"),
    ({"shape": [20, 4]}, None, "chunks of more than the 20 rows of its shape"),
    ({"shape": None}, None, "shape None for an array"),
    ({"shape": [30, "4"]}, None, "shape [30, '4'] for an array"),
    ({"dtype": "<U3"}, None, "dtype '<U3' for an array"),
    ({"dtype": "bogus"}, None, "dtype 'bogus'"),
    ({"max_abs_error": -1}, None, "max_abs_error -1"),
    ({"kind": None}, None, "kind None"),
    ({"codec": "oops"}, None, "codec 'oops'"),
    ({"codec": {"sha256": "x", "pretrained": "rgb-q9", "path": None}}, None,
     "shipped codec 'rgb-q9', which this aekit does not have"),
])
def test_forged_files_are_called_damaged(tmp_path: Path, change: dict, chunks, detail: str) -> None:
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((30, 4)))
    compress(tmp_path / "x.npy", tmp_path / "x.aez", max_abs_error=0.01, chunk_rows=10)
    header = {**AezReader(tmp_path / "x.aez").header, **change}
    _forge(tmp_path / "x.aez", tmp_path / "f.aez", header, chunks)
    with pytest.raises(DataError, match=r"'.*f.aez' is damaged or was written by another program \(" +
                       detail.replace("[", r"\[").replace("(", r"\(") + r"\); its checksum matches"):
        decompress(tmp_path / "f.aez", tmp_path / "y.npy")
    assert not (tmp_path / "y.npy").exists()


@pytest.mark.parametrize(("change", "detail"), [
    ({"column_dtypes": ["object", "int64"]}, "column_dtypes ['object', 'int64'] for 2 columns"),
    ({"column_dtypes": ["int64"]}, "column_dtypes ['int64'] for 2 columns"),
    ({"integer_grid": "yes"}, "integer_grid 'yes'"),
    ({"dtype": "<i8"}, "dtype '<i8' for a table (its values are float64)"),
    ({"columns": ["a", "a"]}, "column names 'a' given twice"),
])
def test_forged_table_headers_are_called_damaged(tmp_path: Path, change: dict, detail: str) -> None:
    pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}).to_csv(tmp_path / "t.csv", index=False)
    compress(tmp_path / "t.csv", tmp_path / "t.aez", max_abs_error=0.5)
    _forge(tmp_path / "t.aez", tmp_path / "f.aez", {**AezReader(tmp_path / "t.aez").header, **change})
    with pytest.raises(DataError, match=r"'.*f.aez' is damaged or was written by another program \(" +
                       re.escape(detail) + r"\); its checksum matches"):
        decompress(tmp_path / "f.aez", tmp_path / "back.csv")
    assert not (tmp_path / "back.csv").exists()


def test_an_image_of_another_shape_is_called_damaged(tmp_path: Path) -> None:
    Image.fromarray(gradient_image(32, 32)).save(tmp_path / "a.png")
    compress(tmp_path / "a.png", tmp_path / "a.aez")
    header = {**AezReader(tmp_path / "a.aez").header, "shape": [16, 16, 3]}
    _forge(tmp_path / "a.aez", tmp_path / "f.aez", header)
    with pytest.raises(DataError, match="holds more values than its header's shape says. The file is damaged"):
        decompress(tmp_path / "f.aez", tmp_path / "f.png")


# ------------------------------------------------------------------------------------- 8, 9. messages
def test_a_codec_for_a_file_without_one_is_refused(tmp_path: Path, array_codec) -> None:
    np.save(tmp_path / "x.npy", np.zeros((3, 64)))
    compress(tmp_path / "x.npy", tmp_path / "x.aez", max_abs_error=0.1)
    with pytest.raises(AekitError, match="was compressed without a codec, so the codec .* would not be used. Drop"):
        decompress(tmp_path / "x.aez", tmp_path / "y.npy", codec=array_codec)


def test_folders_are_named_as_folders(cli, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    code, _out, err = cli("decompress", tmp_path / "dir", "-o", tmp_path / "y.npy")
    assert code == 1 and "dir' is a folder; decompress reads one .aez file" in err
    code, _out, err = cli("compress", tmp_path / "dir", "-o", tmp_path / "y.aez")
    assert code == 1 and "dir' is a folder; compress takes one file" in err
    (tmp_path / "data.xyz").write_text("1")
    code, _out, err = cli("train-codec", tmp_path / "data.xyz", "--out", tmp_path / "c")
    assert code == 1 and "Cannot train a codec on '" in err and "Cannot compress" not in err


def test_output_folder_is_refused_before_the_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np.save(tmp_path / "x.npy", np.zeros((3, 4)))
    (tmp_path / "out.aez").mkdir()
    monkeypatch.setattr("aekit.compression.api.read_array", lambda _p: pytest.fail("read before the check"))
    with pytest.raises(AekitError, match=r"output .*out.aez is a folder. Pass a file path"):
        compress(tmp_path / "x.npy", tmp_path / "out.aez", max_abs_error=0.1)


def test_tile_is_not_checked_for_tables(cli, tmp_path: Path) -> None:
    pd.DataFrame(np.random.default_rng(0).random((40, 3)), columns=list("abc")).to_csv(tmp_path / "t.csv", index=False)
    code, _out, err = cli("train-codec", tmp_path / "t.csv", "--out", tmp_path / "c", "--tile", "12", "--epochs", "1")
    assert code == 0, err


def test_a_bound_without_measured_errors_reads_as_a_sentence() -> None:
    summary = Summary("decompress", "array", raw_bytes=8, file_bytes=4, seconds=1.0, n_values=1, error_bound=0.1)
    assert summary.lines()[-1] == "every value within 0.1 of the original (the file's bound)"
