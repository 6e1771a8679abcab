"""The composed model: wiring of regularizers and corruptions, custom modules, presets and option routing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from aekit import Autoencoder, AutoencoderConfig, PartSpec, build_config, list_models
from aekit.errors import AekitError
from aekit.parts import (
    BOTTLENECKS,
    CORRUPTIONS,
    REGULARIZERS,
    Bottleneck,
    BottleneckOutput,
    Corruption,
    Regularizer,
    RegularizerContext,
)


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
    assert decoder.seen == [None]  # the probe at construction: free-running, as decode calls it
    decoder.seen.clear()
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
    with pytest.raises(AekitError, match=r"The custom decoder returned shape \(2, 1, 6\) for codes of shape "
                                         r"\(2, 2\); likelihood 'mse' expects \(2, 6\)"):
        Autoencoder(AutoencoderConfig((6,), 2), decoder=decoder)


def test_a_decoder_whose_shape_changes_after_construction_is_still_refused_in_forward() -> None:
    decoder = nn.Sequential(nn.Linear(2, 6))
    model = Autoencoder(AutoencoderConfig((6,), 2), decoder=decoder)
    decoder.append(nn.Unflatten(1, (1, 6)))
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


# ------------------------------------------------------------------------------- QA: misuse gets one clear line
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("vae", r"Autoencoder takes an AutoencoderConfig, not the string 'vae'. Build one from the preset: "
                r"Autoencoder\(build_config\('vae'"),
        ({"input_shape": [4], "latent_dim": 2}, r"not a dict. Convert it first: "
                                                r"Autoencoder\(AutoencoderConfig.from_json_dict\(data\)\)"),
        (3, r"Autoencoder takes an AutoencoderConfig. Got int instead"),
    ],
)
def test_autoencoder_takes_a_config_only(config: object, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        Autoencoder(config)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [None, [], "x"])
def test_from_json_dict_names_what_is_not_a_config(data: object) -> None:
    with pytest.raises(AekitError, match=rf"from_json_dict takes a dict of the config's fields, as to_json_dict\(\) "
                                         rf"writes it. Got {type(data).__name__} {re.escape(repr(data))} instead."):
        AutoencoderConfig.from_json_dict(data)  # type: ignore[arg-type]


def test_interpolate_and_sample_refuse_a_wrong_argument_type() -> None:
    model = Autoencoder(build_config("vae", input_shape=(10,), latent_dim=2)).eval()
    with pytest.raises(AekitError, match=r"The 'a' argument of interpolate must be a torch.Tensor. Got ndarray"):
        model.interpolate(np.zeros(10), torch.zeros(10))
    message = (r"The 'generator' parameter of Autoencoder.sample must be a torch.Generator or None. Got 0 instead. "
               r"Pass one seeded, e.g. torch.Generator\(\).manual_seed\(0\).")
    with pytest.raises(AekitError, match=message):
        model.sample(2, generator=0)  # type: ignore[arg-type]
    with pytest.raises(AekitError, match="'generator' parameter of Autoencoder.log_likelihood"):
        model.log_likelihood(torch.rand(2, 10), 2, generator=0)  # type: ignore[arg-type]


def test_complex_input_is_refused() -> None:
    with pytest.raises(AekitError, match=r"Autoencoder.forward got 'x' of complex dtype torch.complex64; autoencoders "
                                         r"here take real values. Pass real data"):
        _dense()(torch.zeros(3, 6, dtype=torch.complex64))


def test_regularizers_are_held_as_a_tuple_and_round_trip() -> None:
    config = AutoencoderConfig((10,), 4, regularizers=[PartSpec("l1")])  # type: ignore[arg-type]
    assert config.regularizers == (PartSpec("l1"),)
    assert AutoencoderConfig.from_json_dict(config.to_json_dict()) == config


def test_settings_list_each_regularizer_under_its_module_name() -> None:
    config = AutoencoderConfig((6,), 3, regularizers=(PartSpec("l1", {"weight": 0.1}), PartSpec("l1", {"weight": 0.5})))
    model = Autoencoder(config)
    assert list(model.regularizers) == ["l1", "l1_1"]
    assert model.settings()["regularizers"] == {"l1": {"weight": 0.1}, "l1_1": {"weight": 0.5}}


class KLPenalty(Regularizer):
    @dataclass(frozen=True)
    class Config:
        weight: float = 1.0

    def forward(self, context: RegularizerContext) -> torch.Tensor:
        return context.z.abs().mean()


class UndeclaredTermBottleneck(Bottleneck):
    """A custom bottleneck that returns a loss term 'extra' without declaring it in loss_names."""

    @dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: object, *, in_features: int, latent_dim: int) -> None:
        super().__init__(config, in_features=in_features, latent_dim=latent_dim)
        self.linear = nn.Linear(in_features, latent_dim)

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        z = self.linear(h)
        return BottleneckOutput(z=z, losses={"extra": z.square().mean()})


@pytest.mark.parametrize(
    ("name", "bottleneck", "message"),
    [
        ("kl", "variational", "Regularizer 'kl' is named like a loss term of bottleneck 'variational', whose value its "
                              "penalty would replace in the loss. Register the regularizer under another name."),
        ("reconstruction", "deterministic", "Regularizer 'reconstruction' is named like the reconstruction term"),
        ("commitment", "vq", "named like a loss term of bottleneck 'vq'"),
        ("l0", "jumprelu", "named like a loss term of bottleneck 'jumprelu'"),
    ],
)
def test_a_regularizer_named_like_a_loss_term_is_refused_when_built(monkeypatch, name: str, bottleneck: str,
                                                                    message: str) -> None:
    monkeypatch.setitem(REGULARIZERS._items, name, KLPenalty)
    options = {"codebook_size": 4, "embedding_dim": 2} if bottleneck == "vq" else {}
    config = AutoencoderConfig((6,), 4, bottleneck=PartSpec(bottleneck, options), regularizers=(PartSpec(name),))
    with pytest.raises(AekitError) as info:
        Autoencoder(config)
    assert message in str(info.value)


def test_a_regularizer_named_like_an_undeclared_bottleneck_term_is_refused_in_forward(monkeypatch) -> None:
    monkeypatch.setitem(REGULARIZERS._items, "extra", KLPenalty)
    monkeypatch.setitem(BOTTLENECKS._items, "undeclared", UndeclaredTermBottleneck)
    model = Autoencoder(AutoencoderConfig((6,), 3, bottleneck=PartSpec("undeclared"),
                                          regularizers=(PartSpec("extra"),)))
    with pytest.raises(AekitError, match="Regularizer 'extra' is named like a loss term of bottleneck 'undeclared'"):
        model(torch.rand(2, 6))


class TensorBottleneck(Bottleneck):
    """Mistakes of a custom bottleneck: returns the code tensor itself, or a code of the wrong width."""

    @dataclass(frozen=True)
    class Config:
        width: int = 0  # 0: return a Tensor, not a BottleneckOutput

    def __init__(self, config: object, *, in_features: int, latent_dim: int) -> None:
        super().__init__(config, in_features=in_features, latent_dim=latent_dim)
        self.linear = nn.Linear(in_features, self.config.width or latent_dim)

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        z = self.linear(h)
        return BottleneckOutput(z=z) if self.config.width else z  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("width", "message"),
    [
        (0, r"Bottleneck 'tensor_out' returned Tensor, not a BottleneckOutput. Make its forward return "
            r"BottleneckOutput\(z=..."),
        (5, r"Bottleneck 'tensor_out' returned a code z of shape \(4, 5\) for a batch of 4; the model's codes are "
            r"\(batch, ..., latent_dim=3\)"),
    ],
)
def test_a_custom_bottleneck_returning_the_wrong_thing_gets_one_line(monkeypatch, width: int, message: str) -> None:
    monkeypatch.setitem(BOTTLENECKS._items, "tensor_out", TensorBottleneck)
    model = Autoencoder(AutoencoderConfig((6,), 3, bottleneck=PartSpec("tensor_out", {"width": width})))
    for call in (model, model.encode):
        with pytest.raises(AekitError, match=message):
            call(torch.rand(4, 6))


class DeclaredEncoder(nn.Module):
    def __init__(self, n_in: int, n_out: int, declared: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.out_features = declared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class RaisingOnZeros(nn.Module):
    """A custom encoder of the right shape that refuses an all-zero batch, as the probe sends."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.any():
            raise ValueError("all-zero input")
        return self.linear(x)


@pytest.mark.parametrize(
    ("encoder", "decoder", "message"),
    [
        (DeclaredEncoder(6, 5, declared=7), None,
         r"The custom encoder's out_features is 7, but it returns 5 features for a batch of shape \(2, 6\). Set "
         r"out_features to 5, or remove it."),
        (nn.Linear(8, 5), None,
         r"The custom encoder fails on a probe batch of zeros of shape \(2, 6\) \(RuntimeError: mat1 and mat2 "
         r"shapes cannot be .*\). If it expects another input shape, make it map \(batch, 6\), the model's "
         r"input_shape, to features \(batch, out_features\)."),
        (RaisingOnZeros(), None,
         r"The custom encoder fails on a probe batch of zeros of shape \(2, 6\) \(ValueError: all-zero input\). "
         r"If it expects another input shape, make it map"),
        (None, nn.Linear(4, 6),
         r"The custom decoder fails on a probe batch of zeros of shape \(2, 3\) \(RuntimeError: .*\). If it "
         r"expects another input shape, make it map codes "
         r"\(batch, 3\), the model's latent_dim, to \(batch, 6\)."),
        (lambda x: x, None, r"The 'encoder' parameter of Autoencoder must be a torch.nn.Module. Got function instead. "
                            r"Wrap it in a module"),
        (None, "decoder", r"The 'decoder' parameter of Autoencoder must be a torch.nn.Module. Got str instead."),
    ],
)
def test_custom_modules_are_probed_when_the_model_is_built(encoder, decoder, message: str) -> None:
    with pytest.raises(AekitError, match=message) as info:
        Autoencoder(AutoencoderConfig((6,), 3), encoder=encoder, decoder=decoder)
    assert "\n" not in str(info.value)


def test_the_probe_leaves_a_custom_module_s_mode_and_batch_norm_statistics_alone() -> None:
    encoder = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4))
    Autoencoder(AutoencoderConfig((6,), 3), encoder=encoder)
    assert encoder.training and int(encoder[1].num_batches_tracked) == 0


def test_set_progress_drives_the_parts_warm_ups_in_a_loop_of_ones_own() -> None:
    from aekit import build_config

    model = Autoencoder(build_config("vae", input_shape=(6,), latent_dim=2, options={"warmup": 0.5}))
    x = torch.rand(4, 6)
    model.train()
    model.set_progress(0.0)  # the start of a warm-up: no KL weight yet
    assert model(x).losses["kl"].item() == 0.0
    model.set_progress(1.0)  # past it: the full weight
    assert model(x).losses["kl"].item() > 0.0
    with pytest.raises(AekitError, match=r"The 'fraction' parameter of Autoencoder.set_progress must be a float in "
                                         r"\[0, 1\]. Got 2 instead."):
        model.set_progress(2)
    model.set_progress(torch.tensor(0.25))  # a fraction computed from tensors
