"""The factorized entropy model: a proper distribution over the integers, bits that match it, rounding."""

from __future__ import annotations

import pytest
import torch

from aekit.errors import AekitError
from aekit.parts.bottlenecks.factorized import FactorizedBottleneck


def _bottleneck(**options: object) -> FactorizedBottleneck:
    torch.manual_seed(0)
    return FactorizedBottleneck(FactorizedBottleneck.Config(**options), in_features=5, latent_dim=3)


def test_pmf_sums_to_one_over_the_integers() -> None:
    bottleneck = _bottleneck()
    low, high = torch.full((3,), -200), torch.full((3,), 200)
    table = bottleneck.code_pmf(low, high)  # (3, 401)
    assert table.shape == (3, 401)
    assert torch.allclose(table.sum(1), torch.ones(3), atol=1e-4)
    assert (table >= 0).all()


def test_pmf_rows_are_zero_padded_beyond_their_range() -> None:
    bottleneck = _bottleneck()
    table = bottleneck.code_pmf(torch.tensor([-1, 0, 2]), torch.tensor([1, 0, 6]))
    assert table.shape == (3, 5)
    assert (table[0, 3:] == 0).all() and (table[1, 1:] == 0).all() and (table[2] > 0).all()


def test_bits_are_minus_log2_of_the_pmf() -> None:
    bottleneck = _bottleneck()
    z = torch.tensor([[0.0, 3.0, -2.0], [1.0, -1.0, 0.0]])
    table = bottleneck.code_pmf(torch.full((3,), -5), torch.full((3,), 5))
    expected = -torch.log2(table[torch.arange(3), (z + 5).long()]).sum(1)
    assert torch.allclose(bottleneck.bits(z), expected, atol=1e-4)


def test_eval_rounds_and_training_adds_bounded_noise() -> None:
    bottleneck = _bottleneck(rate_weight=0.5)
    h = torch.randn(64, 5) * 4
    y = bottleneck.project(h)  # code_gain 1
    bottleneck.eval()
    out = bottleneck(h)
    assert torch.equal(out.z, torch.round(y))
    assert torch.allclose(out.losses["rate"], 0.5 * bottleneck.bits(out.z).mean())
    bottleneck.train()
    noisy = bottleneck(h).z
    assert ((noisy - y).abs() <= 0.5 + 1e-6).all() and not torch.equal(noisy, torch.round(y))


def test_rate_weight_zero_gives_zero_rate_loss() -> None:
    out = _bottleneck(rate_weight=0.0)(torch.randn(4, 5))
    assert float(out.losses["rate"].detach()) == 0.0 and float(out.stats["bits"]) > 0


def test_bad_rate_weight_is_rejected() -> None:
    with pytest.raises(AekitError, match=r"The 'rate_weight' parameter of FactorizedBottleneck must be a float in "
                                         r"\[0, inf\]. Got -1.0 instead."):
        FactorizedBottleneck.Config(rate_weight=-1.0)


def test_bad_filters_are_rejected() -> None:
    with pytest.raises(AekitError, match="The 'filters' parameter of FactorizedBottleneck must be a non-empty list"):
        FactorizedBottleneck.Config(filters=(3, 0))


def test_bad_init_scale_is_rejected() -> None:
    with pytest.raises(AekitError, match="The 'init_scale' parameter of FactorizedBottleneck must be a float in "
                                         r"\(0, inf\]"):
        FactorizedBottleneck.Config(init_scale=0.0)


def test_code_gain_scales_the_code() -> None:
    bottleneck = _bottleneck(code_gain=10.0).eval()
    h = torch.randn(8, 5)
    assert torch.equal(bottleneck(h).z, torch.round(10.0 * bottleneck.project(h)))
    with pytest.raises(AekitError, match="The 'code_gain' parameter of FactorizedBottleneck must be a float in"):
        FactorizedBottleneck.Config(code_gain=-2.0)
