"""Greedy layer-wise pretraining: each stage improves its own reconstruction; fine-tuning starts from it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from aekit import Autoencoder, AutoencoderConfig, PartSpec, build_config
from aekit.errors import AekitError
from aekit.training import Trainer, TrainerConfig, make_source
from aekit.training import trainer as trainer_module
from aekit.training.pretraining import layer_stack, pretrain_layerwise

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0).astype(np.float32)


def _stacked(**options) -> Autoencoder:
    torch.manual_seed(0)
    return Autoencoder(build_config("stacked", input_shape=(64,), latent_dim=8,
                                    options={"hidden_dims": [32, 16], **options}))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_layer_stack_pairs_each_layer_with_its_mirror() -> None:
    stack = layer_stack(_stacked(), torch.rand(4, 64))
    widths = [(enc.linear.in_features, enc.linear.out_features, dec.linear.in_features, dec.linear.out_features)
              for enc, dec in (stack.pair(i) for i in range(3))]
    assert widths == [(64, 32, 32, 64), (32, 16, 16, 32), (16, 8, 8, 16)]


def test_each_stage_lowers_its_own_reconstruction_error(data) -> None:
    model = _stacked()
    source = make_source(data, np.arange(1500), None, CPU)
    reports = pretrain_layerwise(model, source, epochs=3, lr=3e-3, batch_size=64, seed=0)
    assert [r.stage for r in reports] == [1, 2, 3]
    assert [r.layers for r in reports] == ["64 -> 32 -> 64", "32 -> 16 -> 32", "16 -> 8 -> 16"]
    for report in reports:
        assert report.loss_after < 0.8 * report.loss_before, report
    assert all(p.grad is None for p in model.parameters())


def test_pretraining_is_seeded(data) -> None:
    source = make_source(data, np.arange(500), None, CPU)
    states = []
    for _ in range(2):
        model = _stacked()
        pretrain_layerwise(model, source, epochs=1, seed=3)
        states.append(_state(model))
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


class _FirstStepSpy(nn.Module):
    """Snapshots the model's weights when the trainer announces the first step (progress 0)."""

    def __init__(self, model: Autoencoder) -> None:
        super().__init__()
        self.target = [model]  # a list: not a submodule
        self.at_first_step: dict[str, torch.Tensor] | None = None

    def set_progress(self, fraction: float) -> None:
        if self.at_first_step is None:
            self.at_first_step = {k: v for k, v in _state(self.target[0]).items()}


def _fit_with_spies(data, monkeypatch, **options):
    model = _stacked(**options)
    initial = _state(model)
    model.spy = _FirstStepSpy(model)
    after_pretraining = {}
    original = trainer_module.pretrain

    def spying_pretrain(*args, **kwargs):
        reports = original(*args, **kwargs)
        after_pretraining.update(_state(model))
        return reports

    monkeypatch.setattr(trainer_module, "pretrain", spying_pretrain)
    trainer = Trainer(TrainerConfig(max_epochs=1, batch_size=64, early_stopping=False, seed=0))
    trainer.fit(model, make_source(data, np.arange(600), None, CPU))
    return initial, after_pretraining, model.spy.at_first_step


def test_fine_tuning_starts_from_the_pretrained_weights(data, monkeypatch) -> None:
    initial, pretrained, first_step = _fit_with_spies(data, monkeypatch, pretrain_epochs=1)
    assert first_step is not None and pretrained
    assert all(torch.equal(pretrained[k], first_step[k]) for k in first_step)
    assert not all(torch.equal(initial[k], first_step[k]) for k in first_step)


def test_pretrain_none_trains_end_to_end_only(data, monkeypatch) -> None:
    initial, pretrained, first_step = _fit_with_spies(data, monkeypatch, pretrain="none")
    assert all(torch.equal(initial[k], first_step[k]) for k in first_step)


def test_resume_does_not_pretrain_again(data, tmp_path, monkeypatch) -> None:
    source = make_source(data, np.arange(300), None, CPU)
    Trainer(TrainerConfig(max_epochs=1, early_stopping=False), run_dir=tmp_path).fit(
        _stacked(pretrain_epochs=1), source)

    def fail(*args, **kwargs):
        raise AssertionError("pretrained on resume")

    monkeypatch.setattr(trainer_module, "pretrain", fail)
    Trainer(TrainerConfig(max_epochs=2, early_stopping=False), run_dir=tmp_path).fit(
        _stacked(pretrain_epochs=1), source, resume=True)


def test_a_model_that_is_not_a_dense_stack_fails_clearly(data) -> None:
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig((64,), 8, backbone=PartSpec("stacked_dense", {"hidden_dims": [16]}),
                                          bottleneck=PartSpec("topk")))  # the top-k selection is no layer
    source = make_source(data, np.arange(100), None, CPU)
    with pytest.raises(AekitError, match="plain stack of dense layers.*pretrain='none'"):
        pretrain_layerwise(model, source, epochs=1)
