"""compress / decompress: round trips for arrays, tables and images, the error bound, and every error message."""

from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from aekit.compression.aez import AezReader, AezWriter
from aekit.compression.api import compress, decompress
from aekit.compression.codec import Codec, train_codec
from aekit.compression.pretrained import available_qualities
from aekit.errors import AekitError, DataError, ModelFileError

from .conftest import gradient_image


def _npy(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


# ----------------------------------------------------------------------------------------- arrays
def test_outputs_never_replace_the_inputs(tmp_path: Path, digits: np.ndarray) -> None:
    source = _npy(tmp_path / "digits.npy", digits)
    before = source.read_bytes()
    with pytest.raises(AekitError, match="its name must end in .aez, not 'digits.npy'"):
        compress(source, source, max_abs_error=0.5)
    with pytest.raises(AekitError, match=r"output .*a.aez would overwrite .*a.aez', which this command also uses"):
        compress(tmp_path / "a.aez", tmp_path / "a.aez", max_abs_error=0.5)
    compress(source, tmp_path / "d.aez", max_abs_error=0.5)
    with pytest.raises(AekitError, match=r"output .*digits.npy would overwrite .*digits.npy', which this command"):
        decompress(tmp_path / "d.aez", source, original=source)  # would compare the decoded file with itself
    assert source.read_bytes() == before


def test_a_wrong_original_is_refused_before_anything_is_written(tmp_path: Path, digits: np.ndarray) -> None:
    source = _npy(tmp_path / "digits.npy", digits)
    compress(source, tmp_path / "d.aez", max_abs_error=0.5)
    other = _npy(tmp_path / "other.npy", digits[:, :10])
    (tmp_path / "photo.png").write_bytes(b"not read")
    for original, message in ((other, r"other.npy has shape \(1797, 10\), but .*d.aez' holds array data of shape "
                                      r"\(1797, 64\)"),
                              (tmp_path / "photo.png", r"holds an array, so the original is a .npy file"),
                              (tmp_path / "missing.npy", "No such file")):
        with pytest.raises(AekitError, match=message):
            decompress(tmp_path / "d.aez", tmp_path / "back.npy", original=original)
        assert not (tmp_path / "back.npy").exists()


def test_array_round_trip_with_a_codec(tmp_path: Path, array_codec: Codec, digits: np.ndarray) -> None:
    source = _npy(tmp_path / "digits.npy", digits)
    summary = compress(source, tmp_path / "d.aez", codec=array_codec)
    back = decompress(tmp_path / "d.aez", tmp_path / "back.npy", original=source)
    decoded = np.load(tmp_path / "back.npy")
    assert decoded.shape == digits.shape and decoded.dtype == digits.dtype
    assert summary.file_bytes == (tmp_path / "d.aez").stat().st_size < digits.nbytes
    # the entropy coder writes what the model predicts, up to a few bytes
    assert abs(summary.code_bytes - summary.predicted_code_bytes) < 16
    assert summary.nrmse == pytest.approx(back.nrmse) and summary.nrmse < 0.5
    assert summary.max_abs_error == pytest.approx(float(np.abs(decoded - digits).max()))


def test_arrays_stream_through_in_chunks(tmp_path: Path, array_codec: Codec, digits: np.ndarray) -> None:
    source = _npy(tmp_path / "digits.npy", digits.astype(np.float32))
    compress(source, tmp_path / "one.aez", codec=array_codec, max_abs_error=0.5)
    compress(source, tmp_path / "many.aez", codec=array_codec, max_abs_error=0.5, chunk_rows=100)
    assert AezReader(tmp_path / "many.aez").n_chunks == 18 and AezReader(tmp_path / "one.aez").n_chunks == 1
    decompress(tmp_path / "many.aez", tmp_path / "many.npy")
    decoded = np.load(tmp_path / "many.npy")
    assert decoded.dtype == np.float32 and np.abs(decoded - digits).max() <= 0.5


def test_multidimensional_arrays_keep_their_shape(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(7, 3, 5)).astype(np.float32)
    compress(_npy(tmp_path / "x.npy", x), tmp_path / "x.aez", max_abs_error=1e-3)
    decompress(tmp_path / "x.aez", tmp_path / "y.npy")
    assert np.load(tmp_path / "y.npy").shape == (7, 3, 5)


_DTYPES = st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.int64])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=_DTYPES, bound=st.floats(1e-4, 50.0), rows=st.integers(1, 40), cols=st.integers(1, 6))
def test_error_bound_holds_for_every_element(data: st.DataObject, dtype: type, bound: float, rows: int,
                                             cols: int) -> None:
    if np.dtype(dtype).kind == "f":
        elements = st.floats(-1e6, 1e6, allow_nan=False, width=np.dtype(dtype).itemsize * 8)
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    x = data.draw(arrays(dtype, (rows, cols), elements=elements))
    with tempfile.TemporaryDirectory() as folder:
        path = _npy(Path(folder) / "x.npy", x)
        summary = compress(path, Path(folder) / "x.aez", max_abs_error=bound)
        decompress(Path(folder) / "x.aez", Path(folder) / "y.npy")
        decoded = np.load(Path(folder) / "y.npy")
    assert decoded.dtype == x.dtype
    assert np.all(np.abs(decoded.astype(np.float64) - x.astype(np.float64)) <= bound)
    assert summary.max_abs_error <= bound


@settings(max_examples=15, deadline=None)
@given(x=arrays(np.float64, st.tuples(st.integers(1, 30), st.just(64)), elements=st.floats(-20, 40)),
       bound=st.floats(1e-3, 5.0))
def test_error_bound_holds_on_top_of_a_codec(array_codec: Codec, x: np.ndarray, bound: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _npy(Path(folder) / "x.npy", x)
        compress(path, Path(folder) / "x.aez", codec=array_codec, max_abs_error=bound)
        decompress(Path(folder) / "x.aez", Path(folder) / "y.npy")
        assert np.all(np.abs(np.load(Path(folder) / "y.npy") - x) <= bound)


# ----------------------------------------------------------------------------------------- tables
@pytest.mark.parametrize("suffix", [".csv", ".txt", ".parquet"])
def test_table_round_trip_keeps_the_columns(tmp_path: Path, array_codec: Codec, digits: np.ndarray,
                                            suffix: str) -> None:
    frame = pd.DataFrame(digits[:200], columns=[f"pixel_{i}" for i in range(64)])
    source = tmp_path / f"table{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(source, index=False)
    else:  # .txt: the delimiter is sniffed, here spaces
        frame.to_csv(source, index=False, sep="," if suffix == ".csv" else " ")
    compress(source, tmp_path / "t.aez", codec=array_codec, max_abs_error=0.25)
    decompress(tmp_path / "t.aez", tmp_path / f"back{suffix}")
    back = tmp_path / f"back{suffix}"
    back = pd.read_parquet(back) if suffix == ".parquet" else pd.read_csv(back)
    assert list(back.columns) == list(frame.columns)
    assert np.abs(back.to_numpy() - frame.to_numpy()).max() <= 0.25


def test_a_tables_row_index_column(tmp_path: Path, array_codec: Codec, digits: np.ndarray) -> None:
    frame = pd.DataFrame(digits[:50], columns=[f"pixel_{i}" for i in range(64)])
    frame.to_csv(tmp_path / "t.csv")  # pandas' default: the index 0..49 first, under an empty name
    compress(tmp_path / "t.csv", tmp_path / "t.aez", codec=array_codec, max_abs_error=0.25)  # rows in order: no loss
    decompress(tmp_path / "t.aez", tmp_path / "back.csv")
    back = pd.read_csv(tmp_path / "back.csv", index_col=0)  # the index column is written back, as it was read
    assert (tmp_path / "back.csv").read_text().startswith(",pixel_0,")
    assert list(back.columns) == list(frame.columns) and back.index.tolist() == list(range(50))
    decompress(tmp_path / "t.aez", tmp_path / "back.parquet")  # Parquet keeps no row numbers of its own
    assert list(pd.read_parquet(tmp_path / "back.parquet").columns) == list(frame.columns)
    frame.set_axis(np.arange(100, 150)).to_csv(tmp_path / "ids.csv")  # ids that the rows' order cannot rebuild
    with pytest.raises(DataError, match="first column, which has no name, of .*ids.csv holds row ids, and "
                                        "compress does not store row ids. Drop the column, or rename it"):
        compress(tmp_path / "ids.csv", tmp_path / "ids.aez", codec=array_codec, max_abs_error=0.25)
    assert not (tmp_path / "ids.aez").exists()
    frame.rename_axis("ID").to_csv(tmp_path / "named.csv")  # an id column, even 0..n-1: its name would be lost
    with pytest.raises(DataError, match="column 'ID' of .*named.csv holds row ids"):
        compress(tmp_path / "named.csv", tmp_path / "named.aez", codec=array_codec, max_abs_error=0.25)


def test_non_numeric_table_columns_are_rejected(tmp_path: Path) -> None:
    source = tmp_path / "t.csv"
    pd.DataFrame({"a": [1.0, 2.0], "name": ["x", "y"]}).to_csv(source, index=False)
    with pytest.raises(DataError, match="Column\\(s\\) 'name' of .*t.csv are not numeric. Drop them or encode them"):
        compress(source, tmp_path / "t.aez", max_abs_error=0.1)


def test_a_table_without_rows_is_called_empty(tmp_path: Path) -> None:
    source = tmp_path / "t.csv"
    source.write_text("a,b\n")  # a header only: pandas reads its columns as text, but the table is empty
    with pytest.raises(DataError, match="The table .*t.csv is empty \\(0 rows\\)"):
        compress(source, tmp_path / "t.aez", max_abs_error=0.1)
    assert not (tmp_path / "t.aez").exists()


# ----------------------------------------------------------------------------------------- images
def test_image_round_trip_with_a_codec(tmp_path: Path, image_codec: Codec, png: Path) -> None:
    from PIL import Image

    summary = compress(png, tmp_path / "p.aez", codec=image_codec)
    back = decompress(tmp_path / "p.aez", tmp_path / "back.png", original=png)
    decoded = np.asarray(Image.open(tmp_path / "back.png"))
    assert decoded.shape == (37, 45, 3) and decoded.dtype == np.uint8
    assert summary.n_pixels == 37 * 45 and summary.psnr == pytest.approx(back.psnr)
    assert summary.psnr > 10 and abs(summary.code_bytes - summary.predicted_code_bytes) < 16


def test_image_error_bound(tmp_path: Path, image_codec: Codec, png: Path) -> None:
    from PIL import Image

    compress(png, tmp_path / "p.aez", codec=image_codec, max_abs_error=2)
    decompress(tmp_path / "p.aez", tmp_path / "back.png")
    decoded = np.asarray(Image.open(tmp_path / "back.png")).astype(int)
    assert np.abs(decoded - gradient_image().astype(int)).max() <= 2


@pytest.mark.parametrize("channels", [1, 3])
def test_images_default_to_the_shipped_codec(tmp_path: Path, channels: int) -> None:
    from PIL import Image

    color = "grayscale" if channels == 1 else "rgb"
    if not available_qualities(color):
        pytest.skip(f"no shipped {color} codec in aekit/pretrained (run 'make pretrained')")
    image = gradient_image(40, 50, channels)
    path = tmp_path / "p.png"
    Image.fromarray(image[..., 0] if channels == 1 else image).save(path)
    summary = compress(path, tmp_path / "p.aez", quality=min(available_qualities(color)))
    assert summary.codec == f"pretrained:{color}-q{min(available_qualities(color))}"
    decompress(tmp_path / "p.aez", tmp_path / "back.png")
    assert np.asarray(Image.open(tmp_path / "back.png")).shape == image.shape[:2] + ((channels,) if channels > 1
                                                                                      else ())
    assert summary.psnr > 20


def test_unshipped_quality_is_rejected(tmp_path: Path, png: Path) -> None:
    with pytest.raises(AekitError, match=r"(The 'quality' parameter must be one of the shipped levels .* for rgb "
                                         r"images. Got 99 instead.)|(No pretrained rgb codec is installed)"):
        compress(png, tmp_path / "p.aez", quality=99)


def test_training_can_start_from_another_codec(tmp_path: Path, array_codec: Codec, digits: np.ndarray) -> None:
    # a vanishing learning rate keeps the starting weights: the new codec is the old one at another rate_weight
    scaled = array_codec.scaler.transform(digits).astype(np.float32)
    tuned = train_codec(scaled, tmp_path / "tuned", kind="array", quality=1, latent_dim=16, epochs=1, lr=1e-12,
                        scaler=array_codec.scaler, init=array_codec.source)
    assert tuned.spec.rate_weight != array_codec.spec.rate_weight
    np.testing.assert_allclose(tuned.synthesize(tuned.analyze(scaled[:50])),
                               array_codec.synthesize(array_codec.analyze(scaled[:50])), atol=1e-5)


# ----------------------------------------------------------------------------------------- errors
def test_wrong_model_is_rejected(tmp_path: Path, array_codec: Codec, digits: np.ndarray) -> None:
    source = _npy(tmp_path / "digits.npy", digits)
    compress(source, tmp_path / "d.aez", codec=array_codec)
    scaled = array_codec.scaler.transform(digits).astype(np.float32)
    other = train_codec(scaled, tmp_path / "other", kind="array", latent_dim=16, epochs=1, seed=1,
                        scaler=array_codec.scaler)
    with pytest.raises(ModelFileError, match=r"was compressed with codec sha256 [0-9a-f]{12}\.\.\.; .*other has sha256 "
                                             r"[0-9a-f]{12}\.\.\. \. Pass the codec the file was compressed with."):
        decompress(tmp_path / "d.aez", tmp_path / "back.npy", codec=other)


def test_a_moved_codec_must_be_passed(tmp_path: Path, array_codec: Codec, digits: np.ndarray) -> None:
    moved = tmp_path / "codec"
    shutil.copytree(array_codec.source, moved)
    source = _npy(tmp_path / "digits.npy", digits)
    compress(source, tmp_path / "d.aez", codec=moved)
    moved.rename(tmp_path / "elsewhere")
    with pytest.raises(ModelFileError, match="was compressed with the codec at .*codec', which is not there. Pass that "
                                             "codec directory with --codec."):
        decompress(tmp_path / "d.aez", tmp_path / "back.npy")
    decompress(tmp_path / "d.aez", tmp_path / "back.npy", codec=tmp_path / "elsewhere")


def test_corrupted_file_fails_before_decoding(tmp_path: Path, array_codec: Codec, digits: np.ndarray) -> None:
    source = _npy(tmp_path / "digits.npy", digits)
    compress(source, tmp_path / "d.aez", codec=array_codec)
    data = bytearray((tmp_path / "d.aez").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "d.aez").write_bytes(bytes(data))
    with pytest.raises(DataError, match="is corrupted"):
        decompress(tmp_path / "d.aez", tmp_path / "back.npy")
    assert not (tmp_path / "back.npy").exists()


def test_arrays_need_a_codec_or_a_bound(tmp_path: Path, digits: np.ndarray) -> None:
    with pytest.raises(AekitError, match="Compressing the array .* needs a codec or an error bound. Pass --codec DIR"):
        compress(_npy(tmp_path / "x.npy", digits), tmp_path / "x.aez")


def test_unknown_file_type_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown file type '.doc'. Pass a .npy array"):
        compress(tmp_path / "notes.doc", tmp_path / "x.aez")


def test_missing_input_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="No such file: .*absent.npy'. Check the path."):
        compress(tmp_path / "absent.npy", tmp_path / "x.aez", max_abs_error=1.0)


def test_nan_values_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="contains NaN or infinite values, which the codec cannot encode"):
        compress(_npy(tmp_path / "x.npy", np.array([[1.0, np.nan]])), tmp_path / "x.aez", max_abs_error=1.0)


def test_non_numeric_arrays_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has dtype <U1 and shape \\(2,\\); aekit compresses numeric arrays"):
        compress(_npy(tmp_path / "x.npy", np.array(["a", "b"])), tmp_path / "x.aez", max_abs_error=1.0)


def test_bad_error_bound_is_rejected(tmp_path: Path, digits: np.ndarray) -> None:
    with pytest.raises(AekitError, match=r"The 'max_abs_error' parameter of compress must be a float in \(0, inf\]. "
                                         "Got -1.0 instead."):
        compress(_npy(tmp_path / "x.npy", digits), tmp_path / "x.aez", max_abs_error=-1.0)


def test_feature_count_must_match_the_codec(tmp_path: Path, array_codec: Codec) -> None:
    with pytest.raises(DataError, match=r"expects 64 values per row; .*x.npy' has 10 \(row shape \(10,\)\)"):
        compress(_npy(tmp_path / "x.npy", np.zeros((5, 10))), tmp_path / "x.aez", codec=array_codec)


def test_image_codec_on_an_array_is_rejected(tmp_path: Path, image_codec: Codec) -> None:
    with pytest.raises(DataError, match="compresses images, but .*x.npy' holds an array"):
        compress(_npy(tmp_path / "x.npy", np.zeros((5, 10))), tmp_path / "x.aez", codec=image_codec)


def test_array_codec_on_an_image_is_rejected(tmp_path: Path, array_codec: Codec, png: Path) -> None:
    with pytest.raises(DataError, match="compresses arrays, but .*picture.png' is an image"):
        compress(png, tmp_path / "x.aez", codec=array_codec)


def test_channel_count_must_match_the_image_codec(tmp_path: Path, image_codec: Codec) -> None:
    from PIL import Image

    path = tmp_path / "gray.png"
    Image.fromarray(gradient_image(channels=1)[..., 0]).save(path)
    with pytest.raises(DataError, match="expects 3-channel images; .*gray.png' has 1"):
        compress(path, tmp_path / "x.aez", codec=image_codec)


def test_output_type_must_match_the_data(tmp_path: Path, digits: np.ndarray) -> None:
    compress(_npy(tmp_path / "x.npy", digits), tmp_path / "x.aez", max_abs_error=1.0)
    with pytest.raises(DataError, match="holds an array; write it to a .npy file, not 'x.png'"):
        decompress(tmp_path / "x.aez", tmp_path / "x.png")


def test_a_plain_model_is_not_a_codec(tmp_path: Path, digits: np.ndarray) -> None:
    from aekit import Autoencoder, AutoencoderConfig
    from aekit.io import save_model

    save_model(tmp_path / "plain", Autoencoder(AutoencoderConfig((64,), 4)))
    with pytest.raises(ModelFileError, match="is an aekit model but not a codec .* Train one with 'aekit train-codec'"):
        compress(_npy(tmp_path / "x.npy", digits), tmp_path / "x.aez", codec=tmp_path / "plain")


@pytest.mark.parametrize(("pixels", "message"), [
    (np.full((8, 8), 40000, np.uint16), r"has more than 8 bits a pixel \(mode I;16"),
    (np.zeros((8, 8, 4), np.uint8), r"has transparent pixels \(mode RGBA\), which the image codecs do not store"),
])
def test_images_the_codecs_would_change_are_refused(tmp_path: Path, pixels: np.ndarray, message: str) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(tmp_path / "deep.png")
    with pytest.raises(DataError, match=message):
        compress(tmp_path / "deep.png", tmp_path / "deep.aez")
    assert not (tmp_path / "deep.aez").exists()


def test_unreadable_image_is_reported(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="Cannot read the image .*broken.png' .* Pass a valid PNG or JPEG file."):
        compress(tmp_path / "broken.png", tmp_path / "x.aez")


def test_a_zero_error_bound_says_how_to_get_lossless(tmp_path: Path, digits: np.ndarray) -> None:
    source = _npy(tmp_path / "digits.npy", digits)
    with pytest.raises(AekitError, match="max_abs_error=0.49 restores every value exactly"):
        compress(source, tmp_path / "d.aez", max_abs_error=0)
    counts = _npy(tmp_path / "counts.npy", digits.astype(np.int64))
    compress(counts, tmp_path / "c.aez", max_abs_error=0.49)  # as advised: whole numbers come back exactly
    decompress(tmp_path / "c.aez", tmp_path / "back.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "back.npy"), digits.astype(np.int64))


def test_options_that_would_do_nothing_are_refused(tmp_path: Path, digits: np.ndarray) -> None:
    source = _npy(tmp_path / "digits.npy", digits)
    with pytest.raises(AekitError, match=r"quality=2 picks a shipped image codec; .*digits.npy' is an array"):
        compress(source, tmp_path / "d.aez", max_abs_error=0.5, quality=2)
    png = tmp_path / "g.png"
    Image.fromarray(gradient_image()).save(png)
    with pytest.raises(AekitError, match="chunk_rows splits arrays and tables; .*g.png' is an image"):
        compress(png, tmp_path / "g.aez", chunk_rows=4)


def test_whole_number_columns_come_back_as_whole_numbers(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("count,ratio\n1,0.5\n2,0.25\n-3,1.5\n")
    compress(tmp_path / "t.csv", tmp_path / "t.aez", max_abs_error=0.01)
    decompress(tmp_path / "t.aez", tmp_path / "back.csv")
    assert (tmp_path / "back.csv").read_text() == "count,ratio\n1,0.5\n2,0.25\n-3,1.5\n"
    compress(tmp_path / "t.csv", tmp_path / "t.aez", max_abs_error=0.49)  # compress's advice for whole numbers
    decompress(tmp_path / "t.aez", tmp_path / "back.csv")
    assert pd.read_csv(tmp_path / "back.csv")["count"].tolist() == [1, 2, -3]


def _mixed_table(n: int = 400) -> pd.DataFrame:
    """Whole numbers of two widths, real numbers and bools."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({"count": rng.poisson(30, n) - 10, "small": rng.integers(0, 4, n).astype(np.int8),
                         "ratio": rng.normal(size=n), "flag": rng.random(n) > 0.3})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("bound", [0.4, 0.5, 0.99, 1.0, 2.0, 1e-9])
def test_table_columns_keep_their_dtype_at_every_bound(tmp_path: Path, suffix: str, bound: float) -> None:
    # QA: at a bound of 0.5 or more, whole-number columns came back as floats (1.0, 2.0), because they were
    # quantized on the float grid 2E; 1e-9 stores the chunk raw
    frame = _mixed_table()
    source = tmp_path / f"t{suffix}"
    frame.to_parquet(source, index=False) if suffix == ".parquet" else frame.to_csv(source, index=False)
    summary = compress(source, tmp_path / "t.aez", max_abs_error=bound)
    decompress(tmp_path / "t.aez", tmp_path / f"back{suffix}")
    read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
    original, back = read(source), read(tmp_path / f"back{suffix}")
    assert back.dtypes.to_dict() == original.dtypes.to_dict()
    errors = (back.astype(np.float64) - original.astype(np.float64)).abs().max()
    assert (errors <= bound).all() and summary.max_abs_error == pytest.approx(errors.max())
    if bound < 1:  # the odd-integer step is 1: whole numbers come back exactly
        assert back[["count", "small"]].equals(original[["count", "small"]])
    # bools always: at a bound of 1 or more, all False would be within it (QA: it came back so)
    assert back["flag"].equals(original["flag"])
    if suffix == ".csv":
        rows = (tmp_path / "back.csv").read_text().splitlines()[1:]
        assert not any("." in row.split(",")[0] or "." in row.split(",")[1] for row in rows)
        assert {row.split(",")[3] for row in rows} <= {"True", "False"}


_COLUMN_DTYPES = st.sampled_from([np.int64, np.int16, np.uint8, np.float32, np.float64, np.bool_])


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtypes=st.lists(_COLUMN_DTYPES, min_size=1, max_size=4), rows=st.integers(1, 60),
       bound=st.one_of(st.floats(1e-4, 20.0), st.sampled_from([0.5, 1.0, 2.0])))
def test_table_error_bound_and_dtypes_hold_for_every_column(data: st.DataObject, dtypes: list[type], rows: int,
                                                            bound: float) -> None:
    columns = {}
    for j, dtype in enumerate(dtypes):
        if np.dtype(dtype).kind == "b":
            elements = st.booleans()
        elif np.dtype(dtype).kind == "f":
            elements = st.floats(-1e4, 1e4, allow_nan=False, width=np.dtype(dtype).itemsize * 8)
        else:
            info = np.iinfo(dtype)
            elements = st.integers(max(int(info.min), -10 ** 6), min(int(info.max), 10 ** 6))
        columns[f"c{j}"] = data.draw(arrays(dtype, rows, elements=elements))
    frame = pd.DataFrame(columns)
    with tempfile.TemporaryDirectory() as folder:
        frame.to_parquet(Path(folder) / "t.parquet", index=False)
        compress(Path(folder) / "t.parquet", Path(folder) / "t.aez", max_abs_error=bound)
        decompress(Path(folder) / "t.aez", Path(folder) / "back.parquet")
        back = pd.read_parquet(Path(folder) / "back.parquet")
    assert back.dtypes.to_dict() == frame.dtypes.to_dict()
    assert (np.abs(back.to_numpy(np.float64) - frame.to_numpy(np.float64)) <= bound).all()


def test_whole_number_columns_on_top_of_a_codec(tmp_path: Path, array_codec: Codec, digits: np.ndarray) -> None:
    frame = pd.DataFrame(digits[:300].astype(np.int64), columns=[f"p{i}" for i in range(64)])
    frame.to_csv(tmp_path / "t.csv", index=False)
    for bound in (None, 0.4, 1.0, 3.0):  # None: the codec's reconstruction alone, rounded
        compress(tmp_path / "t.csv", tmp_path / "t.aez", codec=array_codec, max_abs_error=bound)
        decompress(tmp_path / "t.aez", tmp_path / "back.csv")
        back = pd.read_csv(tmp_path / "back.csv")
        assert (back.dtypes == np.int64).all()
        if bound is not None:
            assert np.abs(back.to_numpy() - frame.to_numpy()).max() <= bound


def test_table_dtypes_names_and_single_rows_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame({"i32": np.array([7, -2], np.int32), "u8": np.array([0, 255], np.uint8),
                          "f32": np.array([0.1, 2.5], np.float32), "Int64": pd.array([3, 4], dtype="Int64"),
                          "boolean": pd.array([True, False], dtype="boolean"), "1": [1.5, 2.0], "größe μm": [9, 8]})
    for rows in (frame, frame.iloc[:1]):
        rows.to_parquet(tmp_path / "t.parquet", index=False)
        compress(tmp_path / "t.parquet", tmp_path / "t.aez", max_abs_error=0.5)
        decompress(tmp_path / "t.aez", tmp_path / "back.parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "back.parquet"), rows.reset_index(drop=True),
                                      rtol=0, atol=0.5)


def test_a_text_table_without_a_header_row_comes_back_without_one(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("1,2.5,3\n4,5.5,6\n")
    with pytest.warns(Warning, match="holds only numbers, so it is read as data"):
        compress(tmp_path / "t.csv", tmp_path / "t.aez", max_abs_error=0.01)
    decompress(tmp_path / "t.aez", tmp_path / "back.csv")
    assert (tmp_path / "back.csv").read_text() == "1,2.5,3\n4,5.5,6\n"
    (tmp_path / "named.csv").write_text("x0,x1\n1,2\n")  # names that happen to be the made-up ones are kept
    compress(tmp_path / "named.csv", tmp_path / "n.aez", max_abs_error=0.01)
    decompress(tmp_path / "n.aez", tmp_path / "back.csv")
    assert (tmp_path / "back.csv").read_text() == "x0,x1\n1,2\n"


@pytest.mark.parametrize(("frame", "message"), [
    (pd.DataFrame({"a": [1.0, 2.0], "gaps": pd.array([1, None], dtype="Int64")}),
     r"Column\(s\) 'gaps' of .*t.parquet hold missing \(NaN\) or infinite values, which compress cannot store. "
     r"Fill them"),
    (pd.DataFrame({"a": [1.0, np.inf]}), r"Column\(s\) 'a' of .* hold missing \(NaN\) or infinite values"),
    (pd.DataFrame({"id": np.array([2 ** 60 + 1, 3], np.int64)}),
     r"Column\(s\) 'id' of .*t.parquet hold whole numbers of 2\*\*53 or more, which a table's float64 values "
     r"cannot keep exactly. Save those columns as an integer .npy array"),
])
def test_table_values_that_cannot_come_back_are_refused(tmp_path: Path, frame: pd.DataFrame, message: str) -> None:
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    with pytest.raises(DataError, match=message):
        compress(tmp_path / "t.parquet", tmp_path / "t.aez", max_abs_error=0.5)
    assert not (tmp_path / "t.aez").exists()


# ------------------------------------------------------------------------------------- format versions
def _version(path: Path) -> int:
    """The format version in an .aez file's preamble (after the 8 magic bytes)."""
    return struct.unpack_from("<H", path.read_bytes(), 8)[0]


def test_files_record_the_oldest_format_that_reads_them(tmp_path: Path, array_codec: Codec,
                                                        digits: np.ndarray) -> None:
    # QA: every file said format 3, so the aekit before (which reads up to 2) refused files without raw chunks
    source = _npy(tmp_path / "digits.npy", digits)
    noise = _npy(tmp_path / "noise.npy", np.random.default_rng(0).standard_normal((50, 64)))
    _mixed_table().to_csv(tmp_path / "t.csv", index=False)
    cases = [(source, {"max_abs_error": 0.5}, 1),  # no codec: no code ranges, as format 1 wrote them
             (source, {"codec": array_codec}, 2),  # code ranges with a width byte
             (source, {"codec": array_codec, "max_abs_error": 0.5}, 2),
             (noise, {"max_abs_error": 1e-9}, 3),  # a chunk of raw values
             (tmp_path / "t.csv", {"max_abs_error": 0.4}, 1),  # whole-number columns on the float grid, rounded
             (tmp_path / "t.csv", {"max_abs_error": 0.5}, 4)]  # on the integer grid
    for i, (path, options, version) in enumerate(cases):
        packed = tmp_path / f"{i}.aez"
        compress(path, packed, **options)
        assert _version(packed) == AezReader(packed).version == version, (path.name, options)
        decompress(packed, tmp_path / f"{i}{'.csv' if path.suffix == '.csv' else '.npy'}")
    np.testing.assert_array_equal(np.load(tmp_path / "3.npy"), np.load(noise))


def test_an_older_aekit_reads_the_files_its_format_covers(tmp_path: Path, array_codec: Codec, digits: np.ndarray,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from aekit.compression import aez

    source = _npy(tmp_path / "digits.npy", digits)
    compress(source, tmp_path / "coded.aez", codec=array_codec, max_abs_error=0.5)
    compress(_npy(tmp_path / "noise.npy", np.random.default_rng(0).standard_normal((50, 64))), tmp_path / "raw.aez",
             max_abs_error=1e-9)
    monkeypatch.setattr(aez, "FORMAT_VERSION", 2)  # the reader of the aekit before the raw-chunk fallback
    decompress(tmp_path / "coded.aez", tmp_path / "coded.npy")
    assert np.abs(np.load(tmp_path / "coded.npy") - digits).max() <= 0.5
    with pytest.raises(DataError, match="raw.aez' uses .aez format version 3; this aekit reads up to version 2. "
                                        "Upgrade aekit."):
        decompress(tmp_path / "raw.aez", tmp_path / "raw.npy")


def test_tables_from_before_column_dtypes_decode_as_they_did(tmp_path: Path) -> None:
    _mixed_table().to_csv(tmp_path / "t.csv", index=False)
    compress(tmp_path / "t.csv", tmp_path / "t.aez", max_abs_error=0.4)
    reader = AezReader(tmp_path / "t.aez")
    header = {k: v for k, v in reader.header.items() if k != "column_dtypes"}  # as aekit before wrote it
    with AezWriter(tmp_path / "old.aez", header) as writer:
        for chunk in reader.chunks():
            writer.write_chunk(chunk)
    decompress(tmp_path / "old.aez", tmp_path / "back.csv")
    back = pd.read_csv(tmp_path / "back.csv")
    assert back.dtypes.astype(str).to_dict() == {"count": "int64", "small": "int64", "ratio": "float64",
                                                 "flag": "float64"}


@pytest.mark.parametrize("bound", [0.5, 1.0, 3.0])
def test_a_bool_array_comes_back_exactly_at_any_bound(tmp_path: Path, bound: float) -> None:
    # a bound of 1 or more admits any bool: the array had come back all False
    flags = np.random.default_rng(0).random((300, 7)) > 0.6
    np.save(tmp_path / "flags.npy", flags)
    summary = compress(tmp_path / "flags.npy", tmp_path / "flags.aez", max_abs_error=bound)
    decompress(tmp_path / "flags.aez", tmp_path / "back.npy")
    back = np.load(tmp_path / "back.npy")
    assert back.dtype == np.bool_ and np.array_equal(back, flags)
    reader = AezReader(tmp_path / "flags.aez")
    assert reader.header["max_abs_error"] == summary.error_bound == 0.5 and reader.version == 1  # older aekit reads it
