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
    assert clusters["confidence"].between(0.33, 1).all()  # the largest of 3 posteriors
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
    assert re.search(r"Against the data's 2 classes \(not used to cluster\): accuracy [01]\.\d{3} .*NMI .*ARI", out)
    clusters = pd.read_csv(run_dir / "clusters.csv")
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
                            (run_dir / "clustering.json", "would overwrite"),
                            (run_dir / "autoencoder" / "codes.csv", "would write into"),
                            (table, "would overwrite")]:
        code, out, err = cli("cluster", "predict", run_dir, table, "-o", output)
        _one_line_error(code, out, err)
        assert err.startswith(f"error: --output {output} {problem}") and err.rstrip().endswith("Pass another path.")
    assert cli("cluster", "fit", table, "--out", run_dir, "--n-clusters", "2", "--overwrite", *FAST)[0] == 0
    code, out, err = cli("cluster", "report", run_dir, table, "-o", run_dir / "report.html")
    _one_line_error(code, out, err)
    assert "would overwrite the report that 'aekit cluster fit' wrote beside the clustering" in err
    code, out, err = cli("cluster", "report", run_dir, table, "-o", run_dir / "clusters.csv")
    assert err == f"error: --output must end in .html. Got '{run_dir / 'clusters.csv'}' instead.\n"


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
    assert "2 cluster(s) hold none of these samples." in html and "<td>2 (0)</td>" in html


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
