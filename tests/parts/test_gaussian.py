"""The variational bottleneck and the density likelihoods against closed forms and torch.distributions."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from aekit import Autoencoder, AutoencoderConfig, PartSpec
from aekit.errors import AekitError
from aekit.parts.bottlenecks.gaussian import GaussianBottleneck, gaussian_kl
from aekit.parts.likelihoods import (
    BCELikelihood,
    CategoricalLikelihood,
    GaussianLikelihood,
    L1Likelihood,
    LaplaceLikelihood,
    MSELikelihood,
)
from aekit.training import TensorSource, Trainer, TrainerConfig


def bottleneck(**options: float) -> GaussianBottleneck:
    return GaussianBottleneck(GaussianBottleneck.Config(**options), in_features=6, latent_dim=3)


# ---------------------------------------------------------------------------------------------- the KL
def test_closed_form_kl_matches_monte_carlo_and_torch() -> None:
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    q, p = D.Normal(mu, (0.5 * logvar).exp()), D.Normal(0.0, 1.0)
    exact = gaussian_kl(mu, logvar)  # (4, 3)
    assert torch.allclose(exact, D.kl_divergence(q, p), atol=1e-6)
    n = 200_000
    z = q.sample((n,))  # (n, 4, 3)
    log_ratio = (q.log_prob(z) - p.log_prob(z)).double()
    estimate, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(n)
    assert ((estimate - exact.double()).abs() <= 5 * stderr + 1e-4).all()  # 5 standard errors: p ~ 6e-7 per cell


def test_loss_is_beta_times_the_batch_mean_kl_and_stats_report_it() -> None:
    layer = bottleneck(beta=2.5).train()
    h = torch.randn(8, 6)
    out = layer(h)
    kl = gaussian_kl(layer.mu(h), layer.logvar(h)).sum(1)  # (batch,)
    assert torch.allclose(out.losses["kl"], 2.5 * kl.mean())
    assert torch.allclose(out.stats["kl"], kl.mean())
    assert torch.allclose(out.stats["kl_per_dim"], kl.mean() / 3)
    assert out.stats["kl_weight"] == 2.5


def test_training_samples_with_reparameterization_and_eval_returns_the_posterior_mean() -> None:
    layer = bottleneck()
    h = torch.randn(1, 6).expand(20_000, 6)
    z = layer.train()(h).z
    q = layer.posterior(h[:1])
    assert torch.allclose(z.mean(0), q.mean[0], atol=0.05) and torch.allclose(z.std(0), q.stddev[0], rtol=0.05)
    layer.eval()
    assert torch.equal(layer(h[:3]).z, layer.mu(h[:3])) and torch.equal(layer(h[:3]).z, layer(h[:3]).z)


def test_posterior_and_prior_are_independent_normals_over_the_code() -> None:
    layer = bottleneck()
    q = layer.posterior(torch.randn(5, 6))
    assert q.batch_shape == (5,) and q.event_shape == (3,)
    prior = layer.prior()
    assert prior.batch_shape == () and prior.event_shape == (3,)
    z = torch.randn(7, 5, 3)
    assert torch.allclose(prior.log_prob(z), D.Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_a_kl_to_pay_lets_the_code_be_wider_than_the_input() -> None:
    assert bottleneck().prevents_identity and not bottleneck(beta=0.0).prevents_identity


def test_active_units_count_codes_whose_mean_varies_across_inputs() -> None:
    layer = bottleneck().eval()
    with torch.no_grad():
        layer.mu.weight.zero_()
        layer.mu.weight[0, 0] = 1.0  # unit 0 follows the input; units 1, 2 are constant (collapsed)
    assert layer(torch.randn(64, 6)).stats["active_units"] == 1


# ------------------------------------------------------------------------------------ warm-up, free bits
def test_warmup_ramps_the_kl_weight_from_zero_and_eval_uses_the_full_beta() -> None:
    layer = bottleneck(beta=2.0, warmup=0.5)
    h = torch.randn(4, 6)
    layer.set_progress(0.0)
    assert layer.kl_weight == 0.0 and layer.train()(h).losses["kl"] == 0.0
    layer.set_progress(0.25)
    assert layer.kl_weight == pytest.approx(1.0)
    layer.set_progress(0.9)
    assert layer.kl_weight == 2.0
    layer.set_progress(0.0)
    assert layer.eval()(h).stats["kl_weight"] == 2.0  # validation scores the real objective


def test_trainer_drives_the_warmup_through_set_progress() -> None:
    config = AutoencoderConfig((6,), 2, backbone=PartSpec("dense", {"hidden_dims": [8]}),
                               bottleneck=PartSpec("variational", {"warmup": 0.5}))
    model = Autoencoder(config)
    layer, weights = model.bottleneck, []
    original = layer.set_progress

    def record(fraction: float) -> None:
        original(fraction)
        weights.append(layer.kl_weight)

    layer.set_progress = record  # the trainer finds hooks by attribute
    Trainer(TrainerConfig(max_epochs=2, batch_size=8, progress=False)).fit(model, TensorSource(torch.rand(32, 6),
                                                                                            torch.device("cpu")))
    assert len(weights) == 9 and weights[0] == 0.0  # 8 steps, then the end of training
    assert weights == sorted(weights) and weights[-1] == 1.0 and 0.0 < weights[2] < 1.0


def test_free_bits_floor_each_dimension_and_stop_its_gradient() -> None:
    layer = bottleneck(free_bits=0.5, beta=2.0).train()
    with torch.no_grad():
        for head in (layer.mu, layer.logvar):
            head.weight.zero_()
            head.bias.zero_()
        layer.mu.bias[0] = 2.0  # unit 0: KL = 2 nats, above the floor; units 1, 2: KL = 0, below it
    out = layer(torch.randn(4, 6))
    assert torch.allclose(out.losses["kl"], torch.tensor(2.0 * (2.0 + 0.5 + 0.5)))
    out.losses["kl"].backward()
    assert layer.mu.bias.grad[0] != 0 and torch.equal(layer.mu.bias.grad[1:], torch.zeros(2))
    assert torch.allclose(layer.eval()(torch.randn(4, 6)).losses["kl"], torch.tensor(2.0 * 2.0))  # raw KL in eval


@pytest.mark.parametrize(("option", "value", "message"), [
    ("beta", -1.0, r"'beta' parameter of GaussianBottleneck must be a finite float in \[0, inf\). Got -1.0 instead."),
    ("beta", float("inf"), r"'beta' parameter of GaussianBottleneck must be a finite float in \[0, inf\). Got inf"),
    ("warmup", 1.5, r"'warmup' parameter of GaussianBottleneck must be a float in \[0, 1\]. Got 1.5 instead."),
    ("free_bits", -0.1, r"'free_bits' parameter of GaussianBottleneck must be a finite float in \[0, inf\)"),
])
def test_bad_options_are_rejected(option: str, value: float, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        GaussianBottleneck.Config(**{option: value})


# ------------------------------------------------------------------------------------------ likelihoods
PARAMS, X = torch.randn(3, 2, 5), torch.randn(3, 2, 5)


def _reference(dist: D.Distribution, x: torch.Tensor) -> torch.Tensor:
    return dist.log_prob(x).flatten(1).sum(1)


def test_log_prob_of_the_fixed_likelihoods_matches_torch_distributions() -> None:
    assert torch.allclose(MSELikelihood(MSELikelihood.Config()).log_prob(PARAMS, X),
                          _reference(D.Normal(PARAMS, 1.0), X))
    assert torch.allclose(L1Likelihood(L1Likelihood.Config()).log_prob(PARAMS, X),
                          _reference(D.Laplace(PARAMS, 1.0), X))
    binary = (torch.rand(3, 2, 5) > 0.5).float()
    assert torch.allclose(BCELikelihood(BCELikelihood.Config()).log_prob(PARAMS, binary),
                          _reference(D.Bernoulli(logits=PARAMS), binary))
    logits, ids = torch.randn(3, 4, 5), torch.randint(0, 4, (3, 5)).float()
    ce = CategoricalLikelihood(CategoricalLikelihood.Config(num_classes=4))
    assert torch.allclose(ce.log_prob(logits, ids), _reference(D.Categorical(logits=logits.movedim(1, -1)), ids))
    padded = CategoricalLikelihood(CategoricalLikelihood.Config(num_classes=4, ignore_index=0))
    kept = torch.stack([D.Categorical(logits=logits[i].T).log_prob(ids[i])[ids[i] != 0].sum() for i in range(3)])
    assert torch.allclose(padded.log_prob(logits, ids), kept)


@pytest.mark.parametrize(("cls", "dist"), [(GaussianLikelihood, D.Normal), (LaplaceLikelihood, D.Laplace)])
def test_location_scale_likelihoods_match_torch_distributions(cls: type, dist: type) -> None:
    fixed = cls(cls.Config(scale=0.3))
    assert fixed.param_shape((2, 5)) == (2, 5)
    assert torch.allclose(fixed.log_prob(PARAMS, X), _reference(dist(PARAMS, 0.3), X), atol=1e-5)
    assert torch.allclose(fixed.nll(PARAMS, X), -fixed.log_prob(PARAMS, X))  # "sum": the NLL in nats
    learned = cls(cls.Config(learned_variance=True, min_scale=0.01))
    assert learned.param_shape((2, 5)) == (2, 2, 5)
    params = torch.randn(3, 2, 2, 5)  # (batch, [loc, raw scale], *input_shape)
    scale = torch.nn.functional.softplus(params[:, 1]) + 0.01
    assert torch.allclose(learned.log_prob(params, X), _reference(dist(params[:, 0], scale), X), atol=1e-5)
    assert torch.equal(learned.mean(params), params[:, 0])


def test_learned_variance_trains_inside_a_model() -> None:
    config = AutoencoderConfig((1, 6, 6), 3, backbone=PartSpec("conv", {"hidden_dims": [4]}),
                               bottleneck=PartSpec("variational"),
                               likelihood=PartSpec("gaussian", {"learned_variance": True}))
    model = Autoencoder(config).train()
    x = torch.rand(4, 1, 6, 6)
    out = model(x)
    assert out.params.shape == (4, 2, 1, 6, 6) and out.x_hat.shape == x.shape
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_scales_must_be_positive() -> None:
    with pytest.raises(AekitError, match=r"'scale' parameter of GaussianLikelihood must be a finite float in "
                                         r"\(0, inf\). Got 0.0 instead."):
        GaussianLikelihood.Config(scale=0.0)
    with pytest.raises(AekitError, match=r"'min_scale' parameter of LaplaceLikelihood"):
        LaplaceLikelihood.Config(min_scale=-1.0)
