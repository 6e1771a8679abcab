"""``aekit detect fit`` / ``score``: files in, scores and a report out; bad input ends in one line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import planted

FAST = ["--n-estimators", "2", "--epochs", "5", "--seed", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> str:
    X, _ = planted()
    path = tmp_path_factory.mktemp("data") / "table.csv"
    pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).to_csv(path, index=False)
    return str(path)


def test_fit_then_score_a_table(cli, table, tmp_path) -> None:
    run_dir = tmp_path / "run"
    code, out, err = cli("detect", "fit", table, "--contamination", "0.05", "--out", run_dir, *FAST)
    assert code == 0, err
    assert "threshold" in out and (run_dir / "report.html").is_file() and (run_dir / "detector.json").is_file()
    code, out, err = cli("detect", "score", run_dir, table, "-o", tmp_path / "scores.csv", "--top", "2",
                         "--report", tmp_path / "scored.html")
    assert code == 0, err
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert list(scores.columns) == ["id", "score", "label", "confidence", "latent", "top_features"]
    assert scores["label"].isin([0, 1]).all() and scores["label"].sum() > 0
    # ExCeeD confidence: in [0, 1], growing with the distance from the threshold on either side of it
    assert scores["confidence"].between(0, 1).all()
    for label, side in scores.sort_values("score").groupby("label"):
        steps = np.diff(side["confidence"].to_numpy())
        assert (steps >= -1e-12).all() if label == 1 else (steps <= 1e-12).all()
    assert scores["top_features"].str.match(r"f\d=[-\d.e+]+; f\d=").all()
    assert (tmp_path / "scored.html").read_text().startswith("<!DOCTYPE html>")


def test_report_alone_refit_without_report_and_exact_float_ids(cli, table, tmp_path) -> None:
    run_dir = tmp_path / "run"
    assert cli("detect", "fit", table, "--out", run_dir, *FAST)[0] == 0 and (run_dir / "report.html").is_file()
    code, _, err = cli("detect", "fit", table, "--out", run_dir, "--no-report", *FAST)
    assert code == 1 and err == (f"error: --out {run_dir} holds a fitted detector (detector.json); fitting again "
                                 "would replace it. Pass --overwrite to replace it, or another folder.\n")
    code, out, err = cli("detect", "fit", table, "--out", run_dir, "--no-report", "--overwrite", *FAST)
    assert code == 0 and not (run_dir / "report.html").exists(), err  # the old detector's figures: gone
    assert f"Removed the previous detector's report.html from {run_dir}" in out
    code, out, err = cli("detect", "report", run_dir, table)
    path = run_dir / "report-table.html"
    assert code == 0 and out.strip() == f"Report: {path}" and "Anomalies in table.csv" in path.read_text(), err
    (run_dir / "notes.txt").write_text("mine")
    (run_dir / "report-table.html.bak").write_text("mine")
    code, out, err = cli("detect", "fit", table, "--out", run_dir, "--overwrite", *FAST)  # with a new report
    assert code == 0 and not path.exists() and (run_dir / "report.html").is_file(), err
    assert f"Removed the previous detector's report-table.html from {run_dir}" in out
    assert (run_dir / "notes.txt").read_text() == (run_dir / "report-table.html.bak").read_text() == "mine"
    code, _, err = cli("detect", "fit", table, "--out", tmp_path / "other", "--image-size", "8", *FAST)
    assert code == 1 and err == (f"error: --image-size and --color apply to image files and folders; {table} is "
                                 "read as it is. Drop them, or resize the array beforehand.\n")
    code, _, err = cli("detect", "report", run_dir, table, "-o", run_dir / "detector.json")
    assert code == 1 and "--output must end in .html" in err
    # float ids (epoch seconds) come back as read, not cut to 6 digits
    frame = pd.read_csv(table)
    frame.insert(0, "id", 1372896000.5 + np.arange(len(frame)))
    frame.to_csv(tmp_path / "ids.csv", index=False)
    assert cli("detect", "score", run_dir, tmp_path / "ids.csv", "-o", tmp_path / "s.csv")[0] == 0
    scores = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_array_equal(scores["id"], frame["id"])


@pytest.mark.parametrize("suffix", [".csv", ".txt"])  # .txt: any delimiter, sniffed as load_dataset does
def test_a_series_keeps_its_timestamps(cli, sine_series, tmp_path, suffix: str) -> None:
    values, _ = sine_series
    path = tmp_path / f"series{suffix}"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=len(values), freq="5min"),
                  "value": values}).to_csv(path, index=False, sep="," if suffix == ".csv" else "\t")
    run_dir = tmp_path / "run"
    code, out, err = cli("detect", "fit", path, "--window-size", "25", "--window-stride", "5", "--out", run_dir,
                         "--n-estimators", "1", "--epochs", "5", "--device", "cpu")
    assert code == 0, err
    assert f"series{suffix} (and 1 more on its blocks of 4 steps, the coarse scale) in " in out
    code, _, err = cli("detect", "score", run_dir, path, "-o", tmp_path / "scores.csv")
    assert code == 0, err
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert scores.columns[0] == "timestamp" and scores["timestamp"].iloc[1] == "2024-01-01 00:05:00"
    assert len(scores) == len(values)
    html = (run_dir / "report.html").read_text()
    assert "Flagged windows" in html and "data:image/png;base64," in html
    assert re.search(r"<td>2024-01-0\d \d\d:\d\d:\d\d</td>", html)  # times as the scores CSV writes them
    assert "level term with weight 1.5" in html
    assert "coarse scale: a second detector on the means of blocks of 4 steps" in html


def test_scoring_other_columns_is_one_line_and_a_clock_glitch_a_warning(cli, table, sine_series, tmp_path,
                                                                        caplog) -> None:
    run_dir = tmp_path / "run"
    code, _, err = cli("detect", "fit", table, "--out", run_dir, "--no-report", *FAST)
    assert code == 0, err
    frame = pd.read_csv(table)
    frame[list(reversed(frame.columns))].to_csv(tmp_path / "reversed.csv", index=False)
    code, out, err = cli("detect", "score", run_dir, tmp_path / "reversed.csv", "-o", tmp_path / "scores.csv")
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith("error: The data (file ") and "has the model's columns in another order" in err
    assert not (tmp_path / "scores.csv").exists()
    # a series whose clock goes back is windowed as recorded; the warning is said once, on one line, though the
    # report scores the series a second time
    values, _ = sine_series
    times = np.array(pd.date_range("2024-01-01", periods=len(values), freq="5min"))
    times[[10, 11]] = times[[11, 10]]
    pd.DataFrame({"timestamp": times, "value": values}).to_csv(tmp_path / "series.csv", index=False)
    code, _, err = cli("detect", "fit", tmp_path / "series.csv", "--window-size", "25", "--out", tmp_path / "s",
                       *FAST)
    assert code == 0 and (tmp_path / "s" / "report.html").is_file(), err
    said = [r.getMessage() for r in caplog.records if "timestamps go back in time" in r.getMessage()]
    assert len(said) == 1 and "at step 11 (2024-01-01 00:50:00 after 2024-01-01 00:55:00)" in said[0]
    assert "Warning" not in err  # the logger's line only, not also Python's warning with its source line


def test_a_series_whose_time_repeats_is_scored_with_a_warning(cli, sine_series, tmp_path, caplog) -> None:
    values, _ = sine_series
    times = np.array(pd.date_range("2024-01-01", periods=len(values), freq="5min"))
    times[[12, 40, 41]] = times[[11, 39, 39]]  # a row recorded twice, a clock that stood still for two steps
    pd.DataFrame({"timestamp": times, "value": values}).to_csv(tmp_path / "series.csv", index=False)
    code, _, err = cli("detect", "fit", tmp_path / "series.csv", "--window-size", "25", "--out", tmp_path / "s",
                       "--no-report", *FAST)
    assert code == 0, err
    caplog.clear()
    code, _, err = cli("detect", "score", tmp_path / "s", tmp_path / "series.csv", "-o", tmp_path / "scores.csv",
                       "--report", tmp_path / "r.html")
    assert code == 0 and len(pd.read_csv(tmp_path / "scores.csv")) == len(values), err  # every row scored
    said = [r.getMessage() for r in caplog.records if "timestamps repeat" in r.getMessage()]
    assert said == ["The series' timestamps repeat at step 12 (2024-01-01 00:55:00, as at step 11; 3 step(s) in all "
                    "repeat an earlier time); it is windowed in row order, as given. If rows were recorded twice, "
                    "drop the repeats first (pandas: X[~X.index.duplicated()])."]  # once, though scored twice


@pytest.mark.parametrize(("text", "message"), [
    ("a,b\n", "is empty (0 rows). Pass a table with at least one row."),
    ("timestamp\n2024-01-01\n2024-01-02\n", "has no value columns, only its time column."),
])
def test_tables_without_values_are_one_line(cli, tmp_path, text: str, message: str) -> None:
    (tmp_path / "t.csv").write_text(text)
    code, _, err = cli("detect", "fit", tmp_path / "t.csv", "--out", tmp_path / "run")
    assert code == 1 and err.count("\n") == 1 and message in err, err


def test_threshold_from_a_target_fpr_on_clean_data(cli, table, tmp_path) -> None:
    X, y = planted()
    clean = tmp_path / "clean.csv"
    pd.DataFrame(X[y == 0], columns=[f"f{i}" for i in range(X.shape[1])]).to_csv(clean, index=False)
    code, out, err = cli("detect", "fit", table, "--fpr", "0.01", "--clean", clean, "--out",
                         tmp_path / "run", "--no-report", *FAST)
    assert code == 0, err
    assert "(fpr)" in out


def test_bad_contamination_is_one_line(cli, table, tmp_path) -> None:
    code, out, err = cli("detect", "fit", table, "--contamination", "0.7", "--out", tmp_path / "run")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: --contamination must be a float in (0, 0.5]")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--latent-weight", "heavy", "error: --latent-weight must be a number >= 0 or 'auto'. Got 'heavy'."),
    ("--latent-score", "isolaton", "error: Unknown latent score 'isolaton'. Available: isolation, mahalanobis."),
    ("--level-weight", "high", "error: --level-weight must be a number >= 0 or 'auto'. Got 'high'."),
    ("--level-weight", "2", "error: --level-weight weighs a term of series windows, but --window-size"),
    ("--coarse-factor", "1.5", "error: --coarse-factor must be a whole number >= 1 or 'auto'. Got '1.5'."),
    ("--coarse-factor", "4", "error: --coarse-factor sets a second time scale"),
])
def test_a_bad_score_option_is_one_line(cli, table, tmp_path, option, value, message) -> None:
    code, out, err = cli("detect", "fit", table, option, value, "--out", tmp_path / "run", *FAST)
    assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith(message)


def test_a_bad_member_count_is_one_line(cli, table, tmp_path) -> None:
    code, out, err = cli("detect", "fit", table, "--n-estimators", "many", "--out", tmp_path / "run")
    assert code == 1 and out == ""
    assert err == "error: --n-estimators must be a whole number >= 1 or 'auto'. Got 'many'.\n"


def test_fpr_without_clean_data(cli, table, tmp_path) -> None:
    code, _, err = cli("detect", "fit", table, "--fpr", "0.01", "--out", tmp_path / "run")
    assert code == 1 and err == "error: --fpr needs --clean DATA, data known to hold no anomalies. Pass --clean, " \
                                "or drop --fpr.\n"


def test_score_with_a_missing_run_dir(cli, table, tmp_path) -> None:
    code, _, err = cli("detect", "score", tmp_path / "nothing", table, "-o", tmp_path / "s.csv")
    assert code == 1 and "No detector directory at" in err and err.count("\n") == 1


def test_text_columns_are_named(cli, tmp_path) -> None:
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"a": np.arange(10.0), "city": ["x"] * 10}).to_csv(path, index=False)
    code, _, err = cli("detect", "fit", path, "--out", tmp_path / "run")
    assert code == 1 and "Column(s) 'city'" in err and "are not numeric" in err


def test_an_out_folder_that_is_not_a_detector_is_refused_before_training(cli, table, tmp_path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "data.csv").write_text("1,2")
    code, out, err = cli("detect", "fit", table, "--out", tmp_path / "work", *FAST)
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert "work' exists and is not a saved detector or an empty directory" in err
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["data.csv"]


@pytest.fixture(scope="module")
def run_dir(table, tmp_path_factory) -> str:
    from aekit.cli import main

    path = tmp_path_factory.mktemp("run") / "run"
    main(["detect", "fit", table, "--out", str(path), "--no-report", *FAST])  # an error would exit
    return str(path)


def test_score_never_writes_over_what_it_reads(cli, table, run_dir, tmp_path) -> None:
    data = tmp_path / "data.csv"
    data.write_bytes(Path(table).read_bytes())
    detector_json = Path(run_dir) / "detector.json"
    before = detector_json.read_bytes()
    code, out, err = cli("detect", "score", run_dir, data, "-o", data)
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith("error: --output ") and "which this command also uses. Pass another path." in err
    # what is not a CSV (the detector's own files) or not a page is refused by its name, before any work
    for extra, message in ((["-o", detector_json], f"--output must end in .csv. Got '{detector_json}' instead."),
                           (["-o", tmp_path / "s.html"], f"--output must end in .csv. Got '{tmp_path / 's.html'}'"),
                           (["-o", tmp_path / "s.csv", "--report", data],
                            f"--report must end in .html or .htm. Got '{data}' instead."),
                           (["-o", tmp_path / "s.csv", "--report", tmp_path / "r.csv"], "--report must end in .html")):
        code, out, err = cli("detect", "score", run_dir, data, *extra)
        assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith(f"error: {message}"), err
    assert data.read_bytes() == Path(table).read_bytes() and detector_json.read_bytes() == before
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "s.html").exists()


def test_an_output_inside_a_file_is_one_line(cli, table, run_dir, tmp_path) -> None:
    (tmp_path / "afile").write_text("x")
    code, _, err = cli("detect", "score", run_dir, table, "-o", tmp_path / "afile" / "s.csv")
    assert code == 1 and err.count("\n") == 1 and "afile' is a file, not a folder" in err
    code, out, err = cli("detect", "fit", table, "--out", tmp_path / "afile" / "run", *FAST)  # before training
    assert code == 1 and out == "" and "afile' is a file, not a folder" in err


def test_clean_data_is_checked_before_training(cli, table, tmp_path) -> None:
    frame = pd.read_csv(table)
    frame[frame.columns[::-1]].to_csv(tmp_path / "reordered.csv", index=False)
    code, out, err = cli("detect", "fit", table, "--fpr", "0.05", "--clean", tmp_path / "reordered.csv",
                         "--out", tmp_path / "run", *FAST)
    assert code == 1 and out == "" and err.count("\n") == 1 and "columns in another order" in err
    code, out, err = cli("detect", "fit", table, "--clean", table, "--out", tmp_path / "run", *FAST)
    assert code == 1 and err == "error: --clean is only read to set the threshold by --fpr. Pass --fpr RATE, or " \
                                "drop --clean.\n"
    assert not (tmp_path / "run").exists()


def test_an_id_column_names_the_rows(cli, tmp_path) -> None:
    X, _ = planted()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame.insert(0, "ID", np.arange(1000, 1000 + len(X)))  # ids a row number cannot give
    frame.to_csv(tmp_path / "ids.csv", index=False)
    code, _, err = cli("detect", "fit", tmp_path / "ids.csv", "--out", tmp_path / "run", "--no-report", *FAST)
    assert code == 0, err
    frame.iloc[:50].assign(ID=np.arange(50) + 9000).to_csv(tmp_path / "new.csv", index=False)
    code, _, err = cli("detect", "score", tmp_path / "run", tmp_path / "new.csv", "-o", tmp_path / "s.csv")
    assert code == 0, err
    scores = pd.read_csv(tmp_path / "s.csv")
    assert scores["ID"].tolist() == list(range(9000, 9050))  # the file's ids, not a feature
    assert not scores["top_features"].str.contains("ID=").any()


def test_a_numeric_time_column_is_the_index_not_a_feature(cli, sine_series, tmp_path) -> None:
    values, _ = sine_series
    seconds = 1_700_000_000 + 300 * np.arange(len(values))  # epoch seconds, every 5 minutes
    pd.DataFrame({"time": seconds, "value": values}).to_csv(tmp_path / "s.csv", index=False)
    code, _, err = cli("detect", "fit", tmp_path / "s.csv", "--window-size", "25", "--coarse-factor", "1",
                       "--out", tmp_path / "run", "--no-report", "--n-estimators", "1", "--epochs", "5")
    assert code == 0, err
    later = tmp_path / "later.csv"  # a week later, the same values: nothing new
    pd.DataFrame({"time": seconds + 7 * 86400, "value": values}).to_csv(later, index=False)
    code, out, err = cli("detect", "score", tmp_path / "run", later, "-o", tmp_path / "scores.csv")
    assert code == 0, err
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert scores["time"].tolist() == (seconds + 7 * 86400).tolist()
    assert scores["top_features"].str.startswith("value=").all()
    assert scores["label"].mean() < 0.2


@pytest.mark.parametrize(("stamps", "second"), [
    ([t.isoformat() for t in pd.date_range("2024-03-31", periods=300, freq="5min", tz="Europe/Berlin")],
     "2024-03-30 23:05:00+00:00"),  # offsets change at the daylight-saving switch: read as UTC
    ([f"{1 + i % 28:02d}/{1 + i // 28:02d}/2024" for i in range(300)], "2024-01-02 00:00:00"),  # day first
])
def test_time_columns_as_people_write_them(stamps, second: str, tmp_path) -> None:
    from aekit.anomaly.series import read_table

    pd.DataFrame({"date": stamps, "value": np.arange(300.0)}).to_csv(tmp_path / "t.csv", index=False)
    frame = read_table(tmp_path / "t.csv")
    assert isinstance(frame.index, pd.DatetimeIndex) and str(frame.index[1]) == second
    assert list(frame.columns) == ["value"]


def test_a_time_column_that_does_not_parse_is_one_line(cli, tmp_path) -> None:
    pd.DataFrame({"timestamp": ["2024-01-01", "garbage", "2024-01-03"] * 20, "value": np.arange(60.0)}).to_csv(
        tmp_path / "t.csv", index=False)
    code, _, err = cli("detect", "fit", tmp_path / "t.csv", "--window-size", "8", "--out", tmp_path / "run")
    assert code == 1 and err.count("\n") == 1, err
    assert "Column 'timestamp' of" in err and "does not parse as dates" in err and "garbage" in err


@pytest.mark.parametrize("other", [["--threshold", "3"], ["--fpr", "0.1", "--clean", "CLEAN"]])
def test_contamination_with_another_threshold_is_refused(cli, table, tmp_path, other) -> None:
    other = [table if value == "CLEAN" else value for value in other]
    code, out, err = cli("detect", "fit", table, "--contamination", "0.2", *other, "--out", tmp_path / "run")
    assert code == 1
    assert err == f"error: --contamination sets the threshold, and so does {other[0]}. Pass one of them.\n"


def test_images_from_a_folder_are_known_by_their_files(cli, digits, tmp_path) -> None:
    from PIL import Image

    for i, image in enumerate(digits[:40].reshape(-1, 8, 8)):
        folder = tmp_path / "images" / str(i % 2)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((16, 16)).save(folder / f"{i:02d}.png")
    code, _out, err = cli("detect", "fit", tmp_path / "images", "--model", "dense", "--out", tmp_path / "run",
                          "--image-size", "8", "--no-report", *FAST)
    assert code == 0, err
    # read as the training images were (resized to 8 x 8) without being told again
    code, _out, err = cli("detect", "score", tmp_path / "run", tmp_path / "images", "-o", tmp_path / "s.csv",
                          "--report", tmp_path / "r.html")
    assert code == 0, err
    code, _out, err = cli("detect", "score", tmp_path / "run", tmp_path / "images", "-o", tmp_path / "s8.csv",
                          "--image-size", "8", "--color", "grayscale")
    assert code == 0, err
    scores = pd.read_csv(tmp_path / "s.csv")
    pd.testing.assert_frame_equal(scores, pd.read_csv(tmp_path / "s8.csv"))
    code, _out, err = cli("detect", "score", tmp_path / "run", tmp_path / "images", "-o", tmp_path / "s16.csv",
                          "--image-size", "16")
    assert code == 1 and err == (f"error: The images of image folder {tmp_path / 'images'} are 16x16 pixels with 1 "
                                 "channel as read; the detector was trained on images of 8x8 pixels with 1 channel. "
                                 "Pass --image-size 8,8 to read them as those were.\n")
    assert scores.columns[0] == "file" and list(scores["file"][:3]) == ["0/00.png", "0/02.png", "0/04.png"]
    top = scores.sort_values("score", ascending=False)["file"].iloc[0]
    assert f"<td>{top}</td>" in (tmp_path / "r.html").read_text()  # the report's top anomalies too


def test_images_are_read_later_at_the_size_they_had_at_fit(cli, digits, tmp_path) -> None:
    from PIL import Image

    from aekit.anomaly import AnomalyDetector

    for name, side in (("images", 8), ("larger", 12)):  # the same images at 8 x 8 and at 12 x 12
        (tmp_path / name).mkdir()
        for i, image in enumerate(digits[:30].reshape(-1, 8, 8)):
            Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((side, side)).save(
                tmp_path / name / f"{i:02d}.png")
    run_dir = tmp_path / "run"
    code, _out, err = cli("detect", "fit", tmp_path / "images", "--model", "dense", "--out", run_dir, "--no-report",
                          *FAST)
    assert code == 0, err
    assert AnomalyDetector.load(run_dir).metadata_ == {"image_size": [8, 8], "color": "grayscale"}
    # resized to the training images' 8 x 8 without being told
    code, out, err = cli("detect", "score", run_dir, tmp_path / "larger", "-o", tmp_path / "s.csv")
    assert code == 0 and out.startswith("Scored 30 rows"), err
    assert pd.read_csv(tmp_path / "s.csv")["file"].tolist() == [f"{i:02d}.png" for i in range(30)]
