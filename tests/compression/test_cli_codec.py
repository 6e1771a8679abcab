"""aekit train-codec / compress / decompress from the command line: summaries and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .conftest import gradient_image


def test_train_codec_then_compress_and_decompress_a_table(cli, tmp_path: Path, digits: np.ndarray) -> None:
    table = tmp_path / "digits.csv"
    pd.DataFrame(digits[:300], columns=[f"p{i}" for i in range(64)]).to_csv(table, index=False)
    code, out, err = cli("train-codec", table, "--quality", "2", "--out", tmp_path / "codec", "--epochs", "2",
                         "--latent-dim", "8")
    assert code == 0, err
    assert "trained codec (array, quality 2" in out and "fingerprint sha256" in out
    code, out, err = cli("compress", table, "-o", tmp_path / "t.aez", "--codec", tmp_path / "codec",
                         "--max-abs-error", "0.5")
    assert code == 0, err
    assert "ratio" in out and "bits/value" in out and "MB/s" in out and "NRMSE" in out and "max abs error" in out
    assert "predicted by the model" in out
    code, out, err = cli("decompress", tmp_path / "t.aez", "-o", tmp_path / "back.csv", "--original", table)
    assert code == 0, err
    assert "decompress: table" in out and "MB/s" in out
    back = pd.read_csv(tmp_path / "back.csv").to_numpy()
    assert np.abs(back - digits[:300]).max() <= 0.5
    frame = pd.read_csv(table)
    frame[frame.columns[::-1]].to_csv(tmp_path / "reversed.csv", index=False)  # the codec reads columns by position
    code, out, err = cli("compress", tmp_path / "reversed.csv", "-o", tmp_path / "r.aez", "--codec",
                         tmp_path / "codec", "--max-abs-error", "0.5")
    assert code == 1 and err.count("\n") == 1 and "has the model's columns in another order ('p63', 'p62'" in err
    assert not (tmp_path / "r.aez").exists()


def test_npy_without_a_codec_needs_a_bound(cli, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(12.0).reshape(3, 4))
    code, out, err = cli("compress", tmp_path / "x.npy", "-o", tmp_path / "x.aez")
    assert code == 1 and err.startswith("error: Compressing the array") and "Traceback" not in err
    code, out, err = cli("compress", tmp_path / "x.npy", "-o", tmp_path / "x.aez", "--max-abs-error", "0.01")
    assert code == 0 and "none (quantization + entropy coding only)" in out
    code, out, err = cli("decompress", tmp_path / "x.aez", "-o", tmp_path / "y.npy")
    assert code == 0 and np.abs(np.load(tmp_path / "y.npy") - np.arange(12.0).reshape(3, 4)).max() <= 0.01


def test_png_with_an_image_codec(cli, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(gradient_image(40, 48)).save(folder / "a.png")
    code, out, err = cli("train-codec", folder, "--out", tmp_path / "codec", "--epochs", "1", "--patches", "64",
                         "--latent-dim", "8")
    assert code == 0, err
    assert "trained codec (image" in out
    code, out, err = cli("compress", folder / "a.png", "-o", tmp_path / "a.aez", "--codec", tmp_path / "codec")
    assert code == 0, err
    assert "bpp" in out and "PSNR" in out
    code, out, err = cli("decompress", tmp_path / "a.aez", "-o", tmp_path / "a.png")
    assert code == 0, err
    assert np.asarray(Image.open(tmp_path / "a.png")).shape == (40, 48, 3)


def test_pca_image_codec_takes_any_tile(cli, tmp_path: Path) -> None:
    Image.fromarray(gradient_image(40, 48)).save(tmp_path / "a.png")
    code, out, err = cli("train-codec", tmp_path / "a.png", "--out", tmp_path / "codec", "--transform", "pca",
                         "--tile", "4", "--epochs", "1", "--patches", "64", "--quality", "5")
    assert code == 0, err
    assert "48 code units" in out  # 4 x 4 x 3 values, every principal component
    code, out, err = cli("compress", tmp_path / "a.png", "-o", tmp_path / "a.aez", "--codec", tmp_path / "codec")
    assert code == 0, err
    psnr = float(out.split("PSNR ")[1].split(" dB")[0])
    assert psnr > 44  # quality 5's step is 4.2 levels of 255: 46.5 dB at high rate, more where codes are 0


def test_truncated_file_is_one_line_on_stderr(cli, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((4, 4)))
    cli("compress", tmp_path / "x.npy", "-o", tmp_path / "x.aez", "--max-abs-error", "0.1")
    data = (tmp_path / "x.aez").read_bytes()
    (tmp_path / "x.aez").write_bytes(data[:-10])
    code, _out, err = cli("decompress", tmp_path / "x.aez", "-o", tmp_path / "y.npy")
    assert code == 1 and err.startswith("error: ") and "is truncated" in err and err.count("\n") == 1


def test_bad_tile_is_rejected(cli, tmp_path: Path) -> None:
    Image.fromarray(gradient_image()).save(tmp_path / "a.png")
    code, _out, err = cli("train-codec", tmp_path / "a.png", "--out", tmp_path / "c", "--tile", "12")
    assert code == 1 and "--tile must be a multiple of 8" in err


def test_empty_image_folder_is_rejected(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _out, err = cli("train-codec", tmp_path / "empty", "--out", tmp_path / "c")
    assert code == 1 and "has no images" in err


def test_bad_quality_is_rejected(cli, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((20, 3)))
    code, _out, err = cli("train-codec", tmp_path / "x.npy", "--out", tmp_path / "c", "--quality", "9")
    assert code == 1 and "--quality must be an int in [1, 5]. Got 9 instead." in err


def test_train_codec_reads_class_subfolders_and_refuses_empty_arrays(cli, tmp_path: Path) -> None:
    for i, label in enumerate("abab"):
        (tmp_path / "images" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.roll(gradient_image(), i * 3, axis=0)).save(tmp_path / "images" / label / f"{i}.png")
    code, out, err = cli("train-codec", tmp_path / "images", "--out", tmp_path / "c", "--epochs", "1", "--tile", "16",
                         "--patches", "8")
    assert code == 0, err
    np.save(tmp_path / "empty.npy", np.zeros((0, 5)))
    code, _out, err = cli("train-codec", tmp_path / "empty.npy", "--out", tmp_path / "c2")
    assert code == 1 and err.count("\n") == 1 and "empty.npy' has 0 row(s); a codec learns from many" in err
    code, _out, err = cli("compress", tmp_path / "empty.npy", "-o", tmp_path / "e.aez", "--codec", tmp_path / "nodir")
    assert code == 1 and "Pass the --out folder of 'aekit train-codec'" in err


def test_a_zero_code_size_is_refused_not_read_as_the_default(cli, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((20, 3)))
    code, _out, err = cli("train-codec", tmp_path / "x.npy", "--out", tmp_path / "c", "--latent-dim", "0")
    assert code == 1 and err == "error: --latent-dim must be an int in [1, inf]. Got 0 instead.\n"


def test_whole_numbers_and_bools_come_back_as_written(cli, tmp_path: Path) -> None:
    # QA: --max-abs-error 0.5 gave back whole-number columns as 1.0, 2.0, ... and bools as 1.0, 0.0
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"count": rng.poisson(20, 300), "flag": rng.random(300) > 0.5})
    frame.to_csv(tmp_path / "t.csv", index=False)
    code, _out, err = cli("compress", tmp_path / "t.csv", "-o", tmp_path / "t.aez", "--max-abs-error", "0.5")
    assert code == 0, err
    code, _out, err = cli("decompress", tmp_path / "t.aez", "-o", tmp_path / "back.csv")
    assert code == 0, err
    assert (tmp_path / "back.csv").read_text() == (tmp_path / "t.csv").read_text()


def test_a_table_value_compress_cannot_store_is_one_line(cli, tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n,3\n")
    code, _out, err = cli("compress", tmp_path / "t.csv", "-o", tmp_path / "t.aez", "--max-abs-error", "0.5")
    assert code == 1 and err.count("\n") == 1 and "Column(s) 'a' of " in err and "hold missing (NaN)" in err
