"""Sparse codes: L1 and KL penalties, top-k and JumpReLU bottlenecks (math against hand computations)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from aekit import Autoencoder, AutoencoderConfig, PartSpec, build_config
from aekit.errors import AekitError
from aekit.parts import RegularizerContext
from aekit.parts.bottlenecks.jumprelu import JumpReLUBottleneck
from aekit.parts.bottlenecks.topk import TopKBottleneck
from aekit.parts.regularizers.kl_sparsity import KLSparsityRegularizer
from aekit.parts.regularizers.l1 import L1Regularizer


@pytest.fixture(scope="module")
def digits01() -> torch.Tensor:
    from sklearn.datasets import load_digits

    return torch.from_numpy((load_digits().data / 16.0).astype(np.float32))  # (1797, 64) in [0, 1]


def _context(z: torch.Tensor) -> RegularizerContext:
    return RegularizerContext(x=z, x_tilde=z, h=z, z=z, encode=lambda x: x)


def _train(model: Autoencoder, data: torch.Tensor, steps: int = 150, lr: float = 3e-3) -> Autoencoder:
    """A few hundred Adam steps on the first 1500 rows, seeded."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train = data[:1500]
    model.train()
    for step in range(steps):
        batch = train[torch.randint(0, len(train), (128,))]
        loss = model(batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def _preset(name: str, latent_dim: int = 32, **options) -> Autoencoder:
    torch.manual_seed(0)
    return Autoencoder(build_config(name, input_shape=(64,), latent_dim=latent_dim,
                                    options={"hidden_dims": [64], **options}))


# ------------------------------------------------------------------------------------------------ L1
def test_l1_penalty_is_the_mean_code_l1_norm() -> None:
    z = torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.0, 3.0]])
    penalty = L1Regularizer(L1Regularizer.Config(), latent_dim=3)(_context(z))
    assert penalty.item() == pytest.approx((3.0 + 3.5) / 2)


def test_l1_stats_count_exact_zeros_and_the_mean_magnitude() -> None:
    z = torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.0, 3.0], [0.0, 0.0, 1e-30]])  # a tiny value is not a zero
    regularizer = L1Regularizer(L1Regularizer.Config(), latent_dim=3)
    stats = regularizer.stats(_context(z), regularizer(_context(z)))
    assert set(stats) == {"l0", "active_fraction", "mean_abs_code"}
    assert stats["l0"].item() == pytest.approx((2 + 2 + 1) / 3)
    assert stats["active_fraction"].item() == pytest.approx(5 / 9)
    assert stats["mean_abs_code"].item() == pytest.approx((1 + 2 + 0.5 + 3 + 1e-30) / 9)


def test_l1_of_codes_falls_as_the_weight_rises(digits01) -> None:
    l1, l0 = [], []
    for weight in (0.0, 1e-3, 1e-2):
        model = _train(_preset("sparse-l1", weight=weight), digits01)
        with torch.no_grad():
            z = model.encode(digits01[1500:])
        l1.append(z.abs().sum(1).mean().item())
        l0.append((z > 0).float().sum(1).mean().item())
    assert l1[0] > l1[1] > l1[2]
    assert l0[0] > l0[2]


# ------------------------------------------------------------------------------------------------ KL
def test_kl_sparsity_matches_a_hand_computation() -> None:
    z = torch.tensor([[0.1, 0.9], [0.3, 0.5]])  # unit means 0.2 and 0.7
    rho = 0.05
    expected = sum(rho * math.log(rho / q) + (1 - rho) * math.log((1 - rho) / (1 - q)) for q in (0.2, 0.7))
    regularizer = KLSparsityRegularizer(KLSparsityRegularizer.Config(rho=rho), latent_dim=2)
    assert regularizer(_context(z)).item() == pytest.approx(expected, rel=1e-6)
    at_target = torch.full((4, 2), rho)
    assert regularizer(_context(at_target)).item() == pytest.approx(0.0, abs=1e-7)


def _kl(rho: float, q: float) -> float:
    return rho * math.log(rho / q) + (1 - rho) * math.log((1 - rho) / (1 - q))


def test_kl_sparsity_stats_compare_each_unit_with_rho() -> None:
    rho = 0.1
    z = torch.tensor([[0.1, 0.02, 0.9, 0.0], [0.2, 0.1, 0.1, 0.02]])  # unit means 0.15, 0.06, 0.5, 0.01
    regularizer = KLSparsityRegularizer(KLSparsityRegularizer.Config(rho=rho), latent_dim=4)
    penalty = regularizer(_context(z))
    stats = regularizer.stats(_context(z), penalty)
    assert set(stats) == {"mean_activation_by_unit", "mean_activation", "near_rho_fraction", "kl"}
    assert torch.allclose(stats["mean_activation_by_unit"], torch.tensor([0.15, 0.06, 0.5, 0.01]))
    assert stats["mean_activation"].item() == pytest.approx(0.18)
    assert stats["near_rho_fraction"].item() == pytest.approx(0.5)  # 0.15 and 0.06 are within 2x of 0.1
    assert stats["kl"].item() == pytest.approx(sum(_kl(rho, q) for q in (0.15, 0.06, 0.5, 0.01)), rel=1e-5)
    assert stats["kl"].item() == pytest.approx(penalty.item(), rel=1e-6)  # the penalty's own quantity


def test_kl_sparsity_stats_pool_from_the_data_sets_mean_activations() -> None:
    rho = 0.1
    regularizer = KLSparsityRegularizer(KLSparsityRegularizer.Config(rho=rho), latent_dim=1)
    batches = [torch.tensor([[0.3], [0.3], [0.3]]), torch.tensor([[0.0]] * 5)]  # unit means 0.3, then 0
    per_batch = [regularizer.stats(_context(z), regularizer(_context(z))) for z in batches]
    assert [s["near_rho_fraction"].item() for s in per_batch] == [0.0, 0.0]  # neither batch is near rho
    n = sum(len(z) for z in batches)
    means = {name: sum(s[name].double().numpy() * len(z) for s, z in zip(per_batch, batches)) / n
             for name in per_batch[0]}
    pooled = regularizer.pool_stats(means)
    whole = torch.cat(batches)  # the data set at once: mean activation 0.9 / 8
    assert pooled["mean_activation"] == pytest.approx(0.9 / 8)
    assert pooled["near_rho_fraction"] == pytest.approx(1.0)  # 0.1125 is within 2x of 0.1
    assert pooled["rho"] == pytest.approx(rho)  # the target beside the data set's figures, not a batch figure
    assert pooled["kl"] == pytest.approx(_kl(rho, 0.9 / 8), rel=1e-6)
    assert pooled["kl"] == pytest.approx(regularizer(_context(whole)).item(), rel=1e-3)  # float32 penalty


def test_kl_sparsity_mean_activation_falls_as_the_weight_rises(digits01) -> None:
    means = []
    for weight in (0.0, 0.1, 1.0):
        model = _train(_preset("sparse-kl", weight=weight, rho=0.05), digits01)
        with torch.no_grad():
            means.append(model.encode(digits01[1500:]).mean().item())
    assert means[0] > means[1] > means[2]
    assert means[2] < 0.15


def test_kl_sparsity_warns_on_codes_outside_unit_interval() -> None:
    regularizer = KLSparsityRegularizer(KLSparsityRegularizer.Config(), latent_dim=2)
    with pytest.warns(UserWarning, match=r"expects codes in \[0, 1\].*code_activation='sigmoid'"):
        penalty = regularizer(_context(torch.tensor([[-1.0, 2.0]])))
    assert torch.isfinite(penalty)


def test_kl_sparsity_rejects_a_bad_rho() -> None:
    with pytest.raises(AekitError, match=re.escape(
            "The 'rho' parameter of KLSparsityRegularizer must be a float in (0, 1). Got 1.5 instead.")):
        Autoencoder(build_config("sparse-kl", input_shape=(4,), latent_dim=2, options={"rho": 1.5}))


# ---------------------------------------------------------------------------------------------- top-k
def test_topk_keeps_exactly_k_units() -> None:
    bottleneck = TopKBottleneck(TopKBottleneck.Config(k=3), in_features=5, latent_dim=10)
    h = torch.randn(50, 5)
    with torch.no_grad():
        bottleneck.project.bias.fill_(10.0)  # every pre-activation positive: exactly k survive
        out = bottleneck(h)
        dense = torch.relu(bottleneck.project(h))
    assert ((out.z != 0).sum(1) == 3).all()
    kept = out.z.topk(3, dim=1).values
    assert torch.equal(kept, dense.topk(3, dim=1).values)  # the k largest, unchanged
    assert out.stats["l0"].item() == 3 and out.stats["active_fraction"].item() == pytest.approx(0.3)


def test_topk_never_keeps_more_than_k_and_never_a_negative() -> None:
    bottleneck = TopKBottleneck(TopKBottleneck.Config(k=4), in_features=5, latent_dim=8)
    z = bottleneck(torch.randn(200, 5)).z
    assert ((z != 0).sum(1) <= 4).all() and (z >= 0).all()


def test_topk_default_k_is_a_quarter_of_the_code() -> None:
    assert TopKBottleneck(TopKBottleneck.Config(), in_features=3, latent_dim=64).k == 16
    assert TopKBottleneck(TopKBottleneck.Config(), in_features=3, latent_dim=2).k == 1


@pytest.mark.parametrize("k", [0, 65, -1])
def test_topk_rejects_k_outside_the_code(k: int) -> None:
    message = f"The 'k' parameter of TopKBottleneck must be an int in [1, latent_dim=64]. Got {k} instead."
    with pytest.raises(AekitError, match=re.escape(message)):
        Autoencoder(build_config("topk", input_shape=(8,), latent_dim=64, options={"k": k}))


# -------------------------------------------------------------------------------------------- JumpReLU
def _jumprelu(**options) -> JumpReLUBottleneck:
    return JumpReLUBottleneck(JumpReLUBottleneck.Config(**options), in_features=2, latent_dim=2)


def test_jumprelu_forward_and_straight_through_gradients() -> None:
    bottleneck = _jumprelu(l0_weight=0.5, bandwidth=0.1, initial_threshold=0.2)
    with torch.no_grad():
        bottleneck.project.weight.copy_(torch.eye(2))
        bottleneck.project.bias.zero_()
    h = torch.tensor([[0.18, 0.5], [0.24, 0.1], [0.4, 0.21]])  # pre-activations = h
    out = bottleneck(h)
    assert torch.allclose(out.z, torch.tensor([[0.0, 0.5], [0.24, 0.0], [0.4, 0.21]]))
    assert out.losses["l0"].item() == pytest.approx(0.5 * 4 / 3)  # 4 active units over 3 samples
    (out.z.sum() + out.losses["l0"]).backward()
    theta, bandwidth = 0.2, 0.1
    # inside the window |a - theta| < bandwidth / 2: unit 0 has 0.18 and 0.24; unit 1 has 0.21
    in_window = torch.tensor([2.0, 1.0])
    d_output = -(theta / bandwidth) * in_window  # from z.sum(): grad 1 per element
    d_l0 = -(1 / bandwidth) * in_window * 0.5 / 3  # from l0_weight * mean count
    assert torch.allclose(bottleneck.raw_threshold.grad, d_output + d_l0, rtol=1e-5)
    # the code's gradient reaches the pre-activations only where a unit is active
    assert torch.allclose(bottleneck.project.bias.grad, torch.tensor([2.0, 2.0]))


def test_jumprelu_thresholds_move_and_l0_falls_as_the_penalty_rises(digits01) -> None:
    l0 = []
    for l0_weight in (1e-4, 3e-2):
        model = _preset("jumprelu", l0_weight=l0_weight)
        start = model.bottleneck.threshold.detach().clone()
        _train(model, digits01, steps=300, lr=1e-2)  # Adam moves a threshold by ~lr per step
        assert (model.bottleneck.threshold - start).abs().max() > 0.05
        with torch.no_grad():
            l0.append(model(digits01[1500:]).stats["l0"].item())
    assert l0[1] < 0.25 * l0[0]


def test_jumprelu_l0_warmup_follows_the_progress() -> None:
    bottleneck = _jumprelu(l0_weight=0.2, l0_warmup=0.5)
    assert bottleneck.l0_coefficient() == pytest.approx(0.2)  # outside a trainer: the full penalty
    bottleneck.set_progress(0.0)
    assert bottleneck.l0_coefficient() == 0.0
    bottleneck.set_progress(0.25)
    assert bottleneck.l0_coefficient() == pytest.approx(0.1)
    bottleneck.set_progress(0.9)
    assert bottleneck.l0_coefficient() == pytest.approx(0.2)


def test_jumprelu_reports_l0_and_active_fraction() -> None:
    model = Autoencoder(AutoencoderConfig((6,), 4, bottleneck=PartSpec("jumprelu")))
    out = model(torch.rand(5, 6))
    assert set(out.stats) >= {"l0", "active_fraction"}
    assert out.stats["active_fraction"].item() == pytest.approx(out.stats["l0"].item() / 4)
    assert (out.z != 0).sum(1).float().mean().item() == pytest.approx(out.stats["l0"].item())


def test_jumprelu_rejects_a_bad_bandwidth() -> None:
    with pytest.raises(AekitError, match=re.escape(
            "The 'bandwidth' parameter of JumpReLUBottleneck must be a finite float in (0, inf). Got -0.1 instead.")):
        Autoencoder(build_config("jumprelu", input_shape=(8,), latent_dim=4, options={"bandwidth": -0.1}))


@pytest.mark.parametrize(
    ("model", "option"),
    [("sparse-l1", "weight"), ("sparse-kl", "weight"), ("contractive", "weight"), ("jumprelu", "l0_weight"),
     ("vae", "beta"), ("denoising", "sigma")],
)
def test_weights_and_other_options_must_be_finite(model: str, option: str) -> None:
    # inf as a weight gives a NaN loss (inf * 0), not a stronger penalty
    with pytest.raises(AekitError, match=rf"The '{option}' parameter of \w+ must be a finite float in \[0, inf\). "
                                         r"Got inf instead."):
        Autoencoder(build_config(model, input_shape=(8,), latent_dim=4, options={option: math.inf}))
