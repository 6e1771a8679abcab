"""Generation on top of a trained model: sample, interpolate, log_likelihood (model, estimator, CLI, presets)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.distributions import MultivariateNormal, Normal

from aekit import AutoEncoder, Autoencoder, AutoencoderConfig, PartSpec, build_config, list_models
from aekit.errors import AekitError
from aekit.estimator import _torch_generator

NO_PRIOR = ("Model with bottleneck 'deterministic' has no prior to sample from. Use a variational preset such as "
            "'vae'.")


# ------------------------------------------------------------------------- a linear-Gaussian model, exactly
D_IN, LATENT, SIGMA = 5, 2, 0.5


class Identity(nn.Linear):
    """An encoder that hands x through unchanged (a linear layer fixed at the identity)."""

    def __init__(self) -> None:
        super().__init__(D_IN, D_IN)
        self.out_features = D_IN
        with torch.no_grad():
            self.weight.copy_(torch.eye(D_IN))
            self.bias.zero_()


def linear_gaussian(mean_shift: float = 0.0) -> tuple[Autoencoder, MultivariateNormal, torch.Tensor]:
    """p(z) = N(0, I), p(x|z) = N(Wz + b, SIGMA^2 I), with W's columns orthogonal so that the true posterior is
    diagonal and the variational bottleneck can hold it exactly (shifted by ``mean_shift`` if asked).

    Returns the model, the exact marginal p(x) = N(b, W W^T + SIGMA^2 I), and the exact posterior variance.
    """
    generator = torch.Generator().manual_seed(0)
    q_basis, _ = torch.linalg.qr(torch.randn(D_IN, LATENT, generator=generator))
    weight = q_basis * torch.tensor([2.0, 0.7])  # (D_IN, LATENT), orthogonal columns
    bias = torch.randn(D_IN, generator=generator)
    posterior_var = 1.0 / (1.0 + (weight.square().sum(0)) / SIGMA**2)  # diag of (I + W^T W / SIGMA^2)^-1
    decoder = nn.Linear(LATENT, D_IN)
    config = AutoencoderConfig((D_IN,), LATENT, bottleneck=PartSpec("variational"),
                               likelihood=PartSpec("gaussian", {"scale": SIGMA}))
    model = Autoencoder(config, encoder=Identity(), decoder=decoder).eval()
    with torch.no_grad():
        decoder.weight.copy_(weight)
        decoder.bias.copy_(bias)
        gain = posterior_var[:, None] * weight.T / SIGMA**2  # (LATENT, D_IN): posterior mean = gain (x - b)
        model.bottleneck.mu.weight.copy_(gain)
        model.bottleneck.mu.bias.copy_(-gain @ bias + mean_shift)
        model.bottleneck.logvar.weight.zero_()
        model.bottleneck.logvar.bias.copy_(posterior_var.log())
    marginal = MultivariateNormal(bias.double(), (weight @ weight.T + SIGMA**2 * torch.eye(D_IN)).double())
    return model, marginal, posterior_var


def test_log_likelihood_is_exact_when_the_posterior_is() -> None:
    model, marginal, _ = linear_gaussian()
    x = marginal.sample((16,)).float()
    exact = marginal.log_prob(x.double()).float()
    for k in (1, 7):  # every importance weight equals p(x): any k gives the exact value
        assert torch.allclose(model.log_likelihood(x, k=k), exact, atol=2e-4)


def test_k_1_is_the_elbo_and_larger_k_tightens_the_bound() -> None:
    shift = 0.3
    model, marginal, posterior_var = linear_gaussian(mean_shift=shift)
    x = marginal.sample((8,)).float()
    exact = marginal.log_prob(x.double())
    gap = 0.5 * (shift**2 / posterior_var).sum()  # KL(q || true posterior) = log p(x) - ELBO, here 0.9 nats
    draws = 4000
    generator = torch.Generator().manual_seed(1)
    elbo = model.log_likelihood(x.repeat(draws, 1), k=1, generator=generator).double().view(draws, -1)
    assert torch.allclose(elbo.mean(0), exact - gap, atol=5 * float(elbo.std(0).max()) / math.sqrt(draws))
    iwae = model.log_likelihood(x.repeat(50, 1), k=64, generator=generator).double().view(50, -1).mean(0)
    assert (iwae > elbo.mean(0)).all() and (iwae <= exact + 0.02).all()  # 0.02: Monte Carlo noise of 50 runs
    assert ((exact - iwae) < 0.15 * gap).all()  # k=64 closes most of the gap (about 0.05 of it, measured)


def test_the_reconstruction_term_is_the_expected_log_likelihood_of_x_given_z() -> None:
    """E_q[log p(x|z)] = log N(x; W mu + b, SIGMA^2 I) - tr(W Sigma_q W^T) / (2 SIGMA^2), in closed form here;
    with the exact posterior, it minus KL(q || p(z)) is log p(x)."""
    model, marginal, posterior_var = linear_gaussian()
    x = marginal.sample((8,)).float()
    with torch.no_grad():
        mu = model.bottleneck.mu(x).double()  # (8, LATENT)
        weight, bias = model.decoder.weight.double(), model.decoder.bias.double()
    mean = mu @ weight.T + bias
    spread = (posterior_var.double() * weight.square().sum(0)).sum() / (2 * SIGMA**2)
    expected = Normal(mean, SIGMA).log_prob(x.double()).sum(1) - spread
    generator = torch.Generator().manual_seed(2)
    draws = model.log_likelihood(x.repeat(200, 1), k=20, generator=generator, term="reconstruction")
    estimate = draws.double().view(200, -1).mean(0)  # 4000 draws per row
    assert torch.allclose(estimate, expected, atol=0.05)
    kl = 0.5 * (posterior_var.double() + mu.square() - 1 - posterior_var.double().log()).sum(1)
    assert torch.allclose(expected - kl, marginal.log_prob(x.double()), atol=1e-3)
    with pytest.raises(AekitError, match="'term' parameter of Autoencoder.log_likelihood must be one of bound, "
                                         "reconstruction. Got 'elbo' instead."):
        model.log_likelihood(x, term="elbo")


def test_log_likelihood_chunks_rows_and_draws_without_mixing_them() -> None:
    model, marginal, _ = linear_gaussian()
    x = marginal.sample((6,)).float()
    exact = marginal.log_prob(x.double()).float()
    # chunk_size=4: rows go 4 + 2, decoded 1 draw x 4 rows, then 2 draws x 2 rows at a time
    assert torch.allclose(model.log_likelihood(x, k=5, chunk_size=4), exact, atol=2e-4)


# --------------------------------------------------------------------------------- the generic model API
def vae(input_shape: tuple[int, ...] = (12,)) -> Autoencoder:
    return Autoencoder(build_config("vae", input_shape=input_shape, latent_dim=3, options={"hidden_dims": [8]}))


def test_sample_decodes_prior_draws_reproducibly_without_touching_the_global_rng() -> None:
    model = vae((1, 4, 4)).eval()
    state = torch.get_rng_state()
    first = model.sample(5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state)
    assert first.shape == (5, 1, 4, 4) and ((first >= 0) & (first <= 1)).all()  # Bernoulli means
    assert torch.equal(first, model.sample(5, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(first, model.sample(5, generator=torch.Generator().manual_seed(8)))


def test_models_without_a_prior_say_so() -> None:
    model = Autoencoder(AutoencoderConfig((12,), 3))
    with pytest.raises(AekitError, match=f"^{NO_PRIOR}$".replace("(", r"\(").replace(")", r"\)")):
        model.sample(4)
    with pytest.raises(AekitError, match="bottleneck 'deterministic' has no posterior"):
        model.log_likelihood(torch.rand(2, 12))


def test_interpolate_runs_from_the_first_code_to_the_last_for_any_model() -> None:
    for model in (vae().eval(), Autoencoder(AutoencoderConfig((12,), 3)).eval()):
        a, b = torch.rand(12), torch.rand(1, 12)
        path = model.interpolate(a, b, steps=5)
        assert path.shape == (5, 12)
        assert torch.allclose(path[0], model.reconstruct(a[None])[0], atol=1e-6)
        assert torch.allclose(path[-1], model.reconstruct(b)[0], atol=1e-6)


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: m.interpolate(torch.rand(12), torch.rand(12), steps=1), r"'steps' .* \[2, inf\]. Got 1 instead"),
    (lambda m: m.interpolate(torch.rand(2, 12), torch.rand(12)), r"'a' argument .* Got shape \(2, 12\) instead"),
    (lambda m: m.log_likelihood(torch.rand(2, 12), k=0), r"'k' parameter .* Got 0 instead"),
    (lambda m: m.log_likelihood(torch.rand(2, 11)), r"expects 'x' of shape \(batch, 12\). Got shape \(2, 11\)"),
    (lambda m: m.sample(0), r"'n' parameter of Autoencoder.sample .* Got 0 instead"),
])
def test_bad_arguments_are_explained(call, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        call(vae())


# --------------------------------------------------------------------------------------------- presets
def test_variational_presets() -> None:
    models = list_models("*vae")
    assert {"vae", "beta-vae", "conv-vae"} <= set(models) and all(models.values())
    config = build_config("vae", input_shape=(12,), latent_dim=3)
    assert config.bottleneck == PartSpec("variational", {"warmup": 0.1})
    assert config.likelihood == PartSpec("bce", {"reduction": "sum"})
    assert build_config("beta-vae", input_shape=(12,), latent_dim=3).bottleneck.options == {"beta": 4.0, "warmup": 0.1}
    assert build_config("conv-vae", input_shape=(1, 8, 8), latent_dim=3).backbone.name == "conv"
    routed = build_config("vae", input_shape=(12,), latent_dim=3, options={"beta": 0.5, "warmup": 0.2})
    assert routed.bottleneck.options == {"beta": 0.5, "warmup": 0.2}


# ------------------------------------------------------------------------------------------- estimator
@pytest.fixture(scope="module")
def images(digits: np.ndarray) -> np.ndarray:
    return digits[:400].reshape(-1, 1, 8, 8)


@pytest.fixture(scope="module")
def fitted(images: np.ndarray) -> AutoEncoder:
    return AutoEncoder("vae", latent_dim=3, hidden_dims=(32,), max_epochs=4, batch_size=32, random_state=0,
                       device="cpu").fit(images)


def test_log_likelihood_bound_rises_with_k_on_a_trained_vae(fitted: AutoEncoder, images: np.ndarray) -> None:
    # every row shares one seed's draws, so average the one-draw ELBO over seeds before comparing means
    elbo = np.mean([fitted.log_likelihood(images[:100], k=1, random_state=seed) for seed in range(16)], axis=0)
    iwae = fitted.log_likelihood(images[:100], k=64, random_state=0)
    assert elbo.shape == iwae.shape == (100,) and np.isfinite(iwae).all()
    assert iwae.mean() > elbo.mean()


def test_a_rows_log_likelihood_does_not_depend_on_the_rows_beside_it(fitted: AutoEncoder, images: np.ndarray) -> None:
    together = fitted.log_likelihood(images[:300], k=4, random_state=0)
    reversed_ = fitted.log_likelihood(images[:300][::-1], k=4, random_state=0)[::-1]
    alone = [fitted.log_likelihood(images[i:i + 1], k=4, random_state=0)[0] for i in (0, 150, 299)]
    np.testing.assert_allclose(reversed_, together, rtol=1e-5)
    np.testing.assert_allclose(alone, together[[0, 150, 299]], rtol=1e-5)


def test_transform_is_the_posterior_mean(fitted: AutoEncoder, images: np.ndarray) -> None:
    codes = fitted.transform(images[:20])
    assert np.array_equal(codes, fitted.transform(images[:20]))
    model = fitted.model_
    with torch.no_grad():
        x = fitted.scaler_.transform(torch.as_tensor(images[:20], dtype=torch.float32))
        mean = model.bottleneck.posterior(model.encoder(x)).mean.numpy()
    np.testing.assert_allclose(codes, mean, atol=1e-5)


def test_estimator_samples_and_interpolates_in_original_units(fitted: AutoEncoder, images: np.ndarray) -> None:
    samples = fitted.sample(6, random_state=0)
    assert samples.shape == (6, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 16  # digits' range
    assert samples.max() > 1  # the scaler was undone
    assert np.array_equal(samples, fitted.sample(6, random_state=0))
    path = fitted.interpolate(images[0], images[1], steps=4)
    assert path.shape == (4, 1, 8, 8)
    np.testing.assert_allclose(path[0], fitted.reconstruct(images[:1])[0], atol=1e-4)
    with pytest.raises(AekitError, match="'a' argument of interpolate must be one sample with 64 values"):
        fitted.interpolate(images[:2], images[1])


def test_flat_rows_give_flat_samples_and_densities_in_original_units(digits: np.ndarray) -> None:
    X = digits[:200]
    estimator = AutoEncoder("vae", latent_dim=2, hidden_dims=(16,), loss="gaussian", max_epochs=1,
                            random_state=0, device="cpu").fit(X)
    assert estimator.sample(3, random_state=1).shape == (3, 64)
    assert estimator.interpolate(X[0], X[1], steps=3).shape == (3, 64)
    log_p = estimator.log_likelihood(X[:10], k=8, random_state=0)
    x = estimator.scaler_.transform(torch.as_tensor(X[:10], dtype=torch.float32))
    scaled = estimator.model_.log_likelihood(x, k=8, generator=_torch_generator(0), common_draws=True).double().numpy()
    np.testing.assert_allclose(log_p, scaled - np.log(estimator.scaler_.scale_).sum(), rtol=1e-6)


def test_estimator_sample_needs_a_generative_model(digits: np.ndarray) -> None:
    estimator = AutoEncoder(latent_dim=2, hidden_dims=(8,), max_epochs=1, random_state=0).fit(digits[:50])
    with pytest.raises(AekitError, match="has no prior to sample from"):
        estimator.sample(2)


# ------------------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def run_dir(fitted: AutoEncoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fitted.save(tmp_path_factory.mktemp("vae") / "run")


def test_generate_writes_a_png_grid_or_an_array(cli, run_dir: Path, tmp_path: Path) -> None:
    code, out, _ = cli("generate", run_dir, "-n", "10", "-o", tmp_path / "grid.png")
    assert code == 0 and "Wrote 10 samples" in out
    with Image.open(tmp_path / "grid.png") as image:
        assert image.mode == "L" and image.size == (4 * 8 * 7 + 3 * 7, 3 * 8 * 7 + 2 * 7)  # 4 x 3 tiles, zoom 7
    code, _, _ = cli("generate", run_dir, "-n", "5", "--seed", "3", "-o", tmp_path / "s.npy")
    assert code == 0 and np.load(tmp_path / "s.npy").shape == (5, 1, 8, 8)
    code, out, _ = cli("generate", run_dir, "--interpolate", "digits", "--from-index", "3", "--to-index",
                       "9", "--steps", "6", "-o", tmp_path / "line.npy")
    assert code == 0 and np.load(tmp_path / "line.npy").shape == (6, 1, 8, 8) and "from sample 3 to 9" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "line.npy", "s.npy"]  # no temporary files


def test_generate_errors_are_one_line(cli, run_dir: Path, tmp_path: Path, digits: np.ndarray) -> None:
    code, _, err = cli("generate", run_dir, "-o", tmp_path / "s.jpg")
    assert code == 1 and err.startswith("error: --output must end in .png") and err.count("\n") == 1
    code, _, err = cli("generate", run_dir, "--interpolate", "digits", "--to-index", "5000",
                       "-o", tmp_path / "s.npy")
    assert code == 1 and "--to-index must be in [0, 1796]" in err
    code, _, err = cli("generate", run_dir, "--interpolate", "digits", "--steps", "5000", "-o", tmp_path / "s.png")
    assert code == 1 and err.startswith("error: --steps 5000 is too many tiles for a .png grid (at most 4096)")
    code, _, err = cli("generate", run_dir, "--interpolate", "digits", "--steps", "100000000000", "-o",
                       tmp_path / "s.npy")  # 25 TB of samples: refused before any work, not an allocation failure
    assert code == 1 and err.startswith("error: --steps 100000000000 samples of shape (1, 8, 8) need") and \
        err.count("\n") == 1, err
    plain = AutoEncoder(latent_dim=2, hidden_dims=(8,), max_epochs=1, random_state=0).fit(digits[:50])
    plain.save(tmp_path / "plain")
    code, _, err = cli("generate", tmp_path / "plain", "-o", tmp_path / "s.npy")
    assert code == 1 and err == f"error: {NO_PRIOR}\n"
    code, _, err = cli("generate", tmp_path / "plain", "-o", tmp_path / "s.png")
    assert code == 1 and "A .png grid needs a model of images (C, H, W)" in err and "shape (64,)" in err
