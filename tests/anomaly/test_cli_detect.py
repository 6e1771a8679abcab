"""``aekit detect fit`` / ``score``: files in, scores and a report out; bad input ends in one line."""

from __future__ import annotations

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
    assert err.count("\n") == 1 and err.startswith("error: The 'contamination' parameter of AnomalyDetector")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--latent-weight", "heavy", "error: --latent-weight must be a number >= 0 or 'auto'. Got 'heavy'."),
    ("--latent-score", "isolaton", "error: Unknown latent score 'isolaton'. Available: isolation, mahalanobis."),
    ("--level-weight", "high", "error: --level-weight must be a number >= 0 or 'auto'. Got 'high'."),
    ("--level-weight", "2", "error: The 'level_weight' parameter of AnomalyDetector weighs a term of series"),
    ("--coarse-factor", "1.5", "error: --coarse-factor must be a whole number >= 1 or 'auto'. Got '1.5'."),
    ("--coarse-factor", "4", "error: The 'coarse_factor' parameter of AnomalyDetector sets a second time scale"),
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
