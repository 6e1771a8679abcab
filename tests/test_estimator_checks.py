"""scikit-learn's own estimator checks on aekit.AutoEncoder."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from aekit import AutoEncoder


@parametrize_with_checks([AutoEncoder(latent_dim=2, hidden_dims=(8,), max_epochs=3, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
