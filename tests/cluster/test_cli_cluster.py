"""``aekit cluster fit`` / ``predict`` / ``report``: files in, clusters and a report out; bad input ends in one
line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# a tiny autoencoder: these tests check the files and messages, not the clusters' quality
FAST = ["--epochs", "2", "--latent-dim", "2", "--hidden-dims", "16", "--seed", "0", "--device", "cpu"]
COLUMNS = ["cluster", "confidence", "distance"]


def _sections(path: Path) -> list[str]:
    return re.findall(r"<h2>([^<]*)</h2>", path.read_text(encoding="utf-8"))


def _one_line_error(code: int, out: str, err: str) -> None:
    assert code != 0 and out == "" and err.count("\n") == 1 and err.startswith("error: "), (code, out, err)
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """Three blobs in 6 features, 60 rows named by an id column."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(loc=4.0 * c, size=(20, 6)) for c in range(3)])
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(6)])
    frame.insert(0, "id", [f"r{i:02d}" for i in range(len(frame))])
    path = tmp_path_factory.mktemp("data") / "blobs.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory) -> Path:
    """The first 150 of scikit-learn's digits as 8x8 images, with their labels under 'y'."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    path = tmp_path_factory.mktemp("data") / "digits150.npz"
    np.savez(path, X=digits.images[:150, None].astype(np.float32), y=digits.target[:150])
    return path


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """12 digit images in two class subfolders (zero/, one/)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = tmp_path_factory.mktemp("images")
    for name, label in (("zero", 0), ("one", 1)):
        (folder / name).mkdir()
        for i, image in enumerate(digits.images[digits.target == label][:6]):
            Image.fromarray((image * 255 / 16).astype(np.uint8), "L").save(folder / name / f"{i}.png")
    return folder


def test_fit_a_table_then_predict_gives_the_same_clusters(cli, table, tmp_path) -> None:
    run_dir = tmp_path / "run"
    code, out, err = cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "3", *FAST)
    assert code == 0, err
    assert {p.name for p in run_dir.iterdir()} == {"clustering.json", "clustering.safetensors", "autoencoder",
                                                    "clusters.csv", "report.html"}
    assert re.search(r"Clustered 60 samples of file .* into 3 clusters \(\w+\) in the 2-dimensional codes of a dense "
                     r"autoencoder, in [\d.]+s\.", out)
    assert re.search(r"Cluster sizes: 0: \d+, 1: \d+, 2: \d+\.", out) and f"Saved to {run_dir}" in out
    assert "accuracy" not in out  # a table's columns are all features: no labels
    clusters = pd.read_csv(run_dir / "clusters.csv")
    assert list(clusters.columns) == ["id", *COLUMNS]
    assert clusters["id"].tolist() == pd.read_csv(table)["id"].tolist()  # the table's ids, in its order
    assert clusters["cluster"].between(0, 2).all() and clusters["distance"].ge(0).all()
    from aekit import LatentClustering

    fitted = LatentClustering.load(run_dir)  # the columns are the clustering's own figures
    X = pd.read_csv(table).set_index("id")
    np.testing.assert_allclose(clusters["confidence"], fitted.predict_proba(X).max(axis=1), rtol=1e-5)
    assigned = fitted.transform(X)[np.arange(len(X)), clusters["cluster"]]  # to the centre of its own cluster
    np.testing.assert_allclose(clusters["distance"], assigned, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clusters["cluster"], fitted.labels_)
    assert _sections(run_dir / "report.html") == ["Summary", "Cluster sizes", "Latent space", "Prototypes"]
    html = (run_dir / "report.html").read_text()
    assert "silhouette" in html and "inertia" in html and "<th class=\"num\">f5</th>" in html  # feature means
    # the stored read options come back with the clustering; its labels are those of the CSV
    from aekit import LatentClustering

    loaded = LatentClustering.load(run_dir)
    assert loaded.metadata_ == {"image_size": None, "color": "grayscale"}
    # LatentClustering's default method: the command has none of its own
    assert loaded.method == LatentClustering().method and f"into 3 clusters ({loaded.method})" in out
    np.testing.assert_array_equal(loaded.labels_, clusters["cluster"])
    code, out, err = cli("cluster", "predict", run_dir, table, "-o", tmp_path / "again.csv")
    assert code == 0 and f"Wrote {tmp_path / 'again.csv'}" in out, err
    assert (tmp_path / "again.csv").read_text() == (run_dir / "clusters.csv").read_text()


def test_a_table_without_ids_is_numbered(cli, table, tmp_path) -> None:
    plain = tmp_path / "plain.csv"
    pd.read_csv(table).drop(columns="id").to_csv(plain, index=False)
    code, _, err = cli("cluster", "fit", plain, "--out", tmp_path / "run", "--n-clusters", "2", "--method", "kmeans",
                       "--no-report", *FAST)
    assert code == 0 and not (tmp_path / "run" / "report.html").exists(), err
    clusters = pd.read_csv(tmp_path / "run" / "clusters.csv")
    assert list(clusters.columns) == ["id", *COLUMNS] and clusters["id"].tolist() == list(range(60))
    np.testing.assert_allclose(clusters["confidence"], clusters["confidence"].clip(0.5, 1.0))


def test_images_from_a_folder_are_named_by_their_files_and_judged_by_their_classes(cli, image_folder,
                                                                                     tmp_path) -> None:
    run_dir = tmp_path / "run"
    code, out, err = cli("cluster", "fit", image_folder, "--out", run_dir, "--n-clusters", "2", "--image-size",
                         "6", *FAST)
    assert code == 0, err
    clusters = pd.read_csv(run_dir / "clusters.csv")
    from aekit.cluster.report import compare_with_labels

    # the figures are those of the written clusters against the folder's classes (its subfolders)
    agreement = compare_with_labels(clusters["file"].str.split("/").str[0], clusters["cluster"], 2)
    assert (f"Against the data's 2 classes (not used to cluster): accuracy {agreement.accuracy:.3f} (clusters matched "
            f"one-to-one to classes), NMI {agreement.nmi:.3f}, ARI {agreement.ari:.3f}.") in out
    assert list(clusters.columns) == ["file", *COLUMNS]
    assert clusters["file"].tolist() == [f"{name}/{i}.png" for name in ("one", "zero") for i in range(6)]
    assert _sections(run_dir / "report.html") == ["Summary", "Cluster sizes", "Latent space", "Prototypes",
                                                   "Members", "Labels"]
    # predict reads the folder as fit did (resized to 6 x 6): the stored options, not the files' 8 x 8
    code, _, err = cli("cluster", "predict", run_dir, image_folder, "-o", tmp_path / "p.csv")
    assert code == 0, err
    assert (tmp_path / "p.csv").read_text() == (run_dir / "clusters.csv").read_text()


def test_report_on_labelled_data_compares_the_clusters_with_the_classes(cli, digits_npz, tmp_path) -> None:
    run_dir = tmp_path / "run"
    code, out, err = cli("cluster", "fit", digits_npz, "--out", run_dir, "--n-clusters", "10", "--method", "idec",
                         "--no-report", *FAST)
    assert code == 0 and "(idec)" in out and "accuracy" in out, err
    clusters = pd.read_csv(run_dir / "clusters.csv")
    assert list(clusters.columns) == ["id", *COLUMNS] and clusters["id"].tolist() == list(range(150))
    code, out, err = cli("cluster", "report", run_dir, digits_npz)
    path = run_dir / "report-digits150.html"
    assert code == 0 and out.strip() == f"Report: {path}", err
    assert _sections(path) == ["Summary", "Cluster sizes", "Latent space", "Prototypes", "Members", "Refinement",
                               "Labels"]
    html = path.read_text()
    assert re.search(r"accuracy 0\.\d{3}, NMI 0\.\d{3}, ARI -?0\.\d{3} against 10 classes", html)
    assert "<h3>Contingency table</h3>" in html and "matched class" in html
    assert "<title>Clusters in digits150.npz</title>" in html


def test_overwrite_replaces_the_clustering_and_keeps_the_users_files(cli, table, tmp_path) -> None:
    run_dir = tmp_path / "run"
    assert cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "2", "--no-report", *FAST)[0] == 0
    before = json.loads((run_dir / "clustering.json").read_text())
    code, out, err = cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "3", *FAST)
    _one_line_error(code, out, err)
    assert err == (f"error: --out {run_dir} holds a fitted clustering (clustering.json); fitting again would replace "
                   "it. Pass --overwrite to replace it, or another folder.\n")
    assert json.loads((run_dir / "clustering.json").read_text()) == before
    (run_dir / "notes.txt").write_text("mine")
    (run_dir / "report-old.html").write_text("the previous clustering's")
    code, out, err = cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "3", "--overwrite", *FAST)
    assert code == 0, err
    assert json.loads((run_dir / "clustering.json").read_text())["params"]["n_clusters"] == 3
    assert (run_dir / "notes.txt").read_text() == "mine" and not (run_dir / "report-old.html").exists()
    assert f"Removed the previous clustering's report-old.html from {run_dir}" in out
    assert set(pd.read_csv(run_dir / "clusters.csv")["cluster"]) <= {0, 1, 2}


@pytest.mark.parametrize("held, kind", [("detector.json", "aekit.anomaly_detector"), ("config.json", "aekit.model")])
def test_an_out_folder_of_another_aekit_kind_is_refused(cli, table, tmp_path, held: str, kind: str) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / held).write_text(json.dumps({"format": kind}))
    code, out, err = cli("cluster", "fit", table, "--out", folder, *FAST)
    _one_line_error(code, out, err)
    what = "anomaly detector" if "detector" in kind else "model"
    assert f"is another aekit folder; it holds an aekit {what} ({held})" in err
    assert sorted(p.name for p in folder.iterdir()) == [held]


@pytest.mark.parametrize("args, message", [
    ([], "error: Missing argument 'DATA'. (see 'aekit cluster fit --help')"),
    (["missing.csv"], "error: No such file: 'missing.csv'. Check the path."),
    (["TABLE", "--n-clusters", "0"], "error: --n-clusters must be an int in [1, inf]. Got 0 instead."),
    (["TABLE", "--n-clusters", "61"], "error: --n-clusters 61 is more than the 60 samples of file TABLE. Pass "
                                      "--n-clusters 60 or fewer, or more data."),
    (["TABLE", "--method", "kmean"], "error: --method must be one of kmeans, gmm, idec. Got 'kmean' instead. Did you "
                                     "mean 'kmeans'?"),
])
def test_bad_fit_input_is_one_line(cli, table, tmp_path, args: list[str], message: str) -> None:
    args = [str(table) if a == "TABLE" else a for a in args]
    code, out, err = cli("cluster", "fit", *args, "--out", tmp_path / "run", *FAST)
    assert code != 0 and out == "" and err == message.replace("TABLE", str(table)) + "\n"
    assert not (tmp_path / "run").exists()


def test_predict_refuses_what_is_not_a_clustering_other_data_and_its_own_files(cli, table, digits_npz,
                                                                              tmp_path) -> None:
    run_dir = tmp_path / "run"
    assert cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "2", "--no-report", *FAST)[0] == 0
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"format": "aekit.model"}))
    code, out, err = cli("cluster", "predict", model, table, "-o", tmp_path / "p.csv")
    _one_line_error(code, out, err)
    assert (f"error: '{model}' is not an aekit latent clustering directory (no clustering.json); it holds an aekit "
            "model (config.json).") in err
    fewer = tmp_path / "fewer.csv"
    pd.read_csv(table).drop(columns="f5").to_csv(fewer, index=False)
    code, out, err = cli("cluster", "predict", run_dir, fewer, "-o", tmp_path / "p.csv")
    _one_line_error(code, out, err)
    assert err.startswith(f"error: The data (file {fewer}) has 5 columns, the model 6: it lacks 'f5'.")
    code, out, err = cli("cluster", "predict", run_dir, digits_npz, "-o", tmp_path / "p.csv")
    _one_line_error(code, out, err)
    assert err == (f"error: This model expects 6 features per sample; the data has 64 (file {digits_npz}). Use data "
                   "with the same columns as the training data.\n")
    assert not (tmp_path / "p.csv").exists()
    for output, problem in [(run_dir / "clusters.csv", "would overwrite the clusters that 'aekit cluster fit' wrote"),
                            (run_dir / "autoencoder" / "codes.csv", "would write into"),
                            (table, "would overwrite")]:
        code, out, err = cli("cluster", "predict", run_dir, table, "-o", output)
        _one_line_error(code, out, err)
        assert err.startswith(f"error: --output {output} {problem}") and err.rstrip().endswith("Pass another path.")
    for output in (run_dir / "clustering.json", tmp_path / "cc.html"):  # predict writes a CSV, under no other name
        code, out, err = cli("cluster", "predict", run_dir, table, "-o", output)
        _one_line_error(code, out, err)
        assert err == f"error: --output must end in .csv. Got '{output}' instead.\n"
    assert not (tmp_path / "cc.html").exists()
    assert cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "2", "--overwrite", *FAST)[0] == 0
    code, out, err = cli("cluster", "report", run_dir, table, "-o", run_dir / "report.html")
    _one_line_error(code, out, err)
    assert "would overwrite the report that 'aekit cluster fit' wrote beside the clustering" in err
    code, out, err = cli("cluster", "report", run_dir, table, "-o", run_dir / "clusters.csv")
    assert err == f"error: --output must end in .html or .htm. Got '{run_dir / 'clusters.csv'}' instead.\n"


@pytest.mark.parametrize("text", ["to be or not to be\nthat is the question\n",  # 'to', 'be' name two columns
                                  "hello world\nfoo bar\n"])
def test_prose_in_a_txt_file_points_at_text_models(cli, table, tmp_path, text: str) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text(text)
    hint = f"If it is text (a sample per line), train a text model on it: aekit train {lines} --model recurrent.\n"
    code, out, err = cli("cluster", "fit", lines, "--out", tmp_path / "run", *FAST)
    _one_line_error(code, out, err)
    assert err.endswith(hint), err
    run_dir = tmp_path / "fitted"
    assert cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "2", "--no-report", *FAST)[0] == 0
    code, out, err = cli("cluster", "predict", run_dir, lines, "-o", tmp_path / "p.csv")
    _one_line_error(code, out, err)
    assert err.endswith(hint), err


def test_fewer_distinct_codes_than_clusters_is_one_warning_and_a_report_of_the_empty_ones(cli, tmp_path,
                                                                                          caplog) -> None:
    path = tmp_path / "twice.csv"
    pd.DataFrame(np.repeat([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]], 10, axis=0), columns=["a", "b", "c"]).to_csv(
        path, index=False)
    code, out, err = cli("cluster", "fit", path, "--out", tmp_path / "run", "--n-clusters", "4", "--method", "kmeans",
                         *FAST)
    assert code == 0 and "Cluster sizes: 0: 10, 1: 10, 2: 0, 3: 0." in out, err
    # scikit-learn warns once per restart, over two lines: the command says it once, in its own terms
    said = [r.getMessage() for r in caplog.records if "distinct clusters" in r.getMessage()]
    assert said == ["Clustering the codes: Number of distinct clusters (2) found smaller than --n-clusters (4). "
                    "Possibly due to duplicate points in X. Pass fewer clusters than --n-clusters 4, or train the "
                    "autoencoder longer."]
    html = (tmp_path / "run" / "report.html").read_text()
    assert "2 clusters hold none of these samples." in html and "<td>2 (0)</td>" in html


def test_without_autoencoder_options_the_clustering_picks_its_own(cli, table, tmp_path, monkeypatch) -> None:
    from aekit import LatentClustering
    from aekit.errors import AekitError

    given = []

    def stop(self, X, y=None):  # the autoencoder the command passed, without the training
        given.append(self.autoencoder)
        raise AekitError("stopped before training.")

    monkeypatch.setattr(LatentClustering, "fit", stop)
    assert cli("cluster", "fit", table, "--out", tmp_path / "a", "--n-clusters", "2")[2] == "error: stopped before " \
                                                                                             "training.\n"
    assert cli("cluster", "fit", table, "--out", tmp_path / "b", "--device", "cpu")[0] == 1
    assert given[0] is None  # LatentClustering's own: its code size and seeding
    # any autoencoder option: an AutoEncoder with the code size LatentClustering would pick (6 features: 3)
    assert given[1].get_params()["latent_dim"] == 3 and given[1].device == "cpu" and given[1].model == "dense"
    assert given[1].random_state is None  # seeded by the clustering's --seed, as its own would be


@pytest.mark.parametrize("held", ["clusters.csv", "report.html", "autoencoder/config.json"])
def test_an_out_folder_of_the_users_own_files_is_refused_before_the_data_is_read(cli, table, tmp_path, monkeypatch,
                                                                                 held: str) -> None:
    import aekit.cli_cluster

    monkeypatch.setattr(aekit.cli_cluster, "read_samples",
                        lambda *args, **kwargs: pytest.fail("read DATA before checking --out"))
    folder = tmp_path / "mine"
    (folder / held).parent.mkdir(parents=True)
    (folder / held).write_text("the user's")
    code, out, err = cli("cluster", "fit", table, "--out", folder, "--overwrite", *FAST)
    _one_line_error(code, out, err)
    assert err == (f"error: --out '{folder}' exists and is not a saved latent clustering or an empty directory; saving "
                   "there would replace it. Pass a new path, or move it away first.\n")
    assert (folder / held).read_text() == "the user's" and len(list(folder.rglob("*"))) == len(Path(held).parts)


def test_the_current_directory_is_refused_as_out_before_the_data_is_read(cli, table, tmp_path, monkeypatch) -> None:
    import aekit.cli_cluster

    monkeypatch.setattr(aekit.cli_cluster, "read_samples",
                        lambda *args, **kwargs: pytest.fail("read DATA before checking --out"))
    monkeypatch.chdir(tmp_path)
    for out in (".", str(tmp_path)):
        code, stdout, err = cli("cluster", "fit", table, "-o", out, *FAST)
        _one_line_error(code, stdout, err)
        assert err == (f"error: --out '{out}' is the current directory, and saving replaces the whole folder. Pass a "
                       "folder inside it, e.g. 'run'.\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failing", ["aekit.cluster.report.write_clustering_report", "aekit.cli_cluster.write_table"])
def test_an_overwrite_stopped_after_the_save_leaves_none_of_the_previous_clusterings_outputs(
        cli, table, tmp_path, monkeypatch, failing: str) -> None:
    from aekit import LatentClustering
    from aekit.errors import AekitError

    run_dir = tmp_path / "run"
    assert cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "2", *FAST)[0] == 0
    (run_dir / "notes.txt").write_text("mine")
    (run_dir / "report-old.html").write_text("the previous clustering's")

    def fail(*args, **kwargs):
        raise AekitError("No space left on device.")

    monkeypatch.setattr(failing, fail)
    code, out, err = cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "3", "--overwrite", *FAST)
    assert code == 1 and err == "error: No space left on device.\n", err
    loaded = LatentClustering.load(run_dir)  # the new clustering is saved...
    assert loaded.n_clusters == 3
    # ...and nothing of the previous one's describes it: its clusters and reports are gone, the user's notes stay
    names = {p.name for p in run_dir.iterdir()}
    assert names == {"clustering.json", "clustering.safetensors", "autoencoder", "notes.txt"} | (
        {"clusters.csv"} if "report" in failing else set())
    if "clusters.csv" in names:  # written after the save: this clustering's
        np.testing.assert_array_equal(pd.read_csv(run_dir / "clusters.csv")["cluster"], loaded.labels_)


def test_a_default_code_size_that_the_model_cannot_have_is_refused_before_training(cli, digits_npz, tmp_path,
                                                                                  monkeypatch) -> None:
    from aekit import LatentClustering
    from aekit.errors import AekitError

    fast = ["--epochs", "2", "--device", "cpu", "--n-clusters", "2"]
    code, out, err = cli("cluster", "fit", digits_npz, "--out", tmp_path / "run", "--model", "vq-vae", *fast)
    _one_line_error(code, out, err)
    # 64 pixels: the default code size is 10, which a VQ-VAE's vectors of 4 numbers cannot make up
    assert err == ("error: The default code size 10 does not suit --model vq-vae: The 'embedding_dim' parameter of "
                   "VQBottleneck must divide --latent-dim 10 (the code is --latent-dim // embedding_dim vectors of "
                   "embedding_dim numbers). Got 4 instead. Pass --latent-dim, e.g. --latent-dim 8.\n")
    assert not (tmp_path / "run").exists()

    def stop(self, X, y=None):
        raise AekitError("stopped before training.")

    monkeypatch.setattr(LatentClustering, "fit", stop)  # the size it suggests passes the check
    code, _, err = cli("cluster", "fit", digits_npz, "--out", tmp_path / "run", "--model", "vq-vae", "--latent-dim",
                       "8", *fast)
    assert err == "error: stopped before training.\n"


def test_a_model_of_images_for_a_table_is_refused_in_the_commands_terms(cli, table, tmp_path) -> None:
    for model, reads, fix in [
        ("conv", "signals or windows (channels, length) or images (channels, height, width)", "1,H,W"),
        ("transformer", "signals or windows (channels, length)", "1,6 for one channel"),
    ]:
        code, out, err = cli("cluster", "fit", table, "--out", tmp_path / "run", "--model", model, *FAST)
        _one_line_error(code, out, err)
        assert err == (f"error: Model '{model}' needs samples shaped as {reads}, but the data's samples have shape "
                       f"(6,). Pass --input-shape, e.g. --input-shape {fix}.\n")
        assert not (tmp_path / "run").exists()
    code, out, err = cli("cluster", "fit", table, "--out", tmp_path / "run", "--model", "conv", "--input-shape",
                         "1,2,2", *FAST)
    _one_line_error(code, out, err)
    assert "--input-shape must have 6 elements like the data. Got (1, 2, 2) (4) instead." in err
    # rows that are images: --input-shape says so, as for 'aekit train' and 'aekit detect fit'
    run_dir = tmp_path / "run"
    code, out, err = cli("cluster", "fit", table, "--out", run_dir, "--model", "conv", "--input-shape", "1,2,3",
                         "--n-clusters", "2", "--no-report", *FAST)
    assert code == 0 and "codes of a conv autoencoder" in out, err
    code, _, err = cli("cluster", "predict", run_dir, table, "-o", tmp_path / "p.csv")
    assert code == 0 and (tmp_path / "p.csv").read_text() == (run_dir / "clusters.csv").read_text(), err


def test_images_are_read_later_at_the_size_they_had_at_fit(cli, image_folder, tmp_path) -> None:
    from PIL import Image

    from aekit import LatentClustering

    run_dir = tmp_path / "run"
    code, _, err = cli("cluster", "fit", image_folder, "--out", run_dir, "--n-clusters", "2", "--no-report", *FAST)
    assert code == 0, err
    assert LatentClustering.load(run_dir).metadata_ == {"image_size": [8, 8], "color": "grayscale"}
    larger = tmp_path / "larger"  # the same images at 12 x 12: resized back to 8 x 8 without being told
    for path in image_folder.rglob("*.png"):
        (larger / path.parent.name).mkdir(parents=True, exist_ok=True)
        Image.open(path).resize((12, 12)).save(larger / path.parent.name / path.name)
    code, out, err = cli("cluster", "predict", run_dir, larger, "-o", tmp_path / "p.csv")
    assert code == 0 and "Assigned 12 samples of image folder" in out, err
    assert pd.read_csv(tmp_path / "p.csv")["file"].tolist() == pd.read_csv(run_dir / "clusters.csv")["file"].tolist()
    # read otherwise than at fit: the message names the options that read them as then
    code, out, err = cli("cluster", "predict", run_dir, image_folder, "-o", tmp_path / "q.csv", "--image-size", "6")
    _one_line_error(code, out, err)
    assert err == (f"error: The images of image folder {image_folder} are 6x6 pixels with 1 channel as read; the "
                   "clustering was trained on images of 8x8 pixels with 1 channel. Pass --image-size 8,8 to read "
                   "them as those were.\n")
    code, out, err = cli("cluster", "report", run_dir, image_folder, "-o", tmp_path / "r.html", "--color", "rgb")
    _one_line_error(code, out, err)
    assert "are 8x8 pixels with 3 channels as read" in err and "Pass --color grayscale to read them" in err
    assert not (tmp_path / "q.csv").exists() and not (tmp_path / "r.html").exists()


def test_counts_and_articles_read_as_english(cli, table, tmp_path) -> None:
    run_dir = tmp_path / "run"
    code, out, err = cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "1", "--model", "overcomplete",
                         "--method", "kmeans", "--no-report", *FAST)
    assert code == 0, err
    assert "into 1 cluster (kmeans) in the 2-dimensional codes of an overcomplete autoencoder" in out
    one = tmp_path / "one.csv"
    pd.read_csv(table).head(1).to_csv(one, index=False)
    code, out, err = cli("cluster", "predict", run_dir, one, "-o", tmp_path / "p.csv")
    assert code == 0 and f"Assigned 1 sample of file {one} to 1 cluster: 0: 1." in out, err
    code, out, err = cli("cluster", "fit", one, "--out", tmp_path / "other", "--n-clusters", "2", *FAST)
    assert err == f"error: --n-clusters 2 is more than the 1 sample of file {one}. Pass --n-clusters 1 or fewer, " \
                  "or more data.\n"
