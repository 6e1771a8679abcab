"""The VQ bottleneck: nearest-code quantization, straight-through gradients, EMA codebook, dead-code restarts,
perplexity, and the vq-vae preset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aekit import Autoencoder, AutoencoderConfig, PartSpec
from aekit.errors import AekitError
from aekit.parts.bottlenecks.vq import VQBottleneck
from aekit.presets import build_config


def bottleneck(in_features: int = 6, latent_dim: int = 4, **options: object) -> VQBottleneck:
    return VQBottleneck(VQBottleneck.Config(**options), in_features=in_features, latent_dim=latent_dim)


def identity_projection(vq: VQBottleneck) -> VQBottleneck:
    """z_e = h, so tests can place encoder outputs exactly."""
    with torch.no_grad():
        vq.project.weight.copy_(torch.eye(vq.latent_dim))
        vq.project.bias.zero_()
    return vq


def set_codebook(vq: VQBottleneck, codebook: torch.Tensor) -> None:
    vq.codebook.copy_(codebook)
    vq.ema_sum.copy_(codebook)
    vq.ema_count.fill_(1.0)
    vq.initialized.fill_(True)


def test_z_is_made_of_the_nearest_codebook_entries() -> None:
    vq = bottleneck(in_features=10, latent_dim=8, codebook_size=16, embedding_dim=2).eval()
    h = torch.randn(5, 10)
    z = vq(h).z  # (5, 8) = 4 vectors of 2 per sample
    z_e = vq.project(h).reshape(-1, 2)
    nearest = torch.cdist(z_e, vq.codebook).argmin(1)  # an independent nearest-neighbour search
    assert z.shape == (5, 8)
    assert torch.allclose(z.reshape(-1, 2), vq.codebook[nearest], atol=1e-6)  # z_e + (z_q - z_e): rounding


@pytest.mark.parametrize("lead", [(5,), (3, 4)])  # one code per sample, or one per position of a sequence
def test_code_indices_are_the_nearest_entries_that_make_up_z(lead: tuple[int, ...]) -> None:
    vq = bottleneck(in_features=10, latent_dim=8, codebook_size=16, embedding_dim=2).eval()
    h = torch.randn(*lead, 10)
    indices = vq.code_indices(h)
    assert indices.shape == (*lead, 4) and indices.dtype == torch.int64
    with torch.no_grad():
        z_e = vq.project(h).reshape(-1, 2)
        nearest = torch.cdist(z_e, vq.codebook).argmin(1)  # an independent nearest-neighbour search
        z = vq(h).z
    assert torch.equal(indices.reshape(-1), nearest)
    assert torch.allclose(vq.codebook[indices].reshape(*lead, 8), z, atol=1e-6)


def test_code_indices_change_nothing_in_training_mode() -> None:
    vq = bottleneck(in_features=6, latent_dim=4, codebook_size=8).train()
    before = {name: buffer.clone() for name, buffer in vq.named_buffers()}
    vq.code_indices(torch.randn(7, 6))
    assert all(torch.equal(buffer, before[name]) for name, buffer in vq.named_buffers())


@pytest.mark.parametrize("name", ["deterministic", "variational", "topk", "jumprelu", "factorized"])
def test_bottlenecks_without_a_codebook_have_no_code_indices(name: str) -> None:
    model = Autoencoder(AutoencoderConfig((6,), 4, bottleneck=PartSpec(name)))
    with pytest.raises(AekitError, match=f"^Model with bottleneck '{name}' has no codebook, so there are no code "
                                         "indices. Use a vector-quantized preset such as 'vq-vae'.$"):
        model.code_indices(torch.rand(2, 6))


def test_straight_through_gradient_reaches_the_encoder() -> None:
    vq = bottleneck(in_features=6, latent_dim=4, beta=0.0).eval()
    h = torch.randn(3, 6, requires_grad=True)
    weights = torch.randn(3, 4)
    (vq(h).z * weights).sum().backward()
    # the quantizer acts as the identity for gradients: d/dh sum(w * (W h + b)) = w W
    assert torch.allclose(h.grad, weights @ vq.project.weight)
    assert vq.project.weight.grad.abs().sum() > 0

    torch.manual_seed(0)  # in a whole model with beta=0 the encoder learns from the reconstruction alone
    model = Autoencoder(AutoencoderConfig((12,), 4, bottleneck=PartSpec("vq", {"beta": 0.0})))
    model(torch.rand(8, 12)).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_commitment_loss_is_beta_times_the_distance_to_the_code() -> None:
    vq = bottleneck(beta=0.5).eval()
    h = torch.randn(7, 6)
    out = vq(h)
    z_e = vq.project(h)
    assert out.losses["commitment"].item() == pytest.approx(0.5 * (z_e - out.z).square().mean().item(), rel=1e-5)


def test_perplexity_and_usage_match_a_hand_computation() -> None:
    vq = identity_projection(bottleneck(in_features=2, latent_dim=2, codebook_size=8, embedding_dim=1)).eval()
    set_codebook(vq, torch.arange(8.0).unsqueeze(1))  # codes 0, 1, ..., 7
    h = torch.tensor([[0.1, -0.2], [0.9, 2.2], [0.05, 1.1], [2.1, 0.2]])  # codes 0,0 1,2 0,1 2,0
    stats = vq(h).stats
    probs = np.array([4, 2, 2]) / 8
    assert stats["perplexity"].item() == pytest.approx(math.exp(-(probs * np.log(probs)).sum()), rel=1e-6)
    assert stats["perplexity"].item() == pytest.approx(2 ** 1.5, rel=1e-6)
    assert stats["codebook_usage"].item() == pytest.approx(3 / 8)


def test_ema_update_matches_the_closed_form_and_happens_only_in_training() -> None:
    vq = identity_projection(bottleneck(in_features=2, latent_dim=2, codebook_size=4, embedding_dim=2,
                                        decay=0.9))
    set_codebook(vq, torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]]))
    h = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 1.0]])  # codes 0, 0, 1
    before = {name: b.clone() for name, b in vq.named_buffers()}
    vq.eval()(h)
    assert all(torch.equal(b, before[name]) for name, b in vq.named_buffers())  # eval: nothing moves
    vq.train()(h)
    # count_k <- 0.9 count_k + 0.1 n_k, sum_k <- 0.9 sum_k + 0.1 (sum of assigned z_e), code = sum / count
    code_0 = (0.9 * torch.tensor([0.0, 0.0]) + 0.1 * torch.tensor([1.0, 1.0])) / (0.9 + 0.1 * 2)
    code_1 = (0.9 * torch.tensor([10.0, 0.0]) + 0.1 * torch.tensor([9.0, 1.0])) / (0.9 + 0.1 * 1)
    assert torch.allclose(vq.codebook[0], code_0) and torch.allclose(vq.codebook[1], code_1)
    assert torch.allclose(vq.codebook[2:], before["codebook"][2:])  # unused codes keep their value
    assert vq.steps_unused.tolist() == [0, 0, 1, 1]


def test_dead_codes_are_restarted_from_recent_encoder_outputs() -> None:
    vq = identity_projection(bottleneck(in_features=2, latent_dim=2, codebook_size=4, embedding_dim=2,
                                        dead_code_steps=3)).train()
    set_codebook(vq, torch.tensor([[0.0, 0.0], [1.0, 1.0], [1e3, 1e3], [-1e3, 1e3]]))  # 2 and 3 far away
    for step in range(3):
        h = torch.rand(16, 2)
        vq(h)
        if step < 2:
            assert vq.codebook[2, 0] == 1e3  # not dead long enough yet
    restarted = vq.codebook[2:]
    assert all(any(torch.equal(code, row) for row in h) for code in restarted)  # rows of the last batch
    assert vq.steps_unused[2:].tolist() == [0, 0]
    assert torch.equal(vq.ema_sum[2:], restarted) and vq.ema_count[2:].tolist() == [1.0, 1.0]


def test_first_training_step_initialises_the_codebook_from_the_data() -> None:
    vq = identity_projection(bottleneck(in_features=2, latent_dim=2, codebook_size=4, embedding_dim=2))
    h = torch.rand(32, 2) + 100  # far from the N(0, 1) placeholder codes
    out = vq.train()(h)
    assert bool(vq.initialized)
    assert out.stats["codebook_usage"] > 0.5  # the codes sit among the data, so most are used
    assert (vq.codebook > 99).all()


def test_restarts_keep_the_codebook_in_use_and_eval_is_deterministic() -> None:
    x = torch.rand(256, 16)
    stats = {}
    for dead_code_steps in (0, 5):
        torch.manual_seed(0)
        model = Autoencoder(AutoencoderConfig((16,), 8, backbone=PartSpec("dense", {"hidden_dims": [64]}),
                                              bottleneck=PartSpec("vq", {"codebook_size": 32,
                                                                         "dead_code_steps": dead_code_steps})))
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(40):
            out = model(x)
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
        stats[dead_code_steps] = out.stats
    # early training collapses onto a few codes; restarts bring the unused ones back among the data
    assert stats[0]["codebook_usage"] < 0.5
    assert stats[5]["codebook_usage"] > 0.8 and stats[5]["perplexity"] > 2 * stats[0]["perplexity"]
    model.eval()
    codebook = model.bottleneck.codebook.clone()
    with torch.no_grad():
        assert torch.equal(model.encode(x), model.encode(x))
    assert torch.equal(model.bottleneck.codebook, codebook)


def test_latent_dim_must_be_a_multiple_of_embedding_dim() -> None:
    with pytest.raises(AekitError, match="'embedding_dim' parameter of VQBottleneck must divide latent_dim=10.*"
                                         "Got 4 instead. Pick a divisor of 10"):
        bottleneck(latent_dim=10, embedding_dim=4)


@pytest.mark.parametrize(("options", "message"), [
    ({"decay": 1.0}, "'decay' parameter of VQBottleneck must be a float in \\[0, 1\\). Got 1.0"),
    ({"codebook_size": 1}, "'codebook_size' parameter of VQBottleneck must be an int in \\[2, inf\\]. Got 1"),
    ({"beta": -1.0}, "'beta' parameter of VQBottleneck must be a finite float in \\[0, inf\\). Got -1.0"),
    ({"dead_code_steps": -1}, "'dead_code_steps' parameter of VQBottleneck must be an int in \\[0, inf\\]"),
])
def test_bad_options_are_explained(options: dict, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        VQBottleneck.Config(**options)


def test_vq_vae_preset_routes_options_and_trains() -> None:
    config = build_config("vq-vae", input_shape=(1, 8, 8), latent_dim=8,
                          options={"beta": 0.5, "codebook_size": 16, "hidden_dims": [4, 8]})
    assert config.backbone.name == "conv" and config.bottleneck.name == "vq"
    assert config.bottleneck.options == {"beta": 0.5, "codebook_size": 16}
    model = Autoencoder(config)
    out = model.train()(torch.rand(4, 1, 8, 8))
    assert set(out.losses) == {"reconstruction", "commitment"}
    assert set(out.stats) == {"codebook_usage", "perplexity", "code_frequency"}
    assert out.stats["code_frequency"].shape == (16,) and float(out.stats["code_frequency"].sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_a_model_cast_to_another_dtype_quantizes_in_it(dtype: torch.dtype) -> None:
    model = Autoencoder(build_config("vq-vae", input_shape=(1, 8, 8), latent_dim=8)).to(dtype)
    out = model(torch.rand(4, 1, 8, 8, dtype=dtype))
    assert out.z.dtype == dtype and out.loss.isfinite()
    out.loss.backward()
