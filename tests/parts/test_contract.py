"""One contract over every registered part: shapes, finite loss, gradients, determinism, save/load, config.

A new part registered anywhere in aekit.parts is picked up here with no change to this file.
"""

from __future__ import annotations

import json

import pytest
import torch

from aekit import Autoencoder, AutoencoderConfig, PartSpec
from aekit.config import to_dict
from aekit.io import load_model, save_model
from aekit.parts import BACKBONES, BOTTLENECKS, CORRUPTIONS, LIKELIHOODS, REGULARIZERS

LATENT = 4


def _input_shape(backbone: str) -> tuple[int, ...]:
    """A small sample shape the backbone accepts: an odd-sized image where images are required."""
    ndims = BACKBONES.get(backbone).sample_ndims
    if ndims is None or 1 in ndims:
        return (12,)
    return (1, 7, 9) if 3 in ndims else (2, 11)


def _backbone_config(backbone: str) -> AutoencoderConfig:
    """Backbones reading token ids (``input_kind = "tokens"``) are scored by 'ce' over a vocabulary both share."""
    if BACKBONES.get(backbone).input_kind == "tokens":
        vocab = {"num_classes": 7}
        return AutoencoderConfig(_input_shape(backbone), LATENT, backbone=PartSpec(backbone, vocab),
                                 likelihood=PartSpec("ce", vocab))
    return AutoencoderConfig(_input_shape(backbone), LATENT, backbone=PartSpec(backbone))


def _configs() -> list[tuple[str, AutoencoderConfig]]:
    cases = []
    for name in BACKBONES.names():
        cases.append((f"backbone={name}", _backbone_config(name)))
    base = dict(input_shape=(12,), latent_dim=LATENT)
    for name in BOTTLENECKS.names():
        cases.append((f"bottleneck={name}", AutoencoderConfig(**base, bottleneck=PartSpec(name))))
    for name in LIKELIHOODS.names():
        cases.append((f"likelihood={name}", AutoencoderConfig(**base, likelihood=PartSpec(name))))
    for name in REGULARIZERS.names():
        cases.append((f"regularizer={name}", AutoencoderConfig(**base, regularizers=(PartSpec(name),))))
    for name in CORRUPTIONS.names():
        shape = (3, 8, 8)  # image-shaped so degradations (grayscale, downsample, box_mask) apply
        cases.append((f"corruption={name}", AutoencoderConfig(shape, LATENT, backbone=PartSpec("conv"),
                                                              corruption=PartSpec(name))))
    return cases


CASES = _configs()


def _batch(model: Autoencoder, n: int = 6) -> torch.Tensor:
    shape = model.config.input_shape
    if model.likelihood.discrete:
        return torch.randint(0, model.likelihood.config.num_classes, (n, *shape)).float()
    return torch.rand(n, *shape)


@pytest.fixture(params=CASES, ids=[c[0] for c in CASES])
def model(request: pytest.FixtureRequest) -> Autoencoder:
    torch.manual_seed(0)
    return Autoencoder(request.param[1])


def test_shapes_and_finite_loss(model: Autoencoder) -> None:
    x = _batch(model)
    out = model(x)
    assert out.x_hat.shape == x.shape
    assert out.z.shape == (x.shape[0], LATENT)
    assert out.nll.shape == (x.shape[0],)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert set(out.losses) >= {"reconstruction"}
    assert torch.allclose(out.loss, sum(out.losses.values()))
    assert model.encode(x).shape == (x.shape[0], LATENT)
    assert model.decode(out.z).shape == x.shape


def test_every_parameter_gets_a_gradient(model: Autoencoder) -> None:
    model.train()
    model(_batch(model)).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not
                                                                               torch.isfinite(p.grad).all())]
    zero = [n for n, p in model.named_parameters() if p.grad is not None and not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"
    assert not zero, f"all-zero gradient for {zero}"


def test_eval_mode_is_deterministic(model: Autoencoder) -> None:
    model.eval()
    x = _batch(model)
    with torch.no_grad():
        assert torch.equal(model.encode(x), model.encode(x))
        assert torch.equal(model.reconstruct(x), model.reconstruct(x))
        out = model(x)
        assert torch.equal(out.z, model.encode(x))  # no corruption outside training
        if not getattr(model.decoder, "needs_target", False):  # teacher-forced x_hat: next-step predictions
            assert torch.equal(out.x_hat, model.reconstruct(x))


def test_save_load_gives_identical_outputs(model: Autoencoder, tmp_path) -> None:
    model.eval()
    x = _batch(model)
    save_model(tmp_path / "m", model)
    loaded = load_model(tmp_path / "m").model
    with torch.no_grad():
        assert torch.equal(model.encode(x), loaded.encode(x))
        assert torch.equal(model.reconstruct(x), loaded.reconstruct(x))


def test_config_round_trips_through_json(model: Autoencoder) -> None:
    data = json.loads(json.dumps(to_dict(model.config)))
    assert AutoencoderConfig.from_json_dict(data) == model.config
