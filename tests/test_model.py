"""The composed model: wiring of regularizers and corruptions, custom modules, presets and option routing."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from aekit import Autoencoder, AutoencoderConfig, PartSpec, build_config, list_models
from aekit.errors import AekitError
from aekit.parts import CORRUPTIONS, REGULARIZERS, Corruption, Regularizer, RegularizerContext


class SquaredCode(Regularizer):
    @dataclass(frozen=True)
    class Config:
        weight: float = 1.0

    def forward(self, context: RegularizerContext) -> torch.Tensor:
        return context.z.square().mean()


class CodeSpread(Regularizer):
    """No penalty; its data-set figure is no mean of batch figures: the code's variance, from pooled moments."""

    @dataclass(frozen=True)
    class Config:
        weight: float = 1.0

    def forward(self, context: RegularizerContext) -> torch.Tensor:
        return context.z.new_zeros(())

    def stats(self, context: RegularizerContext, penalty: torch.Tensor) -> dict[str, torch.Tensor]:
        z = context.z.detach()
        return {"_mean": z.mean(0), "_square_mean": z.square().mean(0), "spread": z.var(0, unbiased=False).mean()}

    def pool_stats(self, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"spread": np.asarray((stats["_square_mean"] - np.square(stats["_mean"])).mean())}


class AddOne(Corruption):
    @dataclass(frozen=True)
    class Config:
        pass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1.0


@pytest.fixture
def test_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGULARIZERS._items, "squared_code", SquaredCode)
    monkeypatch.setitem(REGULARIZERS._items, "code_spread", CodeSpread)
    monkeypatch.setitem(CORRUPTIONS._items, "add_one", AddOne)


def test_regularizer_is_weighted_and_added(test_parts: None) -> None:
    config = AutoencoderConfig((5,), 3, regularizers=(PartSpec("squared_code", {"weight": 0.25}),))
    model = Autoencoder(config).train()
    out = model(torch.rand(4, 5))
    assert torch.allclose(out.losses["squared_code"], 0.25 * out.z.square().mean())
    assert torch.allclose(out.loss, out.losses["reconstruction"] + out.losses["squared_code"])


def test_regularizer_stats_are_filed_under_each_regularizers_name() -> None:
    config = AutoencoderConfig((6,), 5, bottleneck=PartSpec("topk", {"k": 2}),
                               regularizers=(PartSpec("l1"), PartSpec("l1", {"weight": 0.5})))
    out = Autoencoder(config)(torch.rand(7, 6))
    figures = {"l0", "active_fraction", "mean_abs_code"}
    assert set(out.stats) == {"l0", "active_fraction"} | {f"{name}.{f}" for name in ("l1", "l1_1") for f in figures}
    l0 = (out.z != 0).float().sum(1).mean()  # the bottleneck's and both regularizers' L0 count the same zeros
    assert out.stats["l0"] == out.stats["l1.l0"] == out.stats["l1_1.l0"] == l0 > 0
    assert torch.allclose(out.stats["l1_1.mean_abs_code"], out.z.abs().mean())
    assert not any(value.requires_grad for value in out.stats.values())


def test_pool_stats_lets_each_part_pool_its_own_figures(test_parts: None) -> None:
    config = AutoencoderConfig((6,), 3, bottleneck=PartSpec("variational"), regularizers=(PartSpec("code_spread"),))
    model = Autoencoder(config).eval()
    x = torch.rand(30, 6) * torch.linspace(0.1, 3.0, 6)
    batches = [x[:8], x[8:]]
    with torch.no_grad():
        per_batch = [model(batch).stats for batch in batches]
        z = model.encode(x)  # the posterior means, the code in eval mode
    means = {name: sum(s[name].double().numpy() * len(b) for s, b in zip(per_batch, batches)) / len(x)
             for name in per_batch[0]}
    pooled = model.pool_stats(means)
    assert "code_spread._mean" in means and not any("_mean" in name for name in pooled)  # helpers dropped
    assert pooled["code_spread.spread"] == pytest.approx(z.double().var(0, unbiased=False).mean().item(), rel=1e-4)
    # the bottleneck's own figures keep their names and are pooled by the bottleneck (active units over all rows)
    assert pooled["active_units"] == float((z.var(0, unbiased=False) > 0.01).sum())
    assert pooled["kl"] == pytest.approx(means["kl"])


def test_code_indices_pick_the_codebook_rows_the_decoder_sees() -> None:
    model = Autoencoder(AutoencoderConfig((10,), 8, bottleneck=PartSpec("vq", {"codebook_size": 8,
                                                                               "embedding_dim": 2})))
    model.train()(torch.rand(64, 10))  # the first training step puts the codebook among the encoder outputs
    model.eval()
    x = torch.rand(20, 10)
    with torch.no_grad():
        indices = model.code_indices(x)  # (20, 4)
        z_e = model.bottleneck.project(model.encoder(x)).reshape(20, 4, 1, 2)
        nearest = (z_e - model.bottleneck.codebook).square().sum(-1).argmin(-1)  # (20, 4), brute force
        rebuilt = model.decode(model.bottleneck.codebook[indices].reshape(20, 8))
        assert torch.equal(indices, nearest)
        assert torch.allclose(rebuilt, model.reconstruct(x), atol=1e-6)
    with pytest.raises(AekitError, match=r"code_indices expects 'x' of shape \(batch, 10\). Got shape \(20, 5\)"):
        model.code_indices(torch.rand(20, 5))


def test_corruption_only_in_training_and_target_stays_clean(test_parts: None) -> None:
    model = Autoencoder(AutoencoderConfig((5,), 3, corruption=PartSpec("add_one")))
    x = torch.rand(4, 5)
    model.train()
    train_out = model(x)
    assert torch.allclose(train_out.z, model.encode(x + 1.0))  # the encoder saw the corrupted input
    expected = (model.decoder(train_out.z) - x).square().mean(1)  # scored against the clean x
    assert torch.allclose(train_out.nll, expected)
    model.eval()
    assert torch.allclose(model(x).z, model.encode(x))


def test_custom_encoder_and_decoder() -> None:
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.Tanh())  # no out_features: probed
    decoder = nn.Sequential(nn.Linear(2, 12), nn.Unflatten(1, (3, 4)))
    model = Autoencoder(AutoencoderConfig((3, 4), 2), encoder=encoder, decoder=decoder)
    assert model.bottleneck.in_features == 7
    out = model(torch.rand(5, 3, 4))
    assert out.x_hat.shape == (5, 3, 4)
    out.loss.backward()
    assert encoder[1].weight.grad is not None


@pytest.mark.parametrize("latent_dim", [0, -3, 2.5, True])
def test_latent_dim_must_be_positive_int(latent_dim: object) -> None:
    with pytest.raises(AekitError, match=f"'latent_dim' parameter of Autoencoder must be an int in \\[1, inf\\]. "
                                         f"Got {latent_dim!r} instead."):
        AutoencoderConfig((4,), latent_dim)


def test_bad_input_shape() -> None:
    with pytest.raises(AekitError, match="input_shape"):
        AutoencoderConfig((0, 3), 2)


def test_output_losses_are_named() -> None:
    out = Autoencoder(AutoencoderConfig((4,), 2))(torch.rand(3, 4))
    assert list(out.losses) == ["reconstruction"]
    assert out.params.shape == (3, 4)


def test_presets_listed_with_descriptions() -> None:
    models = list_models()
    assert {"dense", "conv"} <= set(models)
    assert all(isinstance(d, str) and d for d in models.values())
    assert "conv" in list_models("con*") and "dense" not in list_models("con*")


def test_option_routing_sends_a_key_to_every_part_that_has_it() -> None:
    config = build_config("conv", input_shape=(1, 8, 8), latent_dim=4,
                          options={"hidden_dims": [8], "code_activation": "tanh", "reduction": "sum"})
    assert config.backbone.options == {"hidden_dims": [8]}
    assert config.bottleneck.options == {"code_activation": "tanh"}
    assert config.likelihood.options == {"reduction": "sum"}
    assert build_config("dense", input_shape=(4,), latent_dim=2, likelihood="bce").likelihood.name == "bce"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hiden_dims": [3]}, "Unknown option 'hiden_dims' for model 'dense'. Valid options: activation, "
                              "code_activation, dropout, hidden_dims, norm, reduction, skip. "
                              "Did you mean 'hidden_dims'?"),
        ({"backbone.k": 3}, "Unknown option 'backbone.k' for model 'dense'. Valid options: backbone.activation"),
        ({"dropout": 2.0}, "The 'dropout' parameter of DenseBackbone must be a float in [0, 1). Got 2.0 instead."),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(AekitError) as info:
        Autoencoder(build_config("dense", input_shape=(4,), latent_dim=2, options=options))
    assert message in str(info.value)


def test_unknown_likelihood_suggests() -> None:
    with pytest.raises(AekitError, match="Unknown likelihood 'mes'.*Did you mean 'mse'"):
        build_config("dense", input_shape=(4,), latent_dim=2, likelihood="mes")


def test_teacher_forcing_hook_passes_the_clean_target() -> None:
    class TargetDecoder(nn.Module):
        needs_target = True

        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(2, 4)
            self.seen: list[torch.Tensor | None] = []

        def forward(self, z: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
            self.seen.append(target)
            return self.linear(z)

    decoder = TargetDecoder()
    model = Autoencoder(AutoencoderConfig((4,), 2), decoder=decoder)
    x = torch.rand(3, 4)
    model(x)
    model.decode(torch.zeros(1, 2))
    assert decoder.seen[0] is x and decoder.seen[1] is None


def test_replacing_the_likelihood_keeps_options_it_shares() -> None:
    config = build_config("vae", input_shape=(4,), latent_dim=2, likelihood="mse")
    assert config.likelihood == PartSpec("mse", {"reduction": "sum"})  # still a true NLL beside the KL


def test_forward_can_corrupt_in_eval_mode_for_validation(test_parts: None) -> None:
    model = Autoencoder(AutoencoderConfig((5,), 3, corruption=PartSpec("add_one"))).eval()
    x = torch.rand(4, 5)
    assert torch.allclose(model(x, corrupt=True).z, model.encode(x + 1.0))
    assert torch.allclose(model(x).z, model.encode(x))


def _dense(shape: tuple[int, ...] = (6,)) -> Autoencoder:
    return Autoencoder(AutoencoderConfig(shape, 2, backbone=PartSpec("dense", {"hidden_dims": [4]}))).eval()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m(torch.rand(3, 1, 6)), r"forward expects 'x' of shape \(batch, 6\). Got shape \(3, 1, 6\)"),
        (lambda m: m(torch.rand(6)), r"Got shape \(6,\) instead: add the batch axis: x.unsqueeze\(0\)"),
        (lambda m: m(torch.rand(3, 6), target=torch.rand(1, 6)), "3 samples in 'x' but 1 in 'target'"),
        (lambda m: m(torch.rand(3, 6), target=torch.rand(3, 5)), r"'target' of shape \(batch, 6\)"),
        (lambda m: m(torch.rand(0, 6)), "empty batch"),
        (lambda m: m.encode(torch.rand(3, 6, dtype=torch.float64)),
         r"got 'x' of dtype torch.float64, but the model's weights are torch.float32. Cast the data \(x.to\("),
        (lambda m: m.encode([[0.0] * 6]), "expects 'x' as a torch.Tensor. Got list"),
        (lambda m: m.decode(torch.rand(3, 7)), r"decode expects 'z' of shape \(batch, 2\)"),
    ],
)
def test_inputs_of_the_wrong_shape_or_dtype_get_one_clear_error(call, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        call(_dense())


def test_integer_inputs_are_read_as_numbers_and_autocast_may_mix_dtypes() -> None:
    model = _dense()
    ints = torch.randint(0, 3, (4, 6))
    assert torch.equal(model.encode(ints), model.encode(ints.float()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(torch.rand(4, 6, dtype=torch.bfloat16)).loss.isfinite()


def test_a_custom_decoder_of_the_wrong_shape_is_refused_not_broadcast() -> None:
    decoder = nn.Sequential(nn.Linear(2, 6), nn.Unflatten(1, (1, 6)))  # (batch, 1, 6): would broadcast to (b, b, 6)
    model = Autoencoder(AutoencoderConfig((6,), 2), decoder=decoder)
    with pytest.raises(AekitError, match=r"The decoder returned shape \(3, 1, 6\); likelihood 'mse' expects "
                                         r"\(batch, 6\) here, batch 3"):
        model(torch.rand(3, 6))


def test_settings_fill_in_defaults_so_an_explicit_default_describes_the_same_model() -> None:
    plain = Autoencoder(build_config("sparse-l1", input_shape=(8,), latent_dim=4))
    explicit = Autoencoder(build_config("sparse-l1", input_shape=(8,), latent_dim=4, options={"dropout": 0.0}))
    other = Autoencoder(build_config("sparse-l1", input_shape=(8,), latent_dim=4, options={"dropout": 0.1}))
    assert plain.settings() == explicit.settings() != other.settings()
    assert plain.settings()["regularizers"] == {"l1": {"weight": plain.regularizers["l1"].config.weight}}
    json.dumps(plain.settings())  # JSON-ready: a checkpoint stores it
