"""IDEC's parts against their closed forms (Xie et al. 2016, eqs. 1-3), and what refinement does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aekit.cluster.refine import RefineConfig, clustering_loss, refine, soft_assignment, target_distribution
from aekit.errors import AekitError
from aekit.model import Autoencoder
from aekit.presets import build_config


def test_soft_assignment_is_the_student_t_kernel() -> None:
    rng = np.random.default_rng(0)
    z, mu = rng.normal(size=(7, 3)), rng.normal(size=(4, 3))
    kernel = np.array([[1.0 / (1.0 + np.sum((zi - mj) ** 2)) for mj in mu] for zi in z])
    expected = kernel / kernel.sum(axis=1, keepdims=True)
    q = soft_assignment(torch.from_numpy(z), torch.from_numpy(mu)).numpy()
    np.testing.assert_allclose(q, expected, rtol=1e-10)


def test_target_distribution_sharpens_and_weights_clusters_by_frequency() -> None:
    q = torch.tensor([[0.6, 0.4], [0.9, 0.1], [0.5, 0.5]], dtype=torch.float64)
    f = q.sum(dim=0)
    weight = q**2 / f
    expected = weight / weight.sum(dim=1, keepdim=True)
    p = target_distribution(q)
    torch.testing.assert_close(p, expected)
    torch.testing.assert_close(p.sum(dim=1), torch.ones(3, dtype=torch.float64))
    assert p[1, 0] > q[1, 0]  # a confident assignment becomes more confident


def test_clustering_loss_is_kl_p_q_with_decs_gradients() -> None:
    rng = np.random.default_rng(2)
    z = torch.tensor(rng.normal(size=(6, 3)), requires_grad=True)
    centers = torch.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    with torch.no_grad():
        q = soft_assignment(z, centers)
        p = target_distribution(q)
    loss = clustering_loss(p, z, centers)
    expected = float((p * (p / q).log()).sum() / 6)  # KL(P || Q), the direction DEC minimises, per code
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-10)
    loss.backward()
    # Xie et al. (2016), eqs. 4-5, for the sum over codes (the loss is their mean)
    diff = (z[:, None, :] - centers[None, :, :]).detach()  # (n, k, d): z_i - c_j
    kernel = 1.0 / (1.0 + (diff**2).sum(dim=2))  # (n, k)
    weight = (kernel * (p - q))[:, :, None]  # (n, k, 1)
    torch.testing.assert_close(z.grad, 2 * (weight * diff).sum(dim=1) / 6)
    torch.testing.assert_close(centers.grad, -2 * (weight * diff).sum(dim=0) / 6)


def test_the_centres_move_only_through_the_clustering_loss() -> None:
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(40, 4)).astype(np.float32)
    model = Autoencoder(build_config("dense", input_shape=(4,), latent_dim=2, options={"hidden_dims": [8]})).float()
    centers = np.array([[0.5, 0.0], [-0.5, 0.0]])
    config = RefineConfig(cluster_weight=1e-12, max_epochs=2, batch_size=8, tol=0.0, seed=0)
    result = refine(model, samples, centers, config)
    np.testing.assert_allclose(result.centers, centers, atol=1e-6)  # no clustering loss: the centres stay
    moved = refine(model, samples, centers, RefineConfig(cluster_weight=1.0, max_epochs=2, batch_size=8, tol=0.0))
    assert np.abs(moved.centers - centers).max() > 1e-3


def test_refine_with_batch_norm_never_trains_on_one_row() -> None:
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(17, 4)).astype(np.float32)  # batches of 8: the last would hold one row
    model = Autoencoder(build_config("dense", input_shape=(4,), latent_dim=2,
                                     options={"hidden_dims": [8], "norm": "batch"})).float()
    result = refine(model, samples, np.array([[0.5, 0.0], [-0.5, 0.0]]),
                    RefineConfig(max_epochs=1, batch_size=8, tol=0.0))
    assert result.n_epochs == 1


def test_a_loss_that_becomes_nan_is_one_line() -> None:
    samples = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    model = Autoencoder(build_config("dense", input_shape=(4,), latent_dim=2, options={"hidden_dims": [8]})).float()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(AekitError, match="The refinement's loss became NaN/Inf in epoch 1 .* Lower the autoencoder's"):
        refine(model, samples, np.zeros((2, 2)), RefineConfig(max_epochs=1, batch_size=8))


def test_refine_keeps_clusters_apart_and_the_model_reconstructing() -> None:
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    from aekit import AutoEncoder

    rng = np.random.default_rng(0)
    means = rng.normal(scale=6.0, size=(3, 6))
    X = np.concatenate([m + rng.normal(size=(60, 6)) for m in means])
    y = np.repeat(np.arange(3), 60)
    autoencoder = AutoEncoder(latent_dim=2, hidden_dims=(16,), max_epochs=300, random_state=0, device="cpu").fit(X)
    samples = autoencoder.scaled_samples(X)
    model = autoencoder.model_
    x = torch.from_numpy(samples)
    with torch.no_grad():
        codes = model.encode(x).double().numpy()
        loss_before = float(model(x).loss)
    centers = np.stack([codes[y == i].mean(axis=0) for i in range(3)])
    result = refine(model, samples, centers, RefineConfig(cluster_weight=1.0, max_epochs=20, batch_size=32,
                                                          tol=0.0, seed=0))
    with torch.no_grad():
        after = model.encode(x).double().numpy()
        loss_after = float(model(x).loss)
    assert not model.training
    assert result.n_epochs == 20 and len(result.history) == 20
    assert result.centers.shape == (3, 2) and result.labels.shape == (180,)
    assert adjusted_rand_score(y, result.labels) == 1.0
    assert silhouette_score(after, y) >= silhouette_score(codes, y) - 0.01
    # self-training: the assignments grow more confident
    confidence_before = soft_assignment(torch.from_numpy(codes), torch.from_numpy(centers)).max(dim=1).values
    confidence_after = soft_assignment(torch.from_numpy(after), torch.from_numpy(result.centers)).max(dim=1).values
    assert confidence_after.mean() > confidence_before.mean()
    assert loss_after < 1.5 * loss_before  # the reconstruction term keeps the codes describing the data
    nearest = ((after[:, None] - result.centers[None]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_array_equal(nearest, result.labels)  # the labels are the final codes' nearest centres


def test_refine_stops_once_labels_settle_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    samples = np.concatenate([rng.normal(-4, 0.3, size=(40, 4)), rng.normal(4, 0.3, size=(40, 4))]).astype(np.float32)

    def run() -> tuple[np.ndarray, int]:
        torch.manual_seed(0)
        model = Autoencoder(build_config("dense", input_shape=(4,), latent_dim=2, options={"hidden_dims": [8]})).float()
        with torch.no_grad():
            codes = model.eval().encode(torch.from_numpy(samples)).double().numpy()
        centers = np.stack([codes[:40].mean(axis=0), codes[40:].mean(axis=0)])
        result = refine(model, samples, centers, RefineConfig(max_epochs=50, batch_size=16, tol=0.001, seed=3))
        return result.centers, result.n_epochs

    (c1, n1), (c2, n2) = run(), run()
    assert n1 < 50  # two far-apart blobs: no label changes after the first epochs
    assert n1 == n2
    np.testing.assert_array_equal(c1, c2)
