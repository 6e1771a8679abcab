"""train_sae on any tensor: held-out metrics, run directories that round-trip, schedules, and every error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aekit.errors import AekitError, DataError, ModelFileError
from aekit.sae import TensorActivations, load_sae, train_sae
from aekit.sae.activations import shuffled_batches
from aekit.sae.training import SAETrainConfig

from .conftest import sparse_activations

FAST = {"expansion": 4, "k": 3, "tokens": 60_000, "batch_size": 256, "lr": 3e-3, "dead_tokens": 5000,
        "device": "cpu"}


@pytest.fixture(scope="module")
def topk_run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("runs") / "topk"
    return train_sae(sparse_activations(8000), arch="topk", out=out, **FAST), out


def test_a_tensor_trains_and_metrics_json_has_the_held_out_figures(topk_run) -> None:
    run, out = topk_run
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("l0", "fvu", "nmse", "dead_fraction", "dense_fraction", "tokens_per_second"):
        assert key in metrics
    assert metrics["tokens"] == 400  # the last 5% of 8000 rows
    assert metrics["l0"] == pytest.approx(3.0)
    assert metrics["fvu"] < 0.35  # the data is exactly 3-sparse over 48 atoms
    assert metrics["dead_fraction"] <= 0.1
    assert run.history[-1]["tokens"] == metrics["train_tokens"]


def test_a_saved_run_loads_back_with_the_same_codes(topk_run) -> None:
    run, out = topk_run
    loaded = load_sae(out)
    x = sparse_activations(50, seed=7)
    torch.testing.assert_close(loaded.sae.encode(x), run.sae.encode(x))
    assert loaded.sae.config == run.sae.config
    assert loaded.train_config == run.train_config
    assert loaded.holdout == (7600, 8000)


@pytest.mark.parametrize(("name", "content"), [("metrics.json", b"[1,2"), ("history.json", b"{bad"),
                                               ("fires.npy", b"garbage")])
def test_a_damaged_side_file_is_named(topk_run, tmp_path, name: str, content: bytes) -> None:
    import shutil

    from aekit.errors import ModelFileError

    copy = tmp_path / "run"
    shutil.copytree(topk_run[1], copy)
    (copy / name).write_bytes(content)
    with pytest.raises(ModelFileError, match=f"Cannot read '.*{name}' .*Delete it \\(it is optional\\) or train"):
        load_sae(copy)


@pytest.mark.parametrize(("arch", "weight"), [("jumprelu", 3e-3), ("relu-l1", 3e-3)])
def test_penalised_architectures_get_sparser_as_the_weight_rises(arch: str, weight: float) -> None:
    torch.set_num_threads(1)
    x = sparse_activations(6000)
    low, high = (train_sae(x, arch=arch, sparsity_weight=w, **FAST).metrics for w in (weight, 10 * weight))
    assert high["l0"] < low["l0"] < 32  # of 64 latents
    assert high["fvu"] > low["fvu"]


def test_the_schedules_warm_up_and_decay() -> None:
    config = SAETrainConfig(lr_warmup=0.1, lr_decay=0.2, sparsity_warmup=0.5)
    factors = [config.lr_factor(step, 100) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[50] == 1.0
    assert factors[80] == pytest.approx(1.0) and factors[99] == pytest.approx(0.05)
    assert config.sparsity_factor(0, 100) == pytest.approx(0.02)
    assert config.sparsity_factor(49, 100) == pytest.approx(1.0)
    assert SAETrainConfig().learning_rate(2**14) == pytest.approx(2e-4)


def test_the_shuffling_buffer_covers_every_row_once_per_epoch() -> None:
    source = TensorActivations(torch.arange(1000, dtype=torch.float32).reshape(-1, 1).repeat(1, 2))
    batches = shuffled_batches(source, 0, 1000, batch_size=50, buffer_tokens=400,
                               generator=torch.Generator().manual_seed(0))
    seen = torch.cat([next(batches)[:, 0] for _ in range(20)])  # 1000 rows
    first = seen[:50]
    assert not torch.equal(first, first.sort().values)  # shuffled, not in corpus order
    counts = torch.bincount(seen.long(), minlength=1000)
    assert counts.max() <= 2 and (counts > 0).float().mean() > 0.8  # one epoch, give or take the buffer's tail


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(AekitError, match="Unknown option 'expanson' for train_sae.*Did you mean 'expansion'"):
        train_sae(sparse_activations(100), expanson=4)


def test_too_few_tokens_for_one_batch() -> None:
    with pytest.raises(AekitError, match="Only 95 training tokens remain after holding out 5, fewer than one batch"):
        train_sae(sparse_activations(100), batch_size=256)


def test_non_finite_activations_are_rejected() -> None:
    x = sparse_activations(100)
    x[3, 2] = float("nan")
    with pytest.raises(DataError, match="contain NaN or Inf"):
        train_sae(x)


def test_activations_of_the_wrong_shape_are_rejected() -> None:
    with pytest.raises(DataError, match=r"must be a 2-D array \(n_tokens, d_model\).*Got shape \(2, 3, 4\)"):
        train_sae(torch.zeros(2, 3, 4))


def test_bad_training_option_value() -> None:
    with pytest.raises(AekitError, match=r"'holdout' parameter of SAETrainer must be a float in \(0, 0.5\]"):
        SAETrainConfig(holdout=0.0)
    with pytest.raises(AekitError, match=r"'lr' parameter of SAETrainer must be a float in \(0, inf\)"):
        SAETrainConfig(lr=float("inf"))


def test_missing_run_directory(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="No SAE run directory at .*Pass the --out folder of 'aekit sae train'"):
        load_sae(tmp_path / "nope")


def test_a_folder_without_config(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="is not an aekit SAE run directory \\(no config.json\\)"):
        load_sae(tmp_path)


def test_tampered_weights_fail_the_checksum(topk_run, tmp_path) -> None:
    import shutil

    _, out = topk_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with open(copy / "sae.safetensors", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelFileError, match="does not match the checksum in config.json"):
        load_sae(copy)


def test_a_config_that_is_not_json(tmp_path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="is not valid JSON"):
        load_sae(tmp_path)


def test_activations_that_carry_gradients_train() -> None:
    """Activations captured by a hook outside no_grad keep their graph; training must not backpropagate into it."""
    torch.manual_seed(0)
    x = torch.randn(3000, 16).requires_grad_()
    run = train_sae(x, expansion=2, k=4, tokens=2000, batch_size=128, device="cpu")
    assert run.metrics["l0"] == pytest.approx(4.0) and x.grad is None


def test_constant_activations_are_refused() -> None:
    with pytest.raises(DataError, match=r"The activations are constant: all 95 rows sampled for initialisation equal "
                                        r"\[1, 2\], so there is no variance to explain \(FVU is undefined\)"):
        train_sae([[1.0, 2.0]] * 100, expansion=1, k=1, tokens=100, batch_size=10, device="cpu")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_activations_too_large_for_float32_arithmetic_are_refused(dtype: torch.dtype) -> None:
    x = sparse_activations(100).to(dtype)
    x[7, 3] = 1e30 if dtype == torch.float32 else 1e300
    with pytest.raises(DataError, match=r"The activations reach 1e\+(30|300) \(row 7, feature 3, counting from 0\), "
                                        r"beyond the 1e\+15 that float32 arithmetic on them allows"):
        train_sae(x, device="cpu")


def test_an_out_path_that_is_a_file_is_refused_before_training(tmp_path) -> None:
    (tmp_path / "existing_file").write_text("keep me")
    # 100 rows cannot fill a batch of 256: the path must be checked before anything else
    with pytest.raises(AekitError, match="existing_file: a file of that name exists. Pass a folder path."):
        train_sae(sparse_activations(100), out=tmp_path / "existing_file", batch_size=256)
    assert (tmp_path / "existing_file").read_text() == "keep me"


def test_an_out_folder_holding_an_autoencoder_model_is_refused_before_training(tmp_path) -> None:
    from aekit.io import FORMAT

    (tmp_path / "config.json").write_text(json.dumps({"format": FORMAT, "format_version": 1}))
    before = (tmp_path / "config.json").read_bytes()
    with pytest.raises(AekitError, match="holds an aekit model; writing here would replace its config.json. Pass "
                                         "another folder."):
        train_sae(sparse_activations(100), out=tmp_path, batch_size=256)
    assert (tmp_path / "config.json").read_bytes() == before


def test_an_sae_run_folder_is_replaced_only_with_overwrite(topk_run, tmp_path) -> None:
    import shutil

    shutil.copytree(topk_run[1], tmp_path / "run")
    (tmp_path / "run" / "dashboard.html").write_text("<html>the old SAE</html>")
    (tmp_path / "run" / "notes.txt").write_text("mine")
    before = (tmp_path / "run" / "sae.safetensors").read_bytes()
    with pytest.raises(AekitError) as caught:
        train_sae(sparse_activations(1000), out=tmp_path / "run", expansion=2, k=2, tokens=500, batch_size=100,
                  device="cpu")
    assert str(caught.value) == (f"out {tmp_path / 'run'} holds a trained SAE (config.json); training again would "
                                 "replace it. Pass overwrite=True to replace it, or another folder.")
    assert (tmp_path / "run" / "sae.safetensors").read_bytes() == before
    run = train_sae(sparse_activations(1000), out=tmp_path / "run", overwrite=True, expansion=2, k=2, tokens=500,
                    batch_size=100, device="cpu")
    assert load_sae(tmp_path / "run").sae.config == run.sae.config
    # the stale dashboard (of the old SAE) goes, the user's file stays, nothing is left beside the folder
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json", "fires.npy", "history.json", "metrics.json", "notes.txt", "sae.safetensors"]
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_an_interrupted_save_leaves_the_previous_run_whole(topk_run, tmp_path, monkeypatch) -> None:
    import shutil

    from aekit.sae import training

    shutil.copytree(topk_run[1], tmp_path / "run")
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    real = training.write_json

    def interrupted(path, data):  # Ctrl-C between the weights and the metrics
        if path.name == "metrics.json":
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(training, "write_json", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_sae(sparse_activations(1000), out=tmp_path / "run", overwrite=True, expansion=2, k=2, tokens=500,
                  batch_size=100, device="cpu")
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging folder left
    load_sae(tmp_path / "run")


def test_a_folder_without_a_run_keeps_files_named_like_run_parts(tmp_path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "dashboard.html").write_text("my own page")  # no run here: the user's, whatever its name
    train_sae(sparse_activations(1000), out=out, expansion=2, k=2, tokens=500, batch_size=100, device="cpu")
    assert (out / "dashboard.html").read_text() == "my own page"
    load_sae(out)


def _edited(run_dir, tmp_path, **changes):
    import shutil

    copy = tmp_path / "edited"
    shutil.copytree(run_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    (copy / "config.json").write_text(json.dumps(config))
    return copy


@pytest.mark.parametrize(("changes", "detail"), [
    ({"sae": [1]}, "config.json holds sae [1], not a dict"),
    ({"holdout": "x"}, "config.json holds holdout 'x', not a list"),
    ({"holdout": [5, 2]}, "config.json holds holdout [5, 2], not two row numbers [start, stop]"),
    ({"sae": {"expansion": 2}}, "the weights do not fit the SAE config.json describes (W_dec is (64, 16) where "
                                "config.json makes it (32, 16)"),
    ({"sae": {"arch": "jumprelu"}}, "Missing key(s) in state_dict"),
    ({"sae": {"k": 0}}, "The 'k' parameter of SparseAutoencoder must be"),
    ({"training": {"foo": 1}}, "Unknown option 'foo' for SAETrainConfig"),
])
def test_a_hand_edited_config_is_one_line(topk_run, tmp_path, changes, detail) -> None:
    copy = _edited(topk_run[1], tmp_path, **changes)
    with pytest.raises(ModelFileError) as caught:
        load_sae(copy)
    message = str(caught.value)
    assert message.startswith(f"Cannot load the SAE in '{copy}': ") and message.endswith(". Train it again.")
    assert detail in message and "\n" not in message and ".." not in message


def test_a_format_version_that_is_not_a_number_is_one_line(topk_run, tmp_path) -> None:
    copy = _edited(topk_run[1], tmp_path, format_version="1")
    with pytest.raises(ModelFileError, match="has format_version '1', not a whole number. Restore it or save the SAE "
                                             "run again."):
        load_sae(copy)


@pytest.mark.parametrize(("activations", "message"), [
    ([[1.0, 2.0], [3.0]], "The activations (list) cannot be read as one array: their rows differ in length"),
    (None, "The activations must be an array, a tensor or an activation directory. Got NoneType None instead."),
    ({"a": 1}, "The activations must be an array, a tensor or an activation directory. Got dict {'a': 1} instead."),
    (np.array([["a", "b"], ["c", "d"]]), "The activations must be numbers; they are of dtype <U1"),
    (torch.randn(20, 4).to_sparse(), "The activations are a sparse tensor (layout torch.sparse_coo); an SAE reads "
                                     "dense rows. Pass x.to_dense()."),
    (torch.randn(20, 4, dtype=torch.cfloat), "The activations are complex (torch.complex64); an SAE of complex "
                                             "values would drop their imaginary parts."),
    (np.ones((20, 4), dtype=complex), "The activations are complex (complex128)"),
])
def test_activations_that_are_not_a_real_array_are_one_line(activations, message) -> None:
    with pytest.raises(DataError) as caught:
        train_sae(activations, tokens=64, batch_size=8, device="cpu")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_two_rows_are_too_few_not_constant() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    with pytest.raises(DataError, match=r"^Only 1 training row\(s\) remain of the 2 activations after holding out 1 "
                                        r"\(holdout=0.05\); an SAE needs at least 2 to learn from. Pass more "
                                        r"activations.$"):
        train_sae(x, expansion=1, k=1, tokens=10, batch_size=1, device="cpu")


def test_a_budget_below_one_batch_is_refused() -> None:
    with pytest.raises(AekitError, match=r"^The training budget tokens=100 is less than one batch \(batch_size=256\). "
                                         r"Raise the budget to at least one batch, or lower batch_size.$"):
        train_sae(sparse_activations(1000), tokens=100, batch_size=256, device="cpu")


def test_a_budget_rounded_to_whole_batches_says_so(caplog) -> None:
    with caplog.at_level("WARNING", logger="aekit.sae.training"):
        run = train_sae(sparse_activations(1000), expansion=2, k=2, tokens=250, batch_size=100, device="cpu")
    assert run.metrics["train_tokens"] == 200 and run.metrics["steps"] == 2
    assert "The budget of 250 tokens was rounded down to 2 steps of 100: 200 tokens." in caplog.text
