"""The contractive penalty against torch.autograd.functional.jacobian, and its effect on a trained model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aekit import Autoencoder, AutoencoderConfig, PartSpec, build_config
from aekit.errors import AekitError
from aekit.parts import RegularizerContext


def _model(latent_dim: int = 3, hidden_dims: tuple[int, ...] = (5,), activation: str = "tanh",
           code_activation: str = "identity", n_inputs: int = 4, **options) -> Autoencoder:
    torch.manual_seed(0)
    return Autoencoder(AutoencoderConfig(
        (n_inputs,), latent_dim,
        backbone=PartSpec("dense", {"hidden_dims": hidden_dims, "activation": activation}),
        bottleneck=PartSpec("deterministic", {"code_activation": code_activation}),
        regularizers=(PartSpec("contractive", options),)))


def _reference(model: Autoencoder, x: torch.Tensor) -> torch.Tensor:
    """Mean over samples of ||dz/dx||_F^2, one full Jacobian per sample."""
    norms = [torch.autograd.functional.jacobian(lambda v: model.encode(v[None])[0], row, vectorize=True)
             .square().sum() for row in x]
    return torch.stack(norms).mean()


def _context(model: Autoencoder, x: torch.Tensor) -> RegularizerContext:
    h = model.encoder(x)
    return RegularizerContext(x=x, x_tilde=x, h=h, z=model.bottleneck(h).z, encode=model.encode)


@pytest.mark.parametrize("method", ["auto", "exact"])
def test_exact_penalty_equals_autograd_jacobian(method: str) -> None:
    model = _model(method=method)
    x = torch.rand(7, 4)
    regularizer = model.regularizers["contractive"]
    context = _context(model, x)
    assert regularizer.method_for(context) == "exact"
    assert regularizer(context).item() == pytest.approx(_reference(model, x).item(), rel=1e-5)


@pytest.mark.parametrize("structure", [
    dict(),  # exact
    dict(latent_dim=6, hidden_dims=(), code_activation="sigmoid", n_inputs=5),  # closed form
])
def test_stats_give_the_unweighted_jacobian_norm_and_pool_to_the_data_sets_mean(structure: dict) -> None:
    model = _model(weight=0.3, **structure).eval()
    x = torch.rand(11, model.config.input_shape[0])
    batches = [x[:4], x[4:]]
    with torch.no_grad():
        per_batch = [model(batch).stats for batch in batches]
    assert set(per_batch[0]) == {"contractive.jacobian_frobenius_sq"}
    first = per_batch[0]["contractive.jacobian_frobenius_sq"]
    assert first.item() == pytest.approx(_reference(model, batches[0]).item(), rel=1e-5)  # no 0.3 weight
    means = {name: sum(s[name].double().numpy() * len(b) for s, b in zip(per_batch, batches)) / len(x)
             for name in per_batch[0]}
    pooled = model.pool_stats(means)
    assert pooled["contractive.jacobian_frobenius_sq"] == pytest.approx(_reference(model, x).item(), rel=1e-5)


def test_closed_form_for_one_sigmoid_layer_equals_autograd_jacobian() -> None:
    model = _model(latent_dim=6, hidden_dims=(), code_activation="sigmoid", n_inputs=5)
    x = torch.rand(9, 5)
    regularizer = model.regularizers["contractive"]
    context = _context(model, x)
    assert regularizer.method_for(context) == "closed_form"
    assert regularizer(context).item() == pytest.approx(_reference(model, x).item(), rel=1e-5)


@pytest.mark.parametrize("structure", [
    dict(hidden_dims=(5,), activation="sigmoid", code_activation="sigmoid"),  # two layers
    dict(hidden_dims=(), code_activation="tanh"),  # one layer, another squashing
])
def test_closed_form_is_found_by_structure_only(structure: dict) -> None:
    model = _model(**structure)
    assert model.regularizers["contractive"].method_for(_context(model, torch.rand(3, 4))) == "exact"


def test_closed_form_on_a_deep_encoder_fails_clearly() -> None:
    model = _model(method="closed_form")
    with pytest.raises(AekitError, match="needs an encoder that is one dense layer and a sigmoid"):
        model(torch.rand(3, 4))


def test_projection_estimate_is_unbiased_above_the_size_threshold() -> None:
    model = _model(latent_dim=20, hidden_dims=(8,), n_inputs=6, n_projections=8)
    x = torch.rand(16, 6)
    regularizer = model.regularizers["contractive"]
    context = _context(model, x)
    assert regularizer.method_for(context) == "projection"
    estimates = torch.stack([regularizer(context) for _ in range(40)]).detach()
    assert estimates.std() > 0  # random, not the exact value in disguise
    assert estimates.mean().item() == pytest.approx(_reference(model, x).item(), rel=0.05)


def test_projection_estimate_is_deterministic_in_eval_mode() -> None:
    model = _model(latent_dim=20, hidden_dims=(8,), n_inputs=6, n_projections=8).eval()
    x = torch.rand(16, 6)
    regularizer = model.regularizers["contractive"]
    context = _context(model, x)
    assert regularizer.method_for(context) == "projection"
    state = torch.get_rng_state()
    first, second = regularizer(context), regularizer(context)
    assert first.item() == second.item()  # validation losses and statistics do not change between calls
    assert torch.equal(torch.get_rng_state(), state)  # and the global generator is left alone
    assert first.item() == pytest.approx(_reference(model, x).item(), rel=0.5)  # an estimate of the same value


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_penalty_is_available_under_no_grad_and_inference_mode(mode) -> None:
    model = _model()
    x = torch.rand(5, 4)
    with mode():
        out = model(x)
    assert torch.isfinite(out.losses["contractive"]) and not out.losses["contractive"].requires_grad
    assert out.losses["contractive"].item() == pytest.approx(0.1 * _reference(model, x).item(), rel=1e-5)


def test_trained_contractive_model_has_a_smaller_jacobian(digits) -> None:
    data = torch.from_numpy((digits / 16.0).astype(np.float32))
    train, test = data[:1500], data[1500:1530]
    norms = {}
    for weight in (0.0, 0.1):
        torch.manual_seed(0)
        model = Autoencoder(build_config("contractive", input_shape=(64,), latent_dim=16,
                                         options={"weight": weight}))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(100):
            loss = model(train[torch.randint(0, len(train), (128,))]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        norms[weight] = _reference(model, test).item()
    assert norms[0.1] < 0.1 * norms[0.0]


class _TokenEncoder(torch.nn.Module):
    """Looks its input up as token ids: no gradient reaches the input."""

    out_features = 3

    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(10, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x.long()).mean(1)


def test_an_encoder_without_input_gradients_fails_clearly() -> None:
    model = Autoencoder(AutoencoderConfig((5,), 2, regularizers=(PartSpec("contractive"),)),
                        encoder=_TokenEncoder())
    with pytest.raises(AekitError, match="differentiable in its input"):
        model(torch.randint(0, 10, (3, 5)).float())
