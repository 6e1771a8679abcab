"""Each likelihood against an independent reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from aekit.errors import AekitError
from aekit.parts.likelihoods import BCELikelihood, CategoricalLikelihood, L1Likelihood, MSELikelihood


def test_mse_and_l1_match_torch() -> None:
    params, x = torch.randn(5, 3, 4), torch.randn(5, 3, 4)
    mse = MSELikelihood(MSELikelihood.Config())
    assert torch.allclose(mse.nll(params, x).mean(), F.mse_loss(params, x))
    l1 = L1Likelihood(L1Likelihood.Config(reduction="sum"))
    assert torch.allclose(l1.nll(params, x), (params - x).abs().flatten(1).sum(1))
    assert torch.equal(mse.mean(params), params)


def test_bce_matches_the_naive_formula_and_is_stable_for_huge_logits() -> None:
    logits, x = torch.randn(4, 10), torch.rand(4, 10)
    bce = BCELikelihood(BCELikelihood.Config())
    p = torch.sigmoid(logits)
    naive = -(x * p.log() + (1 - x) * (1 - p).log()).mean(1)
    assert torch.allclose(bce.nll(logits, x), naive, atol=1e-6)
    extreme = torch.tensor([[1000.0, -1000.0]])
    loss = bce.nll(extreme, torch.tensor([[0.0, 1.0]]))
    assert torch.isfinite(loss).all() and torch.allclose(loss, torch.tensor([1000.0]))
    assert torch.allclose(bce.mean(torch.zeros(1)), torch.tensor(0.5))


def test_ce_matches_cross_entropy_and_has_class_axis_first() -> None:
    ce = CategoricalLikelihood(CategoricalLikelihood.Config(num_classes=5))
    assert ce.param_shape((1, 3, 3)) == (5, 1, 3, 3)
    logits = torch.randn(2, 5, 1, 3, 3)
    x = torch.randint(0, 5, (2, 1, 3, 3)).float()
    expected = F.cross_entropy(logits, x.long(), reduction="none").flatten(1).mean(1)
    assert torch.allclose(ce.nll(logits, x), expected)
    assert torch.equal(ce.mean(logits), logits.argmax(1).float())


def test_ce_rejects_out_of_range_class_ids() -> None:
    ce = CategoricalLikelihood(CategoricalLikelihood.Config(num_classes=3))
    with pytest.raises(AekitError, match=r"class ids in \[0, 2\].*values in \[0, 7\]"):
        ce.nll(torch.randn(1, 3, 2), torch.tensor([[0.0, 7.0]]))


def test_ce_rejects_fractional_class_ids() -> None:
    ce = CategoricalLikelihood(CategoricalLikelihood.Config(num_classes=3))
    with pytest.raises(AekitError, match=r"needs whole class ids; the data holds fractions such as 1.5, which it would "
                                         r"cut to whole numbers"):
        ce.nll(torch.zeros(1, 3, 2), torch.tensor([[0.0, 1.5]]))


def test_ce_needs_at_least_two_classes() -> None:
    with pytest.raises(AekitError, match="num_classes.*Got 1 instead"):
        CategoricalLikelihood.Config(num_classes=1)


def test_ce_ignores_padding() -> None:
    ce = CategoricalLikelihood(CategoricalLikelihood.Config(num_classes=4, ignore_index=0))
    logits = torch.randn(2, 4, 5)
    x = torch.tensor([[1.0, 2.0, 3.0, 0.0, 0.0], [3.0, 3.0, 0.0, 0.0, 0.0]])
    expected = torch.stack([F.cross_entropy(logits[i, :, :n].T, x[i, :n].long()) for i, n in enumerate([3, 2])])
    assert torch.allclose(ce.nll(logits, x), expected)


def test_bce_warns_once_in_training_when_it_clamps_targets() -> None:
    import warnings

    from aekit.errors import AekitUserWarning

    bce = BCELikelihood(BCELikelihood.Config())
    params = torch.zeros(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bce.eval().nll(params, torch.tensor([[0.0, 0.5, 1.2], [0.0, 0.0, 0.0]]))  # held-out data: no word
        bce.train().nll(params, torch.rand(2, 3))  # in range: no word
    with pytest.warns(AekitUserWarning, match=r"targets outside \[0, 1\] \(from -1 to 16\); they are clamped"):
        out = bce.nll(params, torch.tensor([[0.0, 16.0, 1.0], [-1.0, 0.0, 0.0]]))
    assert torch.equal(out, bce.nll(params, torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bce.nll(params, torch.full((2, 3), 3.0))  # said once


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_categorical_keeps_double_precision_and_lifts_half_precision(dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 5, generator=generator, dtype=torch.float64)  # (batch, classes, positions)
    x = torch.randint(0, 4, (3, 5), generator=generator).to(torch.float64)
    likelihood = CategoricalLikelihood(CategoricalLikelihood.Config(num_classes=4))
    nll = likelihood.nll(logits.to(dtype), x.to(dtype))
    reference = -torch.log_softmax(logits.to(dtype).double(), 1).gather(1, x.long().unsqueeze(1)).squeeze(1).mean(1)
    assert nll.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert torch.allclose(nll.double(), reference, atol=1e-12 if dtype == torch.float64 else 1e-5)
