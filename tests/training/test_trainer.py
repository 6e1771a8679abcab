"""The training loop: determinism, resume, early stopping, NaN handling, schedules, metrics, sources."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from aekit import Autoencoder, build_config
from aekit.errors import AekitError
from aekit.training import (
    StreamingSource,
    TensorSource,
    Trainer,
    TrainerConfig,
    TrainingError,
    make_source,
    resolve_device,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0).astype(np.float32)


def _model(seed: int = 0, **options) -> Autoencoder:
    torch.manual_seed(seed)
    return Autoencoder(build_config("dense", input_shape=(64,), latent_dim=4,
                                    options={"hidden_dims": [32], **options}))


def _fit(data, run_dir=None, resume=False, **config):
    model = _model()
    settings = dict(max_epochs=4, batch_size=64, seed=1, early_stopping=False)
    settings.update(config)
    trainer = Trainer(TrainerConfig(**settings), run_dir=run_dir)
    result = trainer.fit(model, make_source(data, np.arange(1500), None, CPU),
                         make_source(data, np.arange(1500, 1797), None, CPU), resume=resume)
    return model, result


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_training_lowers_the_loss(data) -> None:
    _, result = _fit(data, max_epochs=8)
    losses = [r["val_loss"] for r in result.history]
    assert losses[-1] < 0.7 * losses[0]


def test_same_seed_same_weights(data) -> None:
    assert _same(_fit(data)[0], _fit(data)[0])
    assert not _same(_fit(data)[0], _fit(data, seed=2)[0])


@pytest.mark.parametrize("schedule", ["constant", "cosine", "onecycle", "plateau"])
def test_resume_continues_exactly(data, tmp_path, schedule: str) -> None:
    full, _ = _fit(data, max_epochs=4, schedule=schedule)
    half_dir = tmp_path / "part"
    _fit_interrupted(data, half_dir, schedule)
    resumed, result = _fit(data, run_dir=half_dir, resume=True, max_epochs=4, schedule=schedule)
    assert _same(full, resumed)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    lines = (half_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


def _fit_interrupted(data, run_dir, schedule) -> None:
    """Train 4 planned epochs but stop after 2, as a killed process would (the checkpoint holds epoch 2)."""

    class Stop(Exception):
        pass

    original = Trainer._append_metrics
    calls = {"n": 0}

    def append_then_maybe_die(self, record):
        original(self, record)
        calls["n"] += 1
        if calls["n"] == 2:
            raise Stop

    Trainer._append_metrics = append_then_maybe_die
    try:
        with pytest.raises(Stop):
            _fit(data, run_dir=run_dir, max_epochs=4, schedule=schedule)
    finally:
        Trainer._append_metrics = original


def test_resume_without_checkpoint_fails_clearly(data, tmp_path) -> None:
    with pytest.raises(AekitError, match=r"no checkpoint.safetensors in .*\. Train with resume=False first\.$"):
        _fit(data, run_dir=tmp_path, resume=True)


@pytest.mark.parametrize(("first", "then", "message"), [
    ({}, {"lr": 0.1}, r"was trained with lr=0\.001; this run asks for lr=0\.1\."),
    ({}, {"weight_decay": 0.01, "seed": 2}, r"weight_decay=0\.0, seed=1; this run asks for weight_decay=0\.01, seed=2"),
    ({"schedule": "cosine", "max_epochs": 2}, {"schedule": "cosine", "max_epochs": 4}, r"max_epochs=2; .*max_epochs=4"),
])
def test_resume_refuses_settings_the_checkpoint_would_override(data, tmp_path, first, then, message) -> None:
    # a saved optimizer state brings back its own lr; a cosine or one-cycle schedule is laid out over all steps
    _fit(data, run_dir=tmp_path, **{"max_epochs": 2, **first})
    with pytest.raises(AekitError, match=message) as error:
        _fit(data, run_dir=tmp_path, resume=True, **{"max_epochs": 4, **then})
    # the way out in the Python API's words (the command line says "another --out without --resume")
    assert str(error.value).endswith("or train afresh into another run_dir with resume=False.")
    if "schedule" not in first:
        _fit(data, run_dir=tmp_path, resume=True, max_epochs=3)  # a constant schedule may go on for longer


def test_resume_refuses_other_splits_and_damaged_weights(data, tmp_path) -> None:
    from aekit.io import load_state, save_state

    _fit(data, run_dir=tmp_path, max_epochs=2)
    with pytest.raises(AekitError, match="trained on 1500 rows and validated on 297; this run has 1400 and 397"):
        train, val = make_source(data, np.arange(1400), None, CPU), make_source(data, np.arange(1400, 1797), None, CPU)
        Trainer(TrainerConfig(max_epochs=4, batch_size=64, seed=1, early_stopping=False), run_dir=tmp_path).fit(
            _model(), train, val, resume=True)
    with pytest.raises(AekitError, match=r"was trained on other rows than this run's, as the model reads them "
                                         r"\(another data file, or another scaler\)"):
        shifted = data + 1.0  # as many rows, other values
        train, val = make_source(shifted, np.arange(1500), None, CPU), make_source(shifted, np.arange(1500, 1797), None,
                                                                                   CPU)
        Trainer(TrainerConfig(max_epochs=4, batch_size=64, seed=1, early_stopping=False), run_dir=tmp_path).fit(
            _model(), train, val, resume=True)
    with pytest.raises(AekitError, match=r"is of another model: its likelihood is \"mse\", this run's \"l1\"\. "
                                         r"Resume with the model settings"):
        Trainer(TrainerConfig(max_epochs=4, batch_size=64, seed=1, early_stopping=False), run_dir=tmp_path).fit(
            Autoencoder(build_config("dense", input_shape=(64,), latent_dim=4, options={"hidden_dims": [32]},
                                     likelihood="l1")),
            make_source(data, np.arange(1500), None, CPU), make_source(data, np.arange(1500, 1797), None, CPU),
            resume=True)
    # an option given at its default value is the same model: it resumes
    torch.manual_seed(0)
    same = Autoencoder(build_config("dense", input_shape=(64,), latent_dim=4,
                                    options={"hidden_dims": [32], "dropout": 0.0, "activation": "relu"}))
    Trainer(TrainerConfig(max_epochs=3, batch_size=64, seed=1, early_stopping=False), run_dir=tmp_path).fit(
        same, make_source(data, np.arange(1500), None, CPU), make_source(data, np.arange(1500, 1797), None, CPU),
        resume=True)
    state = load_state(tmp_path / "checkpoint.safetensors")
    next(iter(state["model"].values()))[0] = float("nan")
    save_state(tmp_path / "checkpoint.safetensors", state)
    with pytest.raises(AekitError, match="holds NaN or infinite weights"):
        _fit(data, run_dir=tmp_path, resume=True)


def test_early_stopping_restores_best_weights(data) -> None:
    model, result = _fit(data, max_epochs=60, lr=0.05, early_stopping=True, patience=2)
    assert result.stopped_reason.startswith("early stopping")
    best = min(r["val_loss"] for r in result.history)
    assert result.best_loss == pytest.approx(best)
    assert len(result.history) == result.best_epoch + 2
    recomputed = Trainer(TrainerConfig()).evaluate(model, make_source(data, np.arange(1500, 1797), None, CPU))
    assert recomputed == pytest.approx(best, rel=1e-5)


def test_nan_loss_stops_and_keeps_best_weights(data) -> None:
    poisoned = data.copy()
    model = _model()
    trainer = Trainer(TrainerConfig(max_epochs=5, batch_size=64, early_stopping=False))
    train = make_source(poisoned, np.arange(1500), None, CPU)
    calls = {"n": 0}
    original = train.batch

    def batch(positions):  # the data turns into NaN in the third epoch
        calls["n"] += 1
        x = original(positions)
        return x * float("nan") if calls["n"] > 2 * math.ceil(1500 / 64) else x

    train.batch = batch
    with pytest.warns(RuntimeWarning, match="NaN/Inf in epoch 3.*keeping the best weights \\(epoch 2\\)"):
        result = trainer.fit(model, train, None)
    assert result.best_epoch == 2 and len(result.history) == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nan_in_first_epoch_is_an_error(data) -> None:
    with pytest.raises(TrainingError, match="NaN/Inf in epoch 1.*Lower the learning rate"):
        _fit(data * np.float32(1e30), lr=10.0, max_epochs=2)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_optimizers_and_weight_decay(data, optimizer: str) -> None:
    _, result = _fit(data, optimizer=optimizer, weight_decay=1e-4, lr=0.05 if optimizer == "sgd" else 1e-3)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_schedules_change_the_learning_rate(data) -> None:
    _, cosine = _fit(data, schedule="cosine", max_epochs=4)
    lrs = [r["lr"] for r in cosine.history]  # each epoch's rate at its first step: the rate it trained with
    assert lrs == pytest.approx([1e-3 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])
    _, onecycle = _fit(data, schedule="onecycle", max_epochs=4)
    lrs = [r["lr"] for r in onecycle.history]  # warms up over the first 30%, then anneals
    assert lrs[0] == pytest.approx(1e-3 / 25) and max(lrs[1:3]) > max(lrs[0], lrs[3])


def test_gradient_clipping_bounds_the_step(data) -> None:
    before = _model()
    after, _ = _fit(data, max_epochs=1, batch_size=1500, grad_clip=1e-6, optimizer="sgd", momentum=0.0, lr=1.0)
    moved = torch.cat([(a - b).flatten() for a, b in zip(after.parameters(), before.parameters())])
    assert moved.norm() <= 1e-6 * 1.01


def test_metrics_and_checkpoint_files(data, tmp_path) -> None:
    _fit(data, run_dir=tmp_path, max_epochs=3)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert {"train_loss", "train_reconstruction", "val_loss", "lr", "seconds", "samples_per_second"} <= set(records[0])
    assert (tmp_path / "checkpoint.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_no_progress_output_when_not_a_terminal(data, capsys) -> None:
    _fit(data, max_epochs=1)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_streaming_source_trains_like_the_in_memory_one(data, tmp_path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, data)
    mapped = np.load(path, mmap_mode="r")
    streaming = make_source(mapped, np.arange(1500), None, CPU, max_in_memory_bytes=0)
    in_memory = make_source(mapped, np.arange(1500), None, CPU)
    assert isinstance(streaming, StreamingSource) and isinstance(in_memory, TensorSource)
    positions = torch.tensor([5, 3, 1400])
    assert torch.equal(torch.sort(streaming.batch(positions).sum(1)).values,
                       torch.sort(in_memory.batch(positions).sum(1)).values)
    trainer = Trainer(TrainerConfig(max_epochs=2, batch_size=64, seed=1))
    a, b = _model(), _model()
    trainer.fit(a, streaming)
    trainer.fit(b, in_memory)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


def test_in_memory_source_copies_only_when_it_must() -> None:
    X = np.random.default_rng(0).random((20, 3), dtype=np.float32)
    shared = make_source(X, np.arange(20), None, CPU)
    assert np.shares_memory(shared.data.numpy(), X)  # all rows, float32, no scaling: the caller's buffer
    before = X.copy()
    scaled = make_source(X, np.arange(20), lambda a: np.multiply(a, 2, out=a), CPU)  # an in-place transform
    np.testing.assert_array_equal(X, before)  # ... works on the source's own copy, never the caller's data
    np.testing.assert_array_equal(scaled.data.numpy(), 2 * X)
    subset = make_source(X, np.array([3, 1]), None, CPU)
    np.testing.assert_array_equal(subset.data.numpy(), X[[3, 1]])


def test_empty_training_split(data) -> None:
    with pytest.raises(AekitError, match="training split is empty"):
        Trainer(TrainerConfig()).fit(_model(), make_source(data, np.arange(0), None, CPU))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_epochs": 0}, "'max_epochs' parameter of Trainer must be an int in [1, inf]. Got 0 instead."),
        ({"lr": -1.0}, "'lr' parameter of Trainer must be a float in (0, inf]. Got -1.0 instead."),
        ({"optimizer": "adm"}, "Did you mean 'adam'?"),
        ({"schedule": "cosin"}, "Did you mean 'cosine'?"),
        ({"precision": "fp8"}, "'precision' parameter of Trainer must be one of"),
    ],
)
def test_bad_trainer_settings(settings: dict, message: str) -> None:
    with pytest.raises(AekitError) as info:
        TrainerConfig(**settings)
    assert message in str(info.value)


def test_device_resolution() -> None:
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    assert resolve_device("cpu") == CPU
    with pytest.raises(AekitError, match="Unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(AekitError, match="CUDA is not available"):
            resolve_device("cuda")


def test_half_precision_needs_cuda(data) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(AekitError, match="'16-mixed' needs a CUDA device"):
        _fit(data, precision="16-mixed", max_epochs=1)


def test_bf16_autocast_runs_on_cpu(data) -> None:
    _, result = _fit(data, precision="bf16-mixed", max_epochs=2)
    assert math.isfinite(result.history[-1]["train_loss"])


def test_progress_hooks_see_the_fraction_of_training_done(data) -> None:
    seen: list[float] = []

    class Probe(torch.nn.Module):
        def set_progress(self, fraction: float) -> None:
            seen.append(fraction)

    model = _model()
    model.probe = Probe()
    Trainer(TrainerConfig(max_epochs=2, batch_size=500, early_stopping=False)).fit(
        model, make_source(data, np.arange(1000), None, CPU))
    assert seen == [0.0, 0.25, 0.5, 0.75, 1.0]  # each step's, then the end of training: warm-ups over


def test_epochs_begun_mid_warmup_are_neither_best_nor_bad(data, tmp_path) -> None:
    # A warm-up makes early training losses small (a KL weight near 0): choosing the best epoch by them would
    # keep a half-trained model. Here the loss is scaled by 0.01 during the warm-up to make that choice obvious.
    class Warmup(torch.nn.Module):
        warmup_end = 0.5
        progress = 0.0

        def set_progress(self, fraction: float) -> None:
            self.progress = fraction

    model = _model()
    model.warm = Warmup()
    forward = model.forward

    def scaled(*args, **kwargs):
        out = forward(*args, **kwargs)
        if model.training and model.warm.progress < model.warm.warmup_end:
            out.loss = out.loss * 0.01
        return out

    model.forward = scaled
    config = TrainerConfig(max_epochs=6, batch_size=500, seed=1, early_stopping=True, patience=1, min_delta=0.0)
    result = Trainer(config, run_dir=tmp_path).fit(model, make_source(data, np.arange(1500), None, CPU))
    assert result.best_epoch >= 4  # epochs 1-3 begin before half of training: never the best
    assert result.best_loss == min(r["train_loss"] for r in result.history[3:])


def test_batch_norm_never_trains_on_a_batch_of_one_row(data) -> None:
    model = _model(norm="batch")  # 129 rows in batches of 64: the last would hold one row, which BatchNorm refuses
    result = Trainer(TrainerConfig(max_epochs=1, batch_size=64, seed=1)).fit(
        model, make_source(data, np.arange(129), None, CPU))
    assert len(result.history) == 1
    from aekit import AutoEncoder  # greedy pretraining batches the same way

    AutoEncoder(model="stacked", model_options={"norm": "batch"}, batch_size=64, validation_fraction=0,
                max_epochs=1).fit(data[:129])


def test_warm_ups_end_at_progress_1_however_training_ends(data) -> None:
    seen: list[float] = []

    class Probe(torch.nn.Module):
        def set_progress(self, fraction: float) -> None:
            seen.append(fraction)
            if 0.0 < fraction < 1.0:
                raise KeyboardInterrupt  # stopped mid-warm-up, as by Ctrl-C

    model = _model()
    model.probe = Probe()
    with pytest.raises(KeyboardInterrupt):
        Trainer(TrainerConfig(max_epochs=2, batch_size=500, early_stopping=False, progress=False)).fit(
            model, make_source(data, np.arange(1000), None, CPU))
    assert seen == [0.0, 0.25, 1.0]


def test_a_vae_stopped_mid_warm_up_computes_as_its_saved_copy(tmp_path) -> None:
    from aekit.io import load_model, save_model

    x = torch.rand(64, 10, generator=torch.Generator().manual_seed(0))
    model = Autoencoder(build_config("vae", input_shape=(10,), latent_dim=3, options={"warmup": 1.0,
                                                                                     "hidden_dims": [8]}))
    Trainer(TrainerConfig(max_epochs=1, batch_size=16, early_stopping=False, progress=False)).fit(
        model, make_source(x.numpy(), np.arange(64), None, CPU))
    assert model.bottleneck.kl_weight == 1.0  # the last step saw 0.75
    loaded = load_model(save_model(tmp_path / "m", model)).model
    with torch.no_grad():
        assert torch.equal(model(x).loss, loaded(x).loss)
