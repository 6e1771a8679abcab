"""SparseAutoencoder maths: the sparse training step equals the dense one, unit-norm decoder, TopK L0, FVU, AuxK."""

from __future__ import annotations

import pytest
import torch

from aekit.errors import AekitError
from aekit.sae import model as sae_model
from aekit.sae.model import SAEConfig, SparseAutoencoder, fvu, geometric_median

from .conftest import sparse_activations


def _sae(arch: str = "topk", **options) -> SparseAutoencoder:
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(d_in=16, arch=arch, expansion=4, k=options.pop("k", 4), **options))
    return sae.initialize(sparse_activations(2000))


@pytest.mark.parametrize("arch", ["topk", "jumprelu", "relu-l1"])
def test_the_sparse_step_equals_the_dense_one(arch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gathering the bottleneck's support and decoding with embedding_bag gives the dense loss and gradients."""
    sae = _sae(arch)
    x = sparse_activations(256, seed=1) * sae.input_scale
    dead = torch.arange(sae.config.latent_dim) % 3 == 0
    results = []
    for dense_above in (1.0, 0.0):  # always gather, then never
        monkeypatch.setattr(sae_model, "_DENSE_ABOVE", dense_above)
        sae.zero_grad()
        out = sae.loss(x, dead=dead, aux_k=8, aux_weight=1 / 32, sparsity_scale=0.7)
        out.loss.backward()
        results.append((out, {name: p.grad.clone() for name, p in sae.named_parameters()}))
    (sparse, sparse_grads), (dense, dense_grads) = results
    assert set(sparse.losses) == set(dense.losses) and "aux" in sparse.losses
    for name in sparse.losses:
        assert sparse.losses[name].item() == pytest.approx(dense.losses[name].item(), rel=1e-5, abs=1e-7)
    assert torch.equal(sparse.fired, dense.fired)
    assert sparse.l0.item() == pytest.approx(dense.l0.item())
    for name, grad in dense_grads.items():
        torch.testing.assert_close(sparse_grads[name], grad, rtol=1e-4, atol=1e-6)


def test_topk_keeps_exactly_k_latents_per_token() -> None:
    sae = _sae("topk", k=5)
    z = sae.encode(sparse_activations(300, seed=2))
    assert ((z != 0).sum(1) == 5).all()
    assert (z >= 0).all()


def test_decoder_rows_stay_unit_norm_and_the_radial_gradient_is_removed() -> None:
    sae = _sae("jumprelu")
    optimizer = torch.optim.Adam(sae.parameters(), lr=1e-2)
    x = sparse_activations(512, seed=3) * sae.input_scale
    for _ in range(5):
        sae.zero_grad()
        sae.loss(x).loss.backward()
        sae.project_decoder_grad()
        radial = (sae.W_dec.grad * sae.W_dec).sum(1)  # (latent_dim,)
        assert radial.abs().max() < 1e-6
        optimizer.step()
        sae.normalize_decoder()
        torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(sae.config.latent_dim))


def test_fvu_matches_a_hand_computation() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]])
    x_hat = torch.tensor([[1.0, 1.0], [3.0, 4.0], [4.0, 0.0]])
    mean = x.mean(0)  # [3, 2]
    total = sum(float((row - mean).pow(2).sum()) for row in x)  # 4+0 + 0+4 + 4+4 = 16
    assert total == 16.0
    assert fvu(x, x_hat).item() == pytest.approx((1.0 + 1.0) / 16.0)


def test_geometric_median_matches_a_numerical_minimum_and_resists_an_outlier() -> None:
    from scipy.optimize import minimize

    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [100.0, 100.0]], dtype=torch.float64)
    median = geometric_median(x, iterations=500, tolerance=1e-12)
    points = x.numpy()
    best = minimize(lambda p: ((points - p) ** 2).sum(1).__pow__(0.5).sum(), x0=[0.5, 0.5], method="Nelder-Mead",
                    options={"xatol": 1e-10, "fatol": 1e-12}).x
    assert median.numpy() == pytest.approx(best, abs=1e-5)
    assert median.norm() < 2.0
    assert x.mean(0).norm() > 20.0  # the mean is dragged to (20.4, 20.4)


def test_initialize_scales_inputs_to_mean_norm_sqrt_d_and_sets_the_mean() -> None:
    x = sparse_activations(1000) * 7.0
    sae = SparseAutoencoder(SAEConfig(d_in=16, expansion=2, k=4)).initialize(x, b_dec_init="mean")
    assert (x * sae.input_scale).norm(dim=1).mean().item() == pytest.approx(4.0, rel=1e-4)
    torch.testing.assert_close(sae.input_mean, x.mean(0))
    torch.testing.assert_close(sae.b_dec, (x * sae.input_scale).mean(0), rtol=1e-4, atol=1e-5)


def test_penalised_codes_start_with_about_k_active_latents() -> None:
    for arch in ("jumprelu", "relu-l1"):
        sae = _sae(arch, k=6)
        l0 = (sae.encode(sparse_activations(2000)) != 0).sum(1).float().mean().item()
        assert 4.0 < l0 < 8.0, arch


def test_auxk_revives_dead_latents() -> None:
    """Latents whose pre-activations are too small to reach the top k get no gradient and stay dead; AuxK's
    gradient (on the residual) brings them back."""
    x = sparse_activations(4000, seed=4)
    dead_after = {}
    for aux_weight in (0.0, 1.0):
        sae = _sae("topk", k=4)
        with torch.no_grad():
            sae.W_enc[:32] *= 0.05  # half the latents are outcompeted: never in the top k
        optimizer = torch.optim.Adam(sae.parameters(), lr=3e-3)
        silent = torch.zeros(sae.config.latent_dim, dtype=torch.int64)
        generator = torch.Generator().manual_seed(0)
        for _ in range(150):
            batch = x[torch.randint(0, len(x), (256,), generator=generator)] * sae.input_scale
            out = sae.loss(batch, dead=silent >= 512, aux_k=8, aux_weight=aux_weight)
            optimizer.zero_grad()
            out.loss.backward()
            sae.project_decoder_grad()
            optimizer.step()
            sae.normalize_decoder()
            silent += len(batch)
            silent[out.fired] = 0
        fired = (sae.encode(x) != 0).any(0)
        dead_after[aux_weight] = int((~fired).sum())
    assert dead_after[0.0] == 32
    assert dead_after[1.0] < 16


def test_wrong_input_width_is_one_clear_error() -> None:
    sae = SparseAutoencoder(SAEConfig(d_in=16, expansion=2, k=4))
    with pytest.raises(AekitError, match=r"expects activations of shape \(n, 16\)\. Got \(3, 15\) instead"):
        sae.encode(torch.zeros(3, 15))


def test_unknown_arch_suggests_the_closest() -> None:
    with pytest.raises(AekitError, match="Got 'topK' instead. Did you mean 'topk'"):
        SAEConfig(d_in=8, arch="topK")


def test_k_beyond_the_latents_is_rejected() -> None:
    with pytest.raises(AekitError, match=r"'k' parameter of SparseAutoencoder must be an int in \[1, 16\]"):
        SAEConfig(d_in=8, expansion=2, k=17)


def test_unknown_b_dec_init_is_rejected() -> None:
    sae = SparseAutoencoder(SAEConfig(d_in=16, expansion=2, k=4))
    with pytest.raises(AekitError, match="Did you mean 'mean'"):
        sae.initialize(sparse_activations(100), b_dec_init="maen")


def test_config_round_trips_through_json() -> None:
    config = SAEConfig(d_in=12, arch="jumprelu", expansion=3, k=5, sparsity_weight=0.02)
    assert SAEConfig.from_json_dict(config.to_json_dict()) == config


def test_a_sparsity_weight_for_an_arch_without_a_penalty_is_refused() -> None:
    with pytest.raises(AekitError, match=r"'sparsity_weight' parameter of SparseAutoencoder is for arch jumprelu "
                                         r"\(its L0 coefficient\) and relu-l1 \(its L1 coefficient\); arch 'topk' has "
                                         r"no sparsity penalty, so 0.01 would be ignored\. Leave it unset"):
        SAEConfig(d_in=4, arch="topk", sparsity_weight=0.01)
    assert SAEConfig(d_in=4, arch="topk").penalty_weight == 0.0  # the default (None) is no choice: accepted
    assert SAEConfig(d_in=4, arch="relu-l1", sparsity_weight=0.01).penalty_weight == 0.01


def test_a_saved_topk_config_with_its_unused_sparsity_weight_still_loads() -> None:
    data = {**SAEConfig(d_in=4, arch="topk").to_json_dict(), "sparsity_weight": 0.01}  # saved before the refusal
    assert SAEConfig.from_json_dict(data).sparsity_weight is None


@pytest.mark.parametrize("arch", ["topk", "relu-l1"])
@pytest.mark.parametrize(("name", "value"), [("bandwidth", 0.2), ("initial_threshold", 0.3)])
def test_jumprelu_options_for_another_arch_are_refused(arch: str, name: str, value: float) -> None:
    with pytest.raises(AekitError, match=rf"The '{name}' parameter of SparseAutoencoder is for arch jumprelu, whose "
                                         rf"threshold it sets; arch '{arch}' has no threshold, so {value} would be "
                                         r"ignored\. Leave it unset, or choose arch 'jumprelu'\."):
        SAEConfig(d_in=4, arch=arch, k=2, **{name: value})


def test_jumprelu_options_reach_its_bottleneck_and_are_checked() -> None:
    sae = SparseAutoencoder(SAEConfig(d_in=4, arch="jumprelu", expansion=2, k=2, bandwidth=0.2,
                                      initial_threshold=0.3))
    assert (sae.bottleneck.config.bandwidth, sae.bottleneck.config.initial_threshold) == (0.2, 0.3)
    assert SAEConfig(d_in=4, arch="jumprelu", k=2).jumprelu_options == {"bandwidth": 0.05, "initial_threshold": 0.1}
    with pytest.raises(AekitError, match=r"'bandwidth' parameter of SparseAutoencoder must be a float in \(0, inf\]"):
        SAEConfig(d_in=4, arch="jumprelu", k=2, bandwidth=0.0)


def test_a_saved_topk_config_with_the_unused_jumprelu_options_still_loads() -> None:
    data = {**SAEConfig(d_in=4, arch="topk").to_json_dict(), "bandwidth": 0.05, "initial_threshold": 0.1}
    config = SAEConfig.from_json_dict(data)  # saved when every arch stored them
    assert (config.bandwidth, config.initial_threshold) == (None, None)
