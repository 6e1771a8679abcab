"""scikit-learn's own estimator checks on aekit.LatentClustering (clusterer and transformer checks)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from aekit import AutoEncoder, LatentClustering


@parametrize_with_checks([
    LatentClustering(3, autoencoder=AutoEncoder(latent_dim=1, hidden_dims=(8,), max_epochs=2, device="cpu"),
                     method=method, n_init=2, refine_epochs=2, random_state=0)
    for method in ("kmeans", "gmm", "idec")
])
def test_sklearn_compatible(estimator, check) -> None:
    check(estimator)
