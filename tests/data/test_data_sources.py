"""Every source type of aekit.data.load_dataset, and each of its error messages."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from aekit.data import (
    BUILTIN_DATASETS,
    Dataset,
    check_column_names,
    check_features,
    check_numeric_columns,
    load_dataset,
    validate_finite,
)
from aekit.data.sources import read_labels, read_table_file
from aekit.errors import AekitError, DataError


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def frame(rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {"a": rng.normal(size=6), "b": rng.integers(0, 5, size=6), "c": [True, False] * 3,
         "label": ["cat", "dog", "cat", "bird", "dog", "cat"]}
    )


def _write_image(path: Path, size: tuple[int, int], value: int, mode: str = "L") -> None:
    """An image of ``size`` (H, W) whose pixels are all ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, value // 2, 0)
    Image.new(mode, (size[1], size[0]), color).save(path)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    _write_image(root / "cats" / "a.png", (6, 10), 255)
    _write_image(root / "cats" / "b.jpg", (6, 10), 0, mode="RGB")
    _write_image(root / "dogs" / "nested" / "c.png", (6, 10), 51)
    (root / "dogs" / "notes.txt").write_text("not an image")
    _write_image(root / ".ipynb_checkpoints" / "a.png", (6, 10), 0)  # hidden: skipped
    return root


# ------------------------------------------------------------------------------------------ arrays and files


def test_numpy_array_in_memory(rng: np.random.Generator) -> None:
    X = rng.normal(size=(10, 3))
    ds = load_dataset(X)
    assert ds.kind == "tabular" and ds.sample_shape == (3,) and ds.n_features == 3 and ds.y is None
    np.testing.assert_array_equal(ds.X, X)


@pytest.mark.parametrize(("shape", "kind"), [((7,), "tabular"), ((7, 3), "tabular"), ((7, 5, 2), "sequence"),
                                             ((7, 1, 4, 4), "image")])
def test_npy_is_memory_mapped(tmp_path: Path, rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> None:
    X = rng.normal(size=shape).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    ds = load_dataset(tmp_path / "x.npy")
    assert isinstance(ds.X, np.memmap) and not ds.X.flags.writeable
    assert ds.kind == kind and ds.n_samples == 7
    np.testing.assert_array_equal(np.asarray(ds.X).reshape(shape), X)


@pytest.mark.parametrize("key", ["X", "x", "data", "anything"])
def test_npz_sample_key_and_labels(tmp_path: Path, rng: np.random.Generator, key: str) -> None:
    X, y = rng.normal(size=(5, 4)), np.arange(5)
    np.savez(tmp_path / "d.npz", **{key: X, "y": y})
    ds = load_dataset(str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, y)


def test_npz_with_ambiguous_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", first=np.zeros((2, 2)), second=np.ones((2, 2)))
    with pytest.raises(DataError, match="first, second.*under the key 'X'"):
        load_dataset(tmp_path / "d.npz")


@pytest.mark.parametrize(("suffix", "sep"), [(".csv", ","), (".tsv", "\t"), (".txt", " ")])
def test_delimited_tables(tmp_path: Path, frame: pd.DataFrame, suffix: str, sep: str) -> None:
    frame.to_csv(tmp_path / f"t{suffix}", sep=sep, index=False)
    ds = load_dataset(tmp_path / f"t{suffix}", label_column="label")
    assert ds.kind == "tabular" and ds.feature_names == ["a", "b", "c"] and ds.X.dtype == np.float32
    assert ds.class_names == ["bird", "cat", "dog"]
    np.testing.assert_array_equal(ds.y, [1, 2, 1, 0, 2, 1])
    np.testing.assert_allclose(ds.X, frame[["a", "b", "c"]].to_numpy(dtype=np.float32), rtol=1e-6)
    assert ds.source == f"file {tmp_path / f't{suffix}'}"


@pytest.mark.parametrize(("suffix", "delimiter"), [(".csv", ","), (".txt", " ")])
def test_a_table_without_header_keeps_its_first_row(tmp_path: Path, suffix: str, delimiter: str) -> None:
    values = np.arange(12.0).reshape(4, 3)
    np.savetxt(tmp_path / f"t{suffix}", values, delimiter=delimiter)  # no header: every row is a sample
    with pytest.warns(UserWarning, match=r"first row of file .*t\.... holds only numbers, so it is read as data"):
        ds = load_dataset(tmp_path / f"t{suffix}")
    assert ds.feature_names == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(ds.X, values)


@pytest.mark.parametrize(("text", "rows"), [
    ("0,1\n1,1\n0,0\n1,0\n", 4),  # a binary table: its first row is not pandas' names
    ("0\n5\n7\n", 3),
    ("0 1 2\n3 4 5\n", 2),  # whitespace: pandas' to_csv writes commas
])
def test_a_first_row_like_pandas_names_in_a_small_or_spaced_table_is_data(tmp_path: Path, text: str,
                                                                          rows: int) -> None:
    path = tmp_path / ("t.txt" if " " in text else "t.csv")
    path.write_text(text)
    with pytest.warns(UserWarning, match="holds only numbers, so it is read as data"):
        assert load_dataset(path).X.shape[0] == rows


def test_an_empty_cell_in_a_first_row_of_numbers_is_a_missing_value(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("1,,3\n4,5,6\n7,8,9\n")
    with pytest.raises(DataError, match=r"1 NaN/Inf value\(s\), first in row 0"):
        load_dataset(tmp_path / "t.csv")


@pytest.mark.parametrize(("name", "sep", "columns", "index"), [
    ("b.tsv", "\t", None, False), ("a.tsv", "\t", None, True), ("d.txt", " ", None, True),
    ("c.csv", ",", [400, 410, 420], True),  # numeric names (wavelengths) after the index
])
def test_tables_pandas_writes_read_back(tmp_path: Path, name: str, sep: str, columns, index: bool) -> None:
    frame = pd.DataFrame(np.arange(15.0).reshape(5, 3), columns=columns)
    frame.to_csv(tmp_path / name, sep=sep, index=index)
    dataset = load_dataset(tmp_path / name)
    assert dataset.feature_names == [str(c) for c in frame.columns]
    np.testing.assert_array_equal(dataset.X, frame.to_numpy())


@pytest.mark.parametrize(("write", "expected"), [
    (lambda p: np.savetxt(p, np.arange(5.0)), np.arange(5.0)[:, None]),
    (lambda p: np.savetxt(p, np.arange(12).reshape(4, 3), fmt="%5d"), np.arange(12.0).reshape(4, 3)),
    (lambda p: np.savetxt(p, np.arange(6.0).reshape(2, 3), header="a b c"), np.arange(6.0).reshape(2, 3)),
    (lambda p: p.write_text("1.5\n2.5\n"), np.array([[1.5], [2.5]])),
    (lambda p: np.savetxt(p, [[1.5, 22.25], [333.0, 4.0]], fmt="%10.3f"), np.array([[1.5, 22.25], [333.0, 4.0]])),
])
def test_np_savetxt_files_read_as_np_loadtxt_does(tmp_path: Path, write, expected: np.ndarray) -> None:
    write(tmp_path / "t.txt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "read as data": no header
        np.testing.assert_array_equal(load_dataset(tmp_path / "t.txt").X, expected)


def test_pandas_default_column_names_stay_a_header(tmp_path: Path) -> None:
    pd.DataFrame(np.arange(6.0).reshape(2, 3)).to_csv(tmp_path / "t.csv", index=False)  # header "0,1,2"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset(tmp_path / "t.csv")
    assert ds.feature_names == ["0", "1", "2"] and ds.X.shape == (2, 3)


def test_an_unnamed_first_column_is_the_row_index(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]}, index=[10, 11, 12])
    frame.to_csv(tmp_path / "t.csv")  # pandas' default: the index first, under an empty name
    ds = load_dataset(tmp_path / "t.csv")
    assert ds.feature_names == ["a", "b"]  # the row number is not a feature
    np.testing.assert_array_equal(ds.X, frame.to_numpy())
    pd.testing.assert_frame_equal(read_table_file(tmp_path / "t.csv"), frame)  # kept as the row ids


def test_a_csv_with_semicolons_is_sniffed(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a;b;c\n1;2;3\n4;5;6\n")  # Excel's CSV in many locales
    ds = load_dataset(tmp_path / "t.csv")
    assert ds.feature_names == ["a", "b", "c"]
    np.testing.assert_array_equal(ds.X, [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("text", ["To be, or not to be, that is\nthe question\n", "a b c\nd e\nf g h i j k\n"])
def test_prose_in_a_txt_file_points_at_text_models(tmp_path: Path, text: str) -> None:
    (tmp_path / "lines.txt").write_text(text)
    with pytest.raises(DataError, match=re.escape(f"If it is text (a sample per line), train a text model on it: "
                                                  f"aekit train {tmp_path / 'lines.txt'} --model recurrent.")):
        load_dataset(tmp_path / "lines.txt")


def test_prose_with_a_repeated_word_points_at_text_models(tmp_path: Path) -> None:
    (tmp_path / "lines.txt").write_text("to be or not to be\nthat is the question\n")  # 'to' and 'be' name columns
    with pytest.raises(DataError, match=re.escape(
            f"file {tmp_path / 'lines.txt'} has more than one column named 'be', 'to'. Give every column its own "
            f"name. If it is text (a sample per line), train a text model on it: aekit train "
            f"{tmp_path / 'lines.txt'} --model recurrent.")):
        load_dataset(tmp_path / "lines.txt")
    (tmp_path / "t.csv").write_text("a,b,a\n1,2,3\n")  # not a .txt: no text hint
    with pytest.raises(DataError, match=r"named 'a'\. Give every column its own name\.$"):
        load_dataset(tmp_path / "t.csv")


def test_repeated_column_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b,a\n1,2,3\n")  # pandas would read the second a as 'a.1'
    with pytest.raises(DataError, match=r"t.csv has more than one column named 'a'. Give every column its own"):
        load_dataset(tmp_path / "t.csv")


def test_a_model_fitted_on_an_id_column_says_how_to_read_it_again() -> None:
    with pytest.raises(DataError, match=r"lacks 'id'.* A column named 'id' is read as the rows' ids, not as a "
                                        "feature: rename it in the file"):
        check_column_names(["a"], ["id", "a"], "file t.csv")


def test_decimal_commas_are_numbers(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a;b;c;id\n1,5;-2;3,25e1;7\n,5;4;1.234,5;8\n")  # Excel's CSV in many locales
    frame = read_table_file(tmp_path / "t.csv")
    np.testing.assert_array_equal(frame[["a", "b"]].to_numpy(), [[1.5, -2], [0.5, 4]])
    assert not pd.api.types.is_numeric_dtype(frame["c"])  # 1.234,5: thousands separators are not guessed
    assert frame.index.tolist() == [7, 8]  # the id column names the rows
    (tmp_path / "comma.csv").write_text('a,b\n"1,5",2\n')  # comma-separated: a quoted comma is not a decimal
    assert not pd.api.types.is_numeric_dtype(read_table_file(tmp_path / "comma.csv")["a"])
    (tmp_path / "t.txt").write_text('a\tb\n"1,5"\t2\n')  # nor in a tab-separated one
    assert not pd.api.types.is_numeric_dtype(read_table_file(tmp_path / "t.txt")["a"])
    (tmp_path / "k.csv").write_text("a;b\n1,234;1\n2,500;2\n999;3\n")  # a thousand, or one and a bit? not guessed
    assert not pd.api.types.is_numeric_dtype(read_table_file(tmp_path / "k.csv")["a"])
    with pytest.raises(DataError, match=r"Column\(s\) 'a' of .*k.csv hold numbers whose every comma has three digits "
                                        r"after it .* aekit does not guess\. Write them with a decimal point"):
        load_dataset(tmp_path / "k.csv")


def test_check_numeric_columns_takes_numbers_as_text() -> None:
    frame = pd.DataFrame({"text_numbers": ["1", "2.5", None], "codes": pd.Categorical([1, 2, 1]), "flag": True,
                          "city": ["x", "1", "2"], "when": pd.Timestamp("2024-01-01")})
    with pytest.raises(DataError, match=r"^Column\(s\) 'city', 'when' of X are not numeric"):
        check_numeric_columns(frame, "X")  # NumPy converts the first three, so they pass
    check_numeric_columns(frame[["text_numbers", "codes", "flag"]], "X")


def test_parquet_and_column_selection(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(tmp_path / "t.parquet")
    ds = load_dataset(tmp_path / "t.parquet", columns=["c", "a"])
    assert ds.feature_names == ["c", "a"] and ds.y is None
    np.testing.assert_array_equal(ds.X[:, 1], frame["a"].to_numpy(dtype=np.float32))


def test_dataframe_with_numeric_labels(frame: pd.DataFrame) -> None:
    ds = load_dataset(frame.drop(columns="label"), label_column="b")
    assert ds.feature_names == ["a", "c"] and ds.class_names is None
    np.testing.assert_array_equal(ds.y, frame["b"])


def test_image_folder_with_classes(image_folder: Path) -> None:
    ds = load_dataset(image_folder)
    assert ds.kind == "image" and ds.X.shape == (3, 1, 6, 10) and ds.X.dtype == np.float32
    assert ds.class_names == ["cats", "dogs"]
    np.testing.assert_array_equal(ds.y, [0, 0, 1])
    np.testing.assert_allclose(ds.X[[0, 2], 0, 0, 0], [1.0, 0.2], atol=1e-6)  # PNG: lossless
    assert 0 <= ds.X.min() and ds.X.max() <= 1


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    Image.fromarray(np.array([[0, 257 * 100, 65535]], np.uint16)).save(tmp_path / "deep" / "a.png")
    dataset = load_dataset(tmp_path / "deep")
    assert np.allclose(dataset.X.ravel() * 255, [0, 100, 255])  # Pillow's convert('L') clips at 255


def test_floating_point_images_are_refused_not_truncated(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "d").mkdir()
    Image.fromarray(np.full((6, 5), 0.5, dtype=np.float32)).save(tmp_path / "d" / "a.tif")  # read as 0 before
    with pytest.raises(DataError, match=r"a.tif' stores floating-point pixels \(Pillow mode F\)"):
        load_dataset(tmp_path / "d")


def test_image_folder_resized_rgb(image_folder: Path) -> None:
    ds = load_dataset(image_folder, image_size=(3, 5), color_mode="rgb")
    assert ds.X.shape == (3, 3, 3, 5)
    np.testing.assert_allclose(ds.X[0, :, 1, 2], [1.0, 1.0, 1.0], atol=1e-6)
    assert load_dataset(image_folder, image_size=4).X.shape == (3, 1, 4, 4)


def test_flat_image_folder_has_no_labels(tmp_path: Path) -> None:
    for i in range(2):
        _write_image(tmp_path / f"{i}.bmp", (4, 4), 10 * i)
    ds = load_dataset(tmp_path)
    assert ds.X.shape == (2, 1, 4, 4) and ds.y is None and ds.class_names is None


def test_builtin_digits() -> None:
    ds = load_dataset("digits")
    assert ds.kind == "image" and ds.X.shape == (1797, 1, 8, 8) and ds.X.dtype == np.float32
    assert ds.X.min() == 0 and ds.X.max() == 16
    assert ds.class_names == [str(i) for i in range(10)] and ds.y.shape == (1797,)


@pytest.mark.parametrize(("name", "n_features"), [("iris", 4), ("breast_cancer", 30)])
def test_builtin_tables(name: str, n_features: int) -> None:
    ds = load_dataset(name)
    assert ds.kind == "tabular" and ds.sample_shape == (n_features,) and len(ds.feature_names) == n_features
    assert {"digits", "iris", "breast_cancer"} <= set(BUILTIN_DATASETS)


def test_existing_path_wins_over_builtin_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write_image(tmp_path / "digits" / "a.png", (2, 2), 0)
    assert load_dataset("digits").X.shape == (1, 1, 2, 2)


# ------------------------------------------------------------------------------------------ batches and chunks


def test_batches_and_chunks_on_memmap(tmp_path: Path, rng: np.random.Generator) -> None:
    X = rng.integers(0, 100, size=(23, 2, 3)).astype(np.int16)
    np.save(tmp_path / "x.npy", X)
    ds = load_dataset(tmp_path / "x.npy")
    indices = np.array([20, 3, 3, 0, 17])
    batch = ds.batches(indices)
    assert batch.dtype == np.float32 and type(batch) is np.ndarray
    np.testing.assert_array_equal(batch, X[indices])
    chunks = list(ds.iter_chunks(chunk_size=5))
    assert [start for start, _ in chunks] == [0, 5, 10, 15, 20]
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), X)
    picked = np.concatenate([c for _, c in ds.iter_chunks(2, indices=indices, dtype=None)])
    assert picked.dtype == np.int16
    np.testing.assert_array_equal(picked, X[indices])


def test_check_features_reshapes_a_view(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((4, 64), dtype=np.float32))
    ds = load_dataset(tmp_path / "x.npy")
    X = check_features(ds, (1, 8, 8), ds.source)
    assert X.shape == (4, 1, 8, 8) and isinstance(X, np.memmap)
    assert check_features(np.zeros((2, 1, 8, 8)), (64,), "array").shape == (2, 64)


# ------------------------------------------------------------------------------------------ error messages


def test_missing_file() -> None:
    with pytest.raises(DataError, match=re.escape(
        "No such file or directory: 'x.csv'. Check the path, or use a built-in dataset: breast_cancer, digits, iris."
    )):
        load_dataset("x.csv")


def test_unknown_builtin_suggests_the_closest() -> None:
    with pytest.raises(DataError, match="No such file or directory: 'digts'.*Did you mean 'digits'\\?"):
        load_dataset("digts")


@pytest.mark.parametrize("name", ["empty.csv", "empty.npy", "empty.parquet"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).touch()
    with pytest.raises(DataError, match=r"file .*empty\.\w+ is empty \(0 samples\)"):
        load_dataset(tmp_path / name)


def test_table_without_rows(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n")
    with pytest.raises(DataError, match=r"t\.csv is empty \(0 samples\)\. Pass data with at least one sample\."):
        load_dataset(tmp_path / "t.csv")


def test_non_numeric_columns_are_named(tmp_path: Path) -> None:
    pd.DataFrame({"name": ["x", "y"], "age": [1, 2], "city": ["p", "q"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=re.escape("Column(s) 'name', 'city' of file ") + r".*t\.csv" + re.escape(
        " are not numeric. Drop them or encode them as numbers (categories: pandas.get_dummies)."  # any command
    )):
        load_dataset(tmp_path / "t.csv")


def test_unknown_column(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="Column 'lable' is not in the table.*Did you mean 'label'\\?"):
        load_dataset(frame, label_column="lable")


def test_table_options_on_an_array() -> None:
    with pytest.raises(DataError, match="apply only to tables"):
        load_dataset(np.zeros((2, 2)), label_column="y")


def test_nan_reports_count_and_first_row(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0)})
    frame.loc[17, "a"] = np.nan
    frame.loc[18, :] = [np.inf, -np.inf]
    frame.to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(DataError, match=re.escape(
        f"The data has 3 NaN/Inf value(s), first in row 17 (counting from 0; file {tmp_path / 'x.csv'}). "
        "Remove or impute them first."
    )):
        load_dataset(tmp_path / "x.csv")


def test_inf_in_memmap_is_found_across_chunks(tmp_path: Path) -> None:
    X = np.zeros((50, 3))
    X[33, 1] = np.inf
    np.save(tmp_path / "x.npy", X)
    ds = Dataset(np.load(tmp_path / "x.npy", mmap_mode="r"), source="file x.npy")
    with pytest.raises(DataError, match=r"1 NaN/Inf value\(s\), first in row 33 \(counting from 0; file x\.npy\)"):
        validate_finite(ds)


@pytest.mark.parametrize("X", [np.array([["a", "b"]]), np.array([[1, None]], dtype=object)])
def test_non_numeric_array(X: np.ndarray) -> None:
    with pytest.raises(DataError, match="which is not numeric"):
        load_dataset(X)


@pytest.mark.parametrize("name", ["x.npy", "x.npz"])
def test_object_arrays_are_never_unpickled(tmp_path: Path, name: str) -> None:
    objects = np.array([[1, "a"]], dtype=object)
    if name.endswith(".npy"):
        np.save(tmp_path / name, objects, allow_pickle=True)
    else:
        np.savez(tmp_path / name, X=objects)
    with pytest.raises(DataError, match=re.escape(
            f"file {tmp_path / name} holds Python objects (an array of dtype object), which aekit never unpickles: "
            "unpickling can run code. Save the data as numbers, e.g. X.astype(np.float32).")):
        load_dataset(tmp_path / name)


@pytest.mark.parametrize(("name", "how"), [("x.npy", "numpy.save"), ("x.npz", "numpy.savez")])
def test_a_file_that_is_not_numpys_is_not_offered_to_unpickle(tmp_path: Path, name: str, how: str) -> None:
    (tmp_path / name).write_text("hello\n")  # NumPy tries such a file as a pickle, and says to load it "unsafely"
    message = (f"file {tmp_path / name} is not a NumPy {name[1:]} file (it lacks the header that {how} writes). Save "
               f"the array with {how}, or give the file the suffix of its format (.csv, .txt).")
    with pytest.raises(DataError) as caught:
        load_dataset(tmp_path / name)
    assert str(caught.value) == message
    if name.endswith(".npy"):  # labels files too
        with pytest.raises(DataError, match=re.escape(message)):
            read_labels(tmp_path / name, 1)


def test_unknown_extension(tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(DataError, match=re.escape(
        "Unsupported file type '.xlsx' for '" + str(tmp_path / "data.xlsx") + "'. Use one of .csv, .npy, .npz, "
        ".parquet, .pq, .tsv, .txt or a directory of images."
    )):
        load_dataset(str(tmp_path / "data.xlsx"))


def test_read_table_file_reads_what_load_dataset_reads(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(tmp_path / "t.txt", sep=" ", index=False)  # the delimiter is sniffed, as in load_dataset
    pd.testing.assert_frame_equal(read_table_file(tmp_path / "t.txt"), frame)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("t.npy", b"x", "Unsupported file type '.npy' for '.*t.npy'. Use one of .csv, .parquet, .pq, .tsv, .txt."),
    ("t.csv", b"", "The data from file .*t.csv is empty"),
    ("t.parquet", b"PAR1", "Cannot read file .*t.parquet .*Check that it is a valid .parquet file."),
    ("t.csv", b"a,b\n1,2\n3,4,5\n", r"Cannot read file .*t.csv \(Error tokenizing data. C error: Expected 2 fields "
                                     r"in line 3, saw 3\). Check that it is a valid .csv file.$"),
    ("t.csv", "caf\xe9,b\n1,2\n".encode("latin-1"), r"Cannot read file .*t.csv: it is not UTF-8 text \(.*\). Save "
                                                    r"it as UTF-8 \(Excel: 'CSV UTF-8'\).$"),
])
def test_read_table_file_refuses_in_one_line(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_table_file(tmp_path / name)
    with pytest.raises(DataError, match="No such file: 'absent.csv'. Check the path."):
        read_table_file("absent.csv")


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t.parquet").write_bytes(b"PAR1")

    def no_engine(*args: object, **kwargs: object) -> None:
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    with pytest.raises(DataError, match=re.escape("pip install 'aekit[parquet]'")):
        load_dataset(tmp_path / "t.parquet")


def test_wrong_feature_count() -> None:
    with pytest.raises(DataError, match=re.escape(
        "This model expects 64 features per sample; the data has 63 (file digits_bad.csv). "
        "Use data with the same columns as the training data."
    )):
        check_features(np.zeros((3, 63)), (64,), "file digits_bad.csv")


def test_images_of_different_sizes(image_folder: Path) -> None:
    _write_image(image_folder / "dogs" / "big.png", (7, 10), 0)
    with pytest.raises(DataError, match=r"is 7x10 pixels but .* is 6x10\. Resize them all to one size: "
                                        r"image_size=\(height, width\), or image_size=N for N x N\."):
        load_dataset(image_folder)


def test_unreadable_image_is_named(image_folder: Path) -> None:
    (image_folder / "cats" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"Cannot read image file '.*broken\.png'"):
        load_dataset(image_folder)


def test_folder_without_images(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has no images"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(("options", "message"), [
    ({"color_mode": "RGB"}, "'color_mode' parameter of load_dataset must be one of grayscale, rgb.*'rgb'"),
    ({"image_size": (0, 4)}, r"'image_size' parameter of load_dataset must be an int in \[1, 4096\]"),
    ({"image_size": 100000}, r"must be an int in \[1, 4096\] or a \(height, width\) pair of them. Got 100000"),
    ({"image_size": "8"}, r"'image_size' parameter of load_dataset must be an int in \[1, 4096\]"),
])
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(AekitError, match=message):
        load_dataset("digits", **options)


@pytest.mark.parametrize(("names", "message"), [
    (["b", "a", "c"], "The data (file t.csv) has the model's columns in another order ('b', 'a', 'c'). Pass a table "
                      "with the model's columns in its order: 'a', 'b', 'c'."),
    (["a", "c"], "The data (file t.csv) has 2 columns, the model 3: it lacks 'b'. Pass"),
    (["a", "b", "c", "d"], "The data (file t.csv) has 4 columns, the model 3: it has columns the model never saw "
                           "('d'). Pass"),
    (["a", "B", "c"], "lacks 'b'; has columns the model never saw ('B'). Pass"),
])
def test_column_names_must_be_the_models_in_order(names: list[str], message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        check_column_names(names, ["a", "b", "c"], "file t.csv")


def test_a_table_without_a_header_row_is_told_to_add_the_models_names() -> None:
    # the names a header-less file's columns get (its first row is numbers): the header is what is missing
    with pytest.raises(DataError, match=re.escape(
            "The data (file t.csv) has no header row (its first row holds numbers), and the model reads a table's "
            "columns by name. Add a first row of the model's column names: 'a', 'b', 'c'.")):
        check_column_names(["x0", "x1", "x2"], ["a", "b", "c"], "file t.csv")


def test_column_names_without_names_on_either_side_pass() -> None:
    check_column_names(["a", "b"], ["a", "b"], "file t.csv")
    check_column_names(None, ["a", "b"], "array")  # an array has no names to compare
    check_column_names(["a", "b"], None, "file t.csv")  # a model fitted on an array


def test_images_are_read_upright_as_their_exif_orientation_says(tmp_path: Path) -> None:
    from PIL import Image

    pixels = np.zeros((6, 10, 3), np.uint8)
    pixels[0, :, 0] = 255  # a red top row, stored sideways with orientation 6 (rotate 90 degrees to view)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "phone.png", exif=exif)
    X = load_dataset(tmp_path, color_mode="rgb").X  # (1, 3, H, W)
    assert X.shape == (1, 3, 10, 6)  # as a viewer shows it
    assert X[0, 0, :, -1].min() == 1.0  # the red row is now the right-hand column


# ----------------------------------------------------------------------------------------------- labels
@pytest.mark.parametrize(("name", "text", "expected"), [
    ("plain.txt", "cat\ndog\ncat\n", ["cat", "dog", "cat"]),  # words, no header
    ("header.csv", "label\ncat\ndog\ncat\n", ["cat", "dog", "cat"]),  # n + 1 lines: the first is a header
    ("numbers.csv", "3\n1\n2\n", [3, 1, 2]),  # numbers stay numbers
    ("series.csv", ",label\n0,cat\n1,dog\n2,cat\n", ["cat", "dog", "cat"]),  # pandas Series.to_csv
    ("blank_end.tsv", "1\n0\n1\n\n\n", [1, 0, 1]),
    ("commas.txt", "New York, NY\nParis\nNew York, NY\n", ["New York, NY", "Paris", "New York, NY"]),
    ("quoted.csv", 'city\n"New York, NY"\nParis\n"New York, NY"\n', ["New York, NY", "Paris", "New York, NY"]),
])
def test_read_labels_text_files(tmp_path: Path, name: str, text: str, expected: list) -> None:
    (tmp_path / name).write_text(text)
    labels = read_labels(tmp_path / name, 3)
    assert labels.tolist() == expected and labels.dtype.kind == ("i" if isinstance(expected[0], int) else "O")


def test_read_labels_of_python_objects_say_how_to_save_strings(tmp_path: Path) -> None:
    np.save(tmp_path / "y.npy", np.array(["a", "b", "a"], dtype=object), allow_pickle=True)  # pandas' strings
    with pytest.raises(DataError, match=r"holds Python objects .* Save string labels as text: np.save\(path, "
                                        r"y.astype\(str\)\)"):
        read_labels(tmp_path / "y.npy", 3)


def test_read_labels_arrays_and_parquet(tmp_path: Path) -> None:
    np.save(tmp_path / "flat.npy", np.array([2, 0, 1]))
    np.save(tmp_path / "column.npy", np.array([[2], [0], [1]]))
    assert read_labels(tmp_path / "flat.npy", 3).tolist() == read_labels(tmp_path / "column.npy", 3).tolist()
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (aekit[parquet])")
    pd.DataFrame({"y": ["a", "b", "a"]}).to_parquet(tmp_path / "y.parquet")
    assert read_labels(tmp_path / "y.parquet", 3).tolist() == ["a", "b", "a"]


@pytest.mark.parametrize(("name", "content", "shown"), [
    ("few.txt", "1\n2\n", "file few.txt has 2 labels, but the data has 3 samples. Give one label per sample"),
    ("wide.npy", np.zeros((3, 2)), "file wide.npy holds an array of shape (3, 2); a labels file holds one column"),
    ("wide.csv", "1,2\n3,4\n5,6\n", "file wide.csv has 2 columns; a labels file holds one column, a label per sample"),
    ("gap.csv", "a\n\"\"\nb\n", "file gap.csv has no label for sample 1 (a blank line). Give every sample"),
    ("blank.txt", "a\n\nb\n", "file blank.txt has no label for sample 1 (a blank line)"),  # would shift the rest
    ("extra.txt", "1\n2\n3\n4\n", "file extra.txt has 4 labels, but the data has 3 samples"),  # a number: no header
    ("extra_word.txt", "a\nb\na\nb\n", "file extra_word.txt has 4 labels, but the data has 3 samples"),
    ("empty.csv", "", "The data from file empty.csv is empty (0 samples)"),
    ("labels.json", "[1, 2, 3]", "Unsupported file type '.json' for labels"),
    ("broken.npy", "not an array", "file broken.npy is not a NumPy .npy file"),
])
def test_read_labels_refuses_in_one_line(tmp_path: Path, monkeypatch, name: str, content, shown: str) -> None:
    monkeypatch.chdir(tmp_path)
    if isinstance(content, np.ndarray):
        np.save(name, content)
    else:
        Path(name).write_text(content)
    with pytest.raises(DataError) as caught:
        read_labels(name, 3)
    assert str(caught.value).startswith(shown) and "\n" not in str(caught.value)
