"""The command line: every command once, config files, and one clean line for every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aekit.cli import main

FAST = ["--epochs", "2", "--batch-size", "64", "--latent-dim", "3", "--hidden-dims", "16", "--no-report"]


@pytest.fixture(scope="module")
def table(tmp_path_factory, digits) -> str:
    path = tmp_path_factory.mktemp("data") / "digits.csv"
    pd.DataFrame(digits[:300], columns=[f"px{i}" for i in range(64)]).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, table) -> str:
    out = tmp_path_factory.mktemp("run") / "run"
    main(["train", table, "--out", str(out), *FAST])
    return str(out)


def test_train_writes_a_model_directory(trained) -> None:
    from pathlib import Path

    names = {p.name for p in Path(trained).iterdir()}
    assert {"config.json", "model.safetensors", "metrics.jsonl", "checkpoint.safetensors"} <= names


def test_info_encode_reconstruct_evaluate(cli, trained, table, tmp_path) -> None:
    code, out, _ = cli("info", trained)
    assert code == 0 and "latent dim      : 3" in out and "backbone        : dense (hidden_dims=[16])" in out
    assert "preset          : dense" in out
    code, out, _ = cli("encode", trained, table, "-o", tmp_path / "codes.npy")
    assert code == 0 and np.load(tmp_path / "codes.npy").shape == (300, 3)
    code, _, err = cli("encode", trained, table, "-o", tmp_path / "indices.npy", "--indices")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: Model with bottleneck 'deterministic' has no codebook")
    assert not (tmp_path / "indices.npy").exists()
    code, out, _ = cli("reconstruct", trained, table, "-o", tmp_path / "recon.npy")
    assert code == 0 and np.load(tmp_path / "recon.npy").shape == (300, 64)
    code, out, _ = cli("evaluate", trained, table, "--json")
    rows = json.loads(out)
    assert code == 0 and [r["method"].split()[0] for r in rows] == ["autoencoder", "PCA"]
    assert all(r["code_size"] == 3 for r in rows)


def test_info_on_a_module_saved_alone_says_it_has_no_training_record(cli, tmp_path) -> None:
    from aekit import Autoencoder, build_config, save_model

    save_model(tmp_path / "mine", Autoencoder(build_config("dense", input_shape=(6,), latent_dim=2)))
    code, out, _ = cli("info", tmp_path / "mine")
    assert code == 0 and "epochs trained  : none recorded (a module saved with aekit.save_model)" in out


def test_evaluate_features_judges_codes_for_labels_from_a_file_or_the_data(cli, trained, table, tmp_path) -> None:
    from sklearn.datasets import load_digits

    labels = tmp_path / "labels.txt"
    labels.write_text("digit\n" + "\n".join(str(v) for v in load_digits().target[:300]) + "\n")  # a header line
    code, out, err = cli("evaluate", trained, table, "--features", "--labels", labels, "--json")
    rows = json.loads(out)
    assert code == 0 and [r["method"].split()[0] for r in rows] == ["autoencoder", "PCA", "input"]
    assert [r["code_size"] for r in rows] == [3, 3, 64] and all(0 < r["knn_accuracy"] <= 1 for r in rows)
    code, out, _ = cli("evaluate", trained, table, "--features", "--labels", labels)
    assert code == 0 and "linear_accuracy" in out
    assert out.rstrip().endswith(f"PCA fitted on the training data ({table}).")
    code, out, _ = cli("evaluate", trained, "digits", "--features", "--json")  # the built-in set carries labels
    assert code == 0 and len(json.loads(out)) == 3


@pytest.mark.parametrize(("extra", "shown"), [
    (["--features"], "error: --features needs DATA's class labels, and {table} carries none. Pass them with --labels"),
    (["--labels", "y.npy"], "error: --labels goes with --features (codes judged as features for those classes)."),
    (["--features", "--labels", "short.npy"], "error: file short.npy has 5 labels, but the data has 300 samples."),
    (["--features", "--labels", "missing.npy"], "error: No such file: 'missing.npy'. Check the path."),
    (["--features", "--reference", "{table}"], "error: --reference scores restored outputs; --features scores codes."),
])
def test_evaluate_features_refuses_in_one_line(cli, trained, table, tmp_path, monkeypatch, extra, shown) -> None:
    monkeypatch.chdir(tmp_path)
    np.save("short.npy", np.arange(5))
    np.save("y.npy", np.arange(300) % 2)
    code, out, err = cli("evaluate", trained, table, *[e.format(table=table) for e in extra])
    assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith(shown.format(table=table))


def test_evaluate_scores_degraded_data_against_a_clean_reference(cli, trained, table, digits, tmp_path) -> None:
    noisy = tmp_path / "noisy.npy"
    np.save(noisy, digits[:300] + np.random.default_rng(0).normal(0.0, 1.0, (300, 64)))
    code, out, err = cli("evaluate", trained, noisy, "--reference", table, "--json")
    rows = json.loads(out)
    assert code == 0, err
    assert [r["method"].split()[0] for r in rows] == ["autoencoder", "PCA", "input"] and rows[2]["code_size"] is None
    assert rows[2]["mse"] == pytest.approx(1.0, abs=0.05)  # the noise itself
    code, _, err = cli("evaluate", trained, noisy, "--reference", tmp_path / "missing.csv")
    assert code == 1 and "missing.csv" in err and len(err.splitlines()) == 1
    half = tmp_path / "half.npy"
    np.save(half, digits[:150])
    code, _, err = cli("evaluate", trained, noisy, "--reference", half)
    assert code == 1 and err == ("error: The reference must hold one clean sample per input sample, shaped alike: the "
                                 "inputs have shape (300, 64), the reference (150, 64). Pass the clean versions of "
                                 "exactly the input rows, in the same order.\n")


def test_train_writes_a_report_and_report_describes_other_data(cli, tmp_path) -> None:
    out = tmp_path / "vae"
    code, text, _ = cli("train", "digits", "--out", out, "--model", "vae", "--epochs", "2", "--latent-dim", "4")
    assert code == 0 and f"Report: {out / 'report.html'}" in text
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "the training data" in html and "<h2>Generation</h2>" in html and "kl_by_unit" in html
    assert "PCA fitted on the training data." in html and "No metrics." not in html  # evaluate's table
    code, text, _ = cli("report", out, "digits", "-o", tmp_path / "held_out.html")
    held_out = (tmp_path / "held_out.html").read_text(encoding="utf-8")
    assert code == 0 and "the training data: reconstructions of seen samples" not in held_out
    assert "PCA fitted on the training data (digits)." in held_out and "<td>autoencoder (vae)</td>" in held_out
    code, _, err = cli("report", tmp_path / "missing", "digits")
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_a_single_sample_trains_and_reports_without_a_latent_map(cli, tmp_path) -> None:
    data = tmp_path / "one.csv"
    data.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    code, text, err = cli("train", data, "--out", tmp_path / "run", "--epochs", "1", "--latent-dim", "2")
    assert code == 0 and "internal error" not in err, err
    assert "A latent map needs at least 2 samples; this model saw 1." in (tmp_path / "run" / "report.html").read_text(
        encoding="utf-8")


def test_resume_continues_training(cli, table, tmp_path) -> None:
    out = tmp_path / "run"
    assert cli("train", table, "--out", out, *FAST)[0] == 0
    code, text, _ = cli("train", table, "--out", out, *FAST[2:], "--epochs", "4", "--resume")
    assert code == 0 and "4 epochs" in text
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize(("args", "message"), [
    (["trian"], "error: No such command 'trian'. Did you mean 'train'? (see 'aekit --help')"),
    (["train"], "error: Missing argument 'DATA'. (see 'aekit train --help')"),
    (["train", "digits", "--out", "x", "--epochs", "many"],
     "error: Invalid value for '--epochs': 'many' is not a valid integer. (see 'aekit train --help')"),
    # Click's parser gives these no context: the command is found in the arguments
    (["train", "digits", "--out", "x", "--epochs"],
     "error: Option '--epochs' requires an argument. (see 'aekit train --help')"),
    (["--log-level", "info", "detect", "score", "run", "-o"],
     "error: Option '-o' requires an argument. (see 'aekit detect score --help')"),
])
def test_usage_errors_are_one_line(cli, args: list[str], message: str) -> None:
    code, out, err = cli(*args)
    assert code == 2 and out == "" and err == message + "\n"


@pytest.mark.parametrize("args", [[], ["detect"]])
def test_a_group_alone_shows_its_help(cli, args: list[str]) -> None:
    code, out, err = cli(*args)
    assert "Usage: aekit" in out + err and "Commands:" in out + err and "error:" not in out + err


def test_a_config_file_that_does_not_parse_is_one_line(cli, table, tmp_path) -> None:
    (tmp_path / "bad.yaml").write_text("epochs: [2\n")
    code, _, err = cli("train", table, "--out", tmp_path / "run", "--config", tmp_path / "bad.yaml")
    assert code == 1 and err.count("\n") == 1 and "Cannot parse config file" in err, err


def test_an_interrupted_training_says_how_to_go_on(cli, table, tmp_path, monkeypatch) -> None:
    from aekit.estimator import AutoEncoder

    def interrupted(self, X, run_dir=None, **kwargs):
        (Path(run_dir) / "checkpoint.safetensors").write_bytes(b"")  # as after a first epoch
        raise KeyboardInterrupt

    monkeypatch.setattr(AutoEncoder, "fit", interrupted)
    out = tmp_path / "run"
    out.mkdir()
    code, _, err = cli("train", table, "--out", out, *FAST)
    assert code == 130 and err.strip().endswith(f"The last epoch's checkpoint is in {out}: add --resume to the "
                                                "same command to go on from it.")


def test_sigterm_ends_a_command_as_an_interrupt_does(cli, table, tmp_path, monkeypatch) -> None:
    import os
    import signal

    from aekit.estimator import AutoEncoder

    def terminated(self, X, run_dir=None, **kwargs):
        Path(run_dir).mkdir()
        (Path(run_dir) / "checkpoint.safetensors").write_bytes(b"")  # as after a first epoch
        os.kill(os.getpid(), signal.SIGTERM)  # a job scheduler stopping the run
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(AutoEncoder, "fit", terminated)
    before = signal.getsignal(signal.SIGTERM)
    code, _, err = cli("train", table, "--out", tmp_path / "run", *FAST)
    assert code == 143 and "add --resume to the same command to go on from it." in err
    assert signal.getsignal(signal.SIGTERM) is before  # restored for whatever runs next in this process


def test_an_interruption_after_training_points_to_the_report_not_resume(cli, table, tmp_path, monkeypatch) -> None:
    import aekit.cli

    def interrupted(*args, **kwargs):  # the model is saved; the report was being written
        raise KeyboardInterrupt

    monkeypatch.setattr(aekit.cli, "_write_report", interrupted)
    out = tmp_path / "run"
    code, _, err = cli("train", table, "--out", out, *FAST[:-1])  # with the report
    assert code == 130 and err.strip().endswith(f"Training had finished and the model is saved in {out}; "
                                                f"'aekit report {out} DATA' writes its report.")


def test_training_over_a_model_needs_resume_or_overwrite(cli, table, tmp_path) -> None:
    out = tmp_path / "run"
    assert cli("train", table, "--out", out, *FAST)[0] == 0
    before = (out / "model.safetensors").read_bytes()
    code, _, err = cli("train", table, "--out", out, *FAST, "--latent-dim", "5")
    assert code == 1 and err == (f"error: --out {out} holds a trained model (config.json, checkpoint.safetensors); "
                                 "training afresh would replace it. Pass --resume to continue it, --overwrite to "
                                 "replace it, or another folder.\n")
    assert (out / "model.safetensors").read_bytes() == before  # untouched
    for name in ("encoder.onnx", "decoder.onnx", "report.html", "report-test.html", "notes.txt", "report-a.html.bak"):
        (out / name).write_text("the previous model's")  # as `aekit export` and `aekit report` would leave
    code, out_text, err = cli("train", table, "--out", out, *FAST, "--latent-dim", "5", "--overwrite")
    assert code == 0 and json.loads((out / "config.json").read_text())["model"]["latent_dim"] == 5, err
    # what described the replaced model is gone (--no-report: its report.html too); the user's files stay
    assert sorted(p.name for p in out.iterdir() if p.suffix in (".onnx", ".html", ".txt", ".bak")) == [
        "notes.txt", "report-a.html.bak"]
    assert (f"Removed the previous model's encoder.onnx, decoder.onnx, report-test.html, report.html from {out}"
            in out_text)
    code, _, err = cli("train", table, "--out", out, *FAST, "--resume", "--overwrite")
    assert code == 1 and "Pass one of them." in err
    (tmp_path / "theirs").mkdir()
    for name in ("encoder.onnx", "report-q3.html"):  # a folder with no model: these are the user's own
        (tmp_path / "theirs" / name).write_text("mine")
    code, out_text, err = cli("train", table, "--out", tmp_path / "theirs", *FAST)
    assert code == 0 and "Removed" not in out_text, err
    assert all((tmp_path / "theirs" / name).read_text() == "mine" for name in ("encoder.onnx", "report-q3.html"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.json").write_text('{"lr": 0.1}')  # the user's own: not a model to overwrite
    code, _, err = cli("train", table, "--out", tmp_path / "mine", *FAST)
    assert code == 1 and "holds a config.json that is not aekit's" in err, err


def test_resume_with_other_settings_is_one_line(cli, table, tmp_path) -> None:
    out = tmp_path / "run"
    assert cli("train", table, "--out", out, *FAST)[0] == 0
    code, _, err = cli("train", table, "--out", out, *FAST[:4], "--latent-dim", "3", "--no-report", "--resume")
    assert code == 1 and err.count("\n") == 1, err
    assert "Cannot resume: the checkpoint in" in err
    assert "is of another model: its backbone.hidden_dims is [16], this run's [" in err
    # the most telling difference first: another preset (its backbone or bottleneck), then the code size
    for other, telling in ((["--model", "conv", "--input-shape", "1,8,8"], 'its backbone is "dense", this run\'s '
                                                                           '"conv"'),
                           (["--model", "vae"], 'its bottleneck is "deterministic", this run\'s "variational"')):
        code, _, err = cli("train", table, "--out", out, *FAST[:4], "--latent-dim", "5", "--no-report", "--resume",
                           *other)
        assert code == 1 and f"is of another model: {telling}. Resume with" in err, err
    assert err.endswith("or train afresh into another --out without --resume.\n")  # the flags as typed
    code, _, err = cli("train", table, "--out", tmp_path / "new", *FAST, "--resume")
    assert code == 1 and err.endswith("no checkpoint.safetensors in '" + str(tmp_path / "new") + "'. Train without "
                                      "--resume first.\n"), err
    code, _, err = cli("train", table, "--out", out, *FAST, "--latent-dim", "5", "--resume")
    assert code == 1 and "is of another model: its --latent-dim is 3, this run's 5" in err, err
    for changed in (["--scaler", "standard"], ["--loss", "l1"]):  # the weights would be saved with them, untrained
        code, _, err = cli("train", table, "--out", out, *FAST, "--resume", *changed)
        assert code == 1 and err.count("\n") == 1 and "Cannot resume" in err, err
    assert "another data file, or another scaler" in cli("train", table, "--out", out, *FAST, "--resume", "--scaler",
                                                         "standard")[2]


def test_image_models_read_images_as_they_were_trained_on(cli, tmp_path) -> None:
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):  # mixed sizes: training resized them to 8 x 8, in colour
        Image.fromarray(rng.integers(0, 255, (10 + i, 12, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    run = tmp_path / "run"
    code, _, err = cli("train", folder, "--image-size", "8", "--color", "rgb", "--out", run, *FAST)
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["extra"]["train_data"] == str(folder.resolve())
    code, _, err = cli("encode", run, folder, "-o", tmp_path / "codes.npy")  # no flags: the model's
    assert code == 0, err
    assert np.load(tmp_path / "codes.npy").shape == (12, 3)


def test_images_trained_without_image_size_are_later_read_at_the_size_they_had(cli, tmp_path) -> None:
    from PIL import Image

    folder, bigger = tmp_path / "images", tmp_path / "bigger"
    folder.mkdir()
    bigger.mkdir()
    for i in range(6):
        Image.fromarray(np.full((8, 8), 30 * i, dtype=np.uint8)).save(folder / f"{i}.png")
        Image.fromarray(np.full((16, 16), 30 * i, dtype=np.uint8)).save(bigger / f"{i}.png")
    run = tmp_path / "run"
    code, _, err = cli("train", folder, "--out", run, *FAST)
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["extra"]["image_size"] == [8, 8]
    code, _, err = cli("encode", run, bigger, "-o", tmp_path / "codes.npy")  # resized to 8 x 8, as at training
    assert code == 0 and np.load(tmp_path / "codes.npy").shape == (6, 3), err
    # a model saved before the size was stored (image_size null): other sizes are refused, naming the flag
    config = json.loads((run / "config.json").read_text())
    config["extra"]["image_size"] = None
    (run / "config.json").write_text(json.dumps(config))
    code, _, err = cli("encode", run, bigger, "-o", tmp_path / "codes2.npy")
    assert code == 1 and "are 16x16 pixels with 1 channel as read; the model was trained on images of 8x8 pixels " \
        "with 1 channel. Pass --image-size 8,8 to read them as those were." in err, err


def test_image_size_takes_a_side_or_height_and_width(cli, tmp_path) -> None:
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(6):  # mixed heights
        Image.fromarray(np.full((10 + i, 12), 20 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    code, _, err = cli("train", folder, "--out", tmp_path / "none", *FAST)
    assert code == 1 and err == (f"error: Image '{folder / '1.png'}' is 11x12 pixels but '{folder / '0.png'}' is "
                                 "10x12. Resize them all to one size: --image-size height,width, or --image-size N "
                                 "for N x N.\n")
    code, out, err = cli("train", folder, "--out", tmp_path / "run", "--image-size", "8,12", *FAST)
    assert code == 0 and "samples of shape (1, 8, 12)" in out, err
    code, _, err = cli("encode", tmp_path / "run", folder, "-o", tmp_path / "codes.npy")  # as trained: 8 x 12
    assert code == 0 and np.load(tmp_path / "codes.npy").shape == (6, 3), err
    code, _, err = cli("train", folder, "--out", tmp_path / "bad", "--image-size", "8,x", *FAST)
    assert code == 2 and "'8,x' is neither a side N nor a height,width pair. Pass e.g. 64 or 64,48." in err


def test_config_file_sets_defaults_and_flags_override(cli, table, tmp_path) -> None:
    (tmp_path / "c.yaml").write_text("latent_dim: 5\nepochs: 1\nhidden_dims: [8]\nset:\n  dropout: 0.1\n")
    code, out, err = cli("train", table, "--out", tmp_path / "a", "--config", tmp_path / "c.yaml")
    assert code == 0, err
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["model"]["latent_dim"] == 5
    assert config["model"]["backbone"]["options"] == {"hidden_dims": [8], "dropout": 0.1}
    (tmp_path / "c.toml").write_text("latent_dim = 5\nepochs = 1\n")
    code, _, err = cli("train", table, "--out", tmp_path / "b", "--config", tmp_path / "c.toml",
                       "--latent-dim", "2")
    assert code == 0, err
    assert json.loads((tmp_path / "b" / "config.json").read_text())["model"]["latent_dim"] == 2


def test_list_models_and_help(cli) -> None:
    code, out, _ = cli("list-models")
    assert code == 0 and "dense" in out and "conv" in out
    code, _, err = cli("list-models", "nothing*")
    assert code == 1 and err == "error: No model preset matches 'nothing*'. 'aekit list-models' lists them all.\n"
    code, out, _ = cli("train", "--help")
    assert code == 0 and "--latent-dim" in out and "--devices" in out


def test_sweep_table_and_plot(cli, table, tmp_path) -> None:
    code, out, err = cli("sweep", table, "--latent-dims", "2,4", "--epochs", "2", "--out", tmp_path)
    assert code == 0, err
    assert (tmp_path / "sweep.png").is_file() and len(json.loads((tmp_path / "sweep.json").read_text())) == 2
    # part options reach every code size (a VQ code of 2 values needs vectors of 2 or 1)
    code, out, err = cli("sweep", table, "--latent-dims", "2", "--epochs", "1", "--model", "vq-vae", "--set",
                         "embedding_dim=2", "--set", "codebook_size=8")
    assert code == 0 and "pca_mse" in out, err
    code, _, err = cli("sweep", table, "--latent-dims", "2", "--epochs", "1", "--set", "dropuot=0.1")
    assert code == 1 and "Did you mean 'dropout'?" in err and err.count("\n") == 1


def _bad_files(tmp_path, digits) -> dict[str, str]:
    files = {}
    nan = digits[:50].copy()
    nan[4, 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    files["nan"] = str(tmp_path / "nan.npy")
    (tmp_path / "empty.csv").write_text("")
    files["empty"] = str(tmp_path / "empty.csv")
    frame = pd.DataFrame({"a": [1.0, 2.0], "city": ["x", "y"], "b": [3.0, 4.0]})
    frame.to_csv(tmp_path / "text.csv", index=False)
    files["text"] = str(tmp_path / "text.csv")
    pd.DataFrame(digits[:20, :63]).to_csv(tmp_path / "narrow.csv", index=False)
    files["narrow"] = str(tmp_path / "narrow.csv")
    return files


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("nan", "The data has 1 NaN/Inf value(s), first in row 4"),
        ("empty", "is empty"),
        ("text", "Column(s) 'city' of file"),
        ("missing", "No such file or directory: 'missing.csv'"),
        ("latent", "--latent-dim must be an int in [1, inf]. Got 0 instead."),
        ("model", "Unknown model 'dens'. Available:"),
        ("set", "Unknown option 'droput'"),
        ("dims", "--hidden-dims must be comma-separated integers like 256,128. Got '32,x' instead."),
    ],
)
def test_bad_training_input_is_one_line(cli, tmp_path, digits, table, case: str, message: str) -> None:
    files = _bad_files(tmp_path, digits)
    args = {"missing": ["missing.csv"], "latent": [table, "--latent-dim", "0"], "model": [table, "--model", "dens"],
            "set": [table, "--set", "droput=0.1"], "dims": [table, "--hidden-dims", "32,x"]
            }.get(case, [files.get(case, "")])
    code, _, err = cli("train", *args, "--out", tmp_path / "out", "--epochs", "1")
    assert code == 1
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_wrong_feature_count_for_a_trained_model(cli, trained, tmp_path, digits) -> None:
    files = _bad_files(tmp_path, digits)
    code, _, err = cli("encode", trained, files["narrow"], "-o", tmp_path / "c.npy")
    assert code == 1 and "expects 64 features per sample; the data has 63" in err and err.count("\n") == 1


def test_columns_in_another_order_are_refused(cli, trained, table, tmp_path) -> None:
    # a model reads columns by position: reordered columns would be encoded silently wrong
    frame = pd.read_csv(table)
    frame[list(reversed(frame.columns))].to_csv(tmp_path / "reversed.csv", index=False)
    for command in ("encode", "reconstruct"):
        code, _, err = cli(command, trained, tmp_path / "reversed.csv", "-o", tmp_path / "out.npy")
        assert code == 1 and err.count("\n") == 1, err
        assert "has the model's columns in another order ('px63', 'px62'" in err
    assert not (tmp_path / "out.npy").exists()
    code, _, err = cli("evaluate", trained, tmp_path / "reversed.csv")
    assert code == 1 and "Pass a table with the model's columns in its order: 'px0', 'px1'" in err


def test_outputs_never_replace_what_the_command_reads(cli, trained, table, tmp_path) -> None:
    data = tmp_path / "data.csv"
    data.write_bytes(Path(table).read_bytes())
    config = Path(trained) / "config.json"
    before = config.read_bytes()
    for args in (("encode", trained, data, "-o", data), ("encode", trained, data, "-o", config)):
        code, out, err = cli(*args)  # names it does not write
        assert code == 1 and out == "" and "--output must end in .npy" in err, err
    array = tmp_path / "data.npy"
    np.save(array, pd.read_csv(table).to_numpy())
    array_bytes = array.read_bytes()
    for args in (("encode", trained, array, "-o", array), ("reconstruct", trained, array, "-o", array),
                 ("generate", trained, "--interpolate", array, "-o", array)):
        code, out, err = cli(*args)
        assert code == 1 and out == "" and err.count("\n") == 1, err
        assert "would overwrite" in err and "which this command also uses. Pass another path." in err, err
    assert data.read_bytes() == Path(table).read_bytes() and config.read_bytes() == before
    assert array.read_bytes() == array_bytes


@pytest.mark.parametrize(("command", "name", "message"), [
    ("encode", "codes.csv", "--output must end in .npy. Got"),
    ("reconstruct", "recon.parquet", "--output must end in .npy or .txt. Got"),
    ("reconstruct", "recon.txt", "--output must end in .npy (.txt only for text models)."),
])
def test_an_output_in_a_format_not_written_is_refused(cli, trained, table, tmp_path, command, name, message) -> None:
    code, _, err = cli(command, trained, table, "-o", tmp_path / name)
    assert code == 1 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(("damage", "message"), [("missing", "has no model.safetensors"),
                                                  ("truncated", "does not match the checksum"),
                                                  ("tampered", "does not match the checksum")])
def test_damaged_model_directory(cli, trained, table, tmp_path, damage: str, message: str) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    weights = copy / "model.safetensors"
    if damage == "missing":
        weights.unlink()
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-50])
    else:
        data = bytearray(weights.read_bytes())
        data[-1] ^= 1
        weights.write_bytes(bytes(data))
    for command in (["info", copy], ["encode", copy, table, "-o", tmp_path / "c.npy"]):
        code, _, err = cli(*command)
        assert code == 1 and message in err and "Traceback" not in err


def test_not_a_model_directory(cli, tmp_path, table) -> None:
    code, _, err = cli("info", tmp_path)
    assert code == 1 and "is not an aekit model directory" in err


def test_unknown_config_key(cli, tmp_path, table) -> None:
    (tmp_path / "c.yaml").write_text("latnt_dim: 5\n")
    code, _, err = cli("train", table, "--out", tmp_path / "o", "--config", tmp_path / "c.yaml")
    assert code == 1 and "Unknown option 'latnt_dim'" in err and "Did you mean 'latent-dim'?" in err
    assert "Valid options: batch-size, color, " in err  # the file's spelling, not the flags'


@pytest.mark.parametrize(("line", "message"), [
    ("epochs: [1, 2]", "'epochs' in config file '{}' must be a whole number. Got [1, 2] instead."),
    ("latent_dim: 4.5", "'latent_dim' in config file '{}' must be a whole number. Got 4.5 instead."),
    ("epochs: true", "'epochs' in config file '{}' must be a whole number. Got True instead."),
    ("lr: {x: 1}", "'lr' in config file '{}' must be a number. Got {{'x': 1}} instead."),
    ("early_stopping: [true]", "'early_stopping' in config file '{}' must be true or false. Got [True] instead."),
])
def test_config_values_of_the_wrong_type_are_one_line(cli, tmp_path, table, line, message) -> None:
    (tmp_path / "c.yaml").write_text(line + "\n")
    code, _, err = cli("train", table, "--out", tmp_path / "o", "--config", tmp_path / "c.yaml")
    assert code == 1 and err == f"error: {message.format(tmp_path / 'c.yaml')}\n"


def test_text_models_train_on_a_text_file_and_decode_back(cli, tmp_path) -> None:
    text = tmp_path / "lines.txt"
    long_line = "a line longer than the 24 characters of a sample"
    text.write_text("to be or not to be\nthat is the question\n" * 20 + long_line + "\n")
    out = tmp_path / "text"
    code, _, err = cli("train", text, "--model", "recurrent", "--out", out, "--epochs", "1",
                       "--max-len", "24", "--latent-dim", "8", "--set", "hidden_dim=16", "--set", "embedding_dim=8")
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["extra"]["tokenizer"]
    code, _, err = cli("reconstruct", out, text, "-o", tmp_path / "r.txt")
    assert code == 0, err
    assert len((tmp_path / "r.txt").read_text().splitlines()) == 41  # the long line's pieces joined back
    code, printed, err = cli("evaluate", out, text, "--json")
    assert code == 0, err
    (row,) = json.loads(printed)
    assert row["rows"] == 42 and row["code_size"] == 8 and 0.0 <= row["exact_rows"] <= row["token_accuracy"] <= 1.0
    code, _, err = cli("evaluate", out, text, "--reference", text)
    assert code == 1 and err.startswith("error: --reference is for models of numbers") and err.count("\n") == 1
    report = (out / "report.html").read_text()
    assert "token_accuracy" in report and "<td>to be or not to be</td>" in report  # rows read back as text


def test_codes_of_a_text_model_are_one_row_per_line_or_refused(cli, tmp_path) -> None:
    text = tmp_path / "lines.txt"
    text.write_text("to be or not to be\nthat is the question\n" * 4)
    out = tmp_path / "text"
    code, _, err = cli("train", text, "--model", "recurrent", "--out", out, "--epochs", "1", "--max-len", "24",
                       "--latent-dim", "4", "--set", "hidden_dim=8", "--set", "embedding_dim=4", "--no-report")
    assert code == 0, err
    lines = tmp_path / "new.txt"
    lines.write_text("to be\n\nthat is\n")  # a blank line has no sample, so no code
    code, printed, err = cli("encode", out, lines, "-o", tmp_path / "c.npy")
    assert code == 0 and np.load(tmp_path / "c.npy").shape == (2, 4), err
    assert printed == f"Wrote codes of shape (2, 4) to {tmp_path / 'c.npy'}, one row per line with text of {lines}\n"
    # a line longer than max_len would be cut into several samples: rows and lines would no longer match
    lines.write_text("a line of thirty characters...\nto be\nnot to be, or to be: a longer one\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\na\n")
    for args, rows in ((("encode", out, lines, "-o", tmp_path / "c2.npy"), "codes"),
                       (("reconstruct", out, lines, "-o", tmp_path / "r.npy"), "reconstructions"),
                       (("evaluate", out, lines, "--features", "--labels", labels), "labels")):
        code, printed, err = cli(*args)
        assert code == 1 and printed == "" and err == (
            f"error: 2 of the 3 lines with text of {lines} are longer than this model's max_len of 24 characters "
            f"(the longest has 33): each would be cut into several samples, so the {rows} would not be one per "
            "line. Shorten or split those lines to 24 characters at most, or train a model with --max-len 33 or "
            "more.\n")
    assert not (tmp_path / "c2.npy").exists() and not (tmp_path / "r.npy").exists()
    code, printed, err = cli("reconstruct", out, lines, "-o", tmp_path / "r.txt")  # text: the pieces joined back
    assert code == 0 and len((tmp_path / "r.txt").read_text().splitlines()) == 3, err


def test_a_run_that_saved_nothing_leaves_no_folder_behind(cli, table, tmp_path) -> None:
    out = tmp_path / "w"
    code, _, err = cli("train", table, "--out", out, *FAST, "--lr", "1e30")
    assert code == 1 and err == ("error: The loss became NaN/Inf in epoch 1, before any epoch finished cleanly. "
                                 "Lower the learning rate (now 1e+30), set --grad-clip, or check the data scaling.\n")
    assert not out.exists()  # no run is there: not even the metrics.jsonl it began
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert cli("train", table, "--out", mine, *FAST, "--lr", "1e30")[0] == 1
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]  # the user's folder and file stay
    assert cli("train", table, "--out", tmp_path / "a" / "b" / "c", *FAST, "--lr", "1e30")[0] == 1
    assert not (tmp_path / "a").exists()  # the parents it made go too
    (mine / "metrics.jsonl").write_text('{"epoch": 1}\n')  # another run's log: kept unless --overwrite
    code, _, err = cli("train", table, "--out", mine, *FAST)
    assert code == 1 and err.startswith(f"error: --out {mine} holds a run's per-epoch log (metrics.jsonl); training "
                                        "afresh would replace it. Pass --resume")
    assert (mine / "metrics.jsonl").read_text() == '{"epoch": 1}\n'


def test_a_table_without_a_header_is_one_line_for_a_model_of_named_columns(cli, trained, digits, tmp_path) -> None:
    np.savetxt(tmp_path / "held.csv", digits[:20], delimiter=",")  # no header: read with a warning, as data
    code, out, err = cli("evaluate", trained, tmp_path / "held.csv")
    assert code == 1 and out == "" and err.count("\n") == 1, err  # the error alone, not the warning before it
    assert err.startswith(f"error: The data (file {tmp_path / 'held.csv'}) has no header row")
    (tmp_path / "words.txt").write_text("hello world\nfoo bar\n")  # advice for any command, not "before training"
    code, out, err = cli("evaluate", trained, tmp_path / "words.txt")
    assert code == 1 and err.count("\n") == 1 and "before training" not in err, err
    assert err.endswith(f"train a text model on it: aekit train {tmp_path / 'words.txt'} --model recurrent.\n")


def test_library_messages_name_the_invoked_commands_options() -> None:
    from aekit.cli import _in_cli_terms

    detect = ["detect", "fit", "data.csv"]
    assert (_in_cli_terms("needs 16001 steps (coarse_factor=500); or set coarse_factor=1.", detect)
            == "needs 16001 steps (--coarse-factor 500); or set --coarse-factor 1.")
    assert (_in_cli_terms("The 'max_epochs' parameter of AnomalyDetector must be an int", detect)
            == "--epochs must be an int")
    assert _in_cli_terms("or a smaller window_size.", detect) == "or a smaller --window-size."
    # names the command has no option for, and plain words, stay as they are
    kept = "got 1 sample (n_samples=1), the error of X"
    assert _in_cli_terms(kept, detect) == kept
    assert _in_cli_terms("set coarse_factor=1", ["train", "t.csv"]) == "set coarse_factor=1"
    # paths and quoted names are the user's text; tuples are written as the flags take them
    train = ["train", "t.csv"]
    for text in ("No such file: '/tmp/batch_size/none.csv'", "(counting from 0; file max_epochs/x.npy)",
                 "column 'latent_dim' of t.csv", "see max_epochs.txt"):
        assert _in_cli_terms(text, train) == text
    assert (_in_cli_terms("Pass input_shape, e.g. input_shape=(1, 8, 8).", train)
            == "Pass --input-shape, e.g. --input-shape 1,8,8.")
    # flags as they are typed: on, off by their --no- form, or left out
    assert (_in_cli_terms("with resume=False, resume=False, resume=True or with early_stopping=False.", train)
            == "without --resume, without --resume, --resume or with --no-early-stopping.")


def test_a_table_model_trained_here_checks_column_names_in_python(trained, table) -> None:
    from aekit import AutoEncoder

    model, frame = AutoEncoder.load(trained), pd.read_csv(table)
    assert list(model.feature_names_in_) == list(frame.columns)
    model.transform(frame)
    with pytest.raises(ValueError, match="feature names should match"):
        model.transform(frame[frame.columns[::-1]])


def test_image_flags_on_an_array_are_refused_not_stored(cli, tmp_path, digits) -> None:
    np.save(tmp_path / "images.npy", digits[:50].reshape(-1, 1, 8, 8))
    code, _, err = cli("train", tmp_path / "images.npy", "--model", "conv", "--image-size", "4", "--out",
                       tmp_path / "o", *FAST)
    assert code == 1 and "--image-size and --color apply to image files and folders" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["evaluate", "report", "encode", "sweep"])
def test_image_flags_on_a_table_are_refused_by_every_command(cli, trained, table, tmp_path, command) -> None:
    args = {"evaluate": [trained, table], "report": [trained, table, "-o", tmp_path / "r.html"],
            "encode": [trained, table, "-o", tmp_path / "c.npy"], "sweep": [table, "--latent-dims", "2"]}[command]
    code, _, err = cli(command, *args, "--color", "rgb")
    assert code == 1 and err.startswith("error: --image-size and --color apply to image files and folders"), err


def test_sweep_checks_its_out_folder_before_training(cli, table, tmp_path) -> None:
    (tmp_path / "file").write_text("")
    code, printed, err = cli("sweep", table, "--latent-dims", "2", "--epochs", "1", "--out", tmp_path / "file" / "s")
    assert code == 1 and "/file' is a file, not a folder" in err and printed == ""  # no table: nothing was trained


def test_a_folder_of_another_kind_is_named(cli, trained, table, tmp_path) -> None:
    code, _, err = cli("detect", "score", trained, table, "-o", tmp_path / "s.csv")
    assert code == 1 and "is not an aekit detector directory (no detector.json); it holds an aekit model " \
        "(config.json)" in err


def test_warnings_name_the_commands_options_too(cli, tmp_path, caplog) -> None:
    np.save(tmp_path / "narrow.npy", np.random.default_rng(0).random((40, 5)))
    with caplog.at_level("WARNING", logger="aekit"):
        code, _, err = cli("train", tmp_path / "narrow.npy", "--out", tmp_path / "o", "--epochs", "1", "--no-report")
    assert code == 0, err
    assert "--latent-dim 8 exceeds the 5 input features" in caplog.text and "latent_dim=" not in caplog.text


def test_a_single_set_line_in_a_config_file_is_one_value(cli, tmp_path, table) -> None:
    (tmp_path / "c.yaml").write_text("set: dropout=0.1\n")
    code, _, err = cli("train", table, "--out", tmp_path / "o", "--config", tmp_path / "c.yaml", *FAST)
    assert code == 0, err


def test_sweep_says_text_models_are_not_swept(cli, tmp_path) -> None:
    (tmp_path / "t.txt").write_text("to be or not to be\nthat is the question\n")
    code, _, err = cli("sweep", tmp_path / "t.txt", "--model", "recurrent", "--latent-dims", "2,4")
    assert code == 1 and "sweep compares code sizes against PCA on numbers; model 'recurrent' reads text" in err


def test_hidden_dims_on_a_model_without_layer_widths_names_its_size_options(cli, tmp_path) -> None:
    (tmp_path / "t.txt").write_text("to be or not to be\nthat is the question\n")
    code, _, err = cli("train", tmp_path / "t.txt", "--model", "recurrent", "--hidden-dims", "64", "--out",
                       tmp_path / "o")
    assert code == 1 and "--hidden-dims sets the layer widths of the dense and conv backbones; model 'recurrent' " \
        "has none" in err and "(CLI: --set hidden_dim=64)" in err
    assert not (tmp_path / "o").exists()


def test_generate_bounds_its_seed_and_sample_count(cli, tmp_path) -> None:
    out = tmp_path / "vae"
    assert cli("train", "digits", "--out", out, "--model", "vae", "--epochs", "1", "--latent-dim", "2")[0] == 0
    for output, args, message in (
            ("g.png", ["--seed", "-1"], "error: --seed must be an int in [0, 4294967295]. Got -1 instead."),
            ("g.png", ["-n", "5000"], "error: -n 5000 is too many tiles for a .png grid (at most 4096)."),
            ("g.npy", ["-n", str(10**12)], "error: -n 1000000000000 samples of shape (1, 8, 8) need 238418.6 GiB as "
                                           "float32, more than half of this machine's")):
        code, _, err = cli("generate", out, "-o", tmp_path / output, *args)
        assert code == 1 and err.startswith(message), err
        assert not (tmp_path / output).exists()


def test_encode_indices_of_a_vq_model(cli, table, tmp_path) -> None:
    from aekit.estimator import AutoEncoder

    out = tmp_path / "vq"
    code, _, err = cli("train", table, "--out", out, "--model", "vq-vae", *FAST, "--set", "codebook_size=8",
                       "--set", "embedding_dim=1")
    assert code == 0, err
    code, stdout, err = cli("encode", out, table, "-o", tmp_path / "indices.npy", "--indices")
    indices = np.load(tmp_path / "indices.npy")
    assert code == 0 and "Wrote codebook indices of shape (300, 3)" in stdout, err
    assert indices.dtype == np.int64 and indices.min() >= 0 and indices.max() < 8
    model = AutoEncoder.load(out)
    np.testing.assert_array_equal(indices, model.code_indices(pd.read_csv(table)))
