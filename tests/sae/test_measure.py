"""Held-out metrics against hand computations, and the splice-in check on MiniLM."""

from __future__ import annotations

import pytest
import torch

from aekit.errors import DataError
from aekit.sae import ActivationStore, SAEConfig, SparseAutoencoder, TensorActivations, train_sae
from aekit.sae.measure import downstream_check, held_out_text_ids, reconstruction_metrics


class _Fixed(SparseAutoencoder):
    """An 'SAE' with set codes and reconstructions, to check the metrics by hand."""

    def __init__(self, codes: torch.Tensor, reconstructions: torch.Tensor) -> None:
        super().__init__(SAEConfig(d_in=reconstructions.shape[1], expansion=2, k=1))
        self.codes, self.reconstructions = codes, reconstructions

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.codes[: len(x)]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.reconstructions[: len(z)]


def test_metrics_match_a_hand_computation() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]])
    x_hat = torch.tensor([[1.0, 1.0], [3.0, 4.0], [4.0, 0.0]])
    codes = torch.zeros(3, 4)
    codes[:, 0] = 1.0  # latent 0 fires on every token: dense
    codes[0, 1] = 2.0  # latent 1 on one token of three
    metrics, fires = reconstruction_metrics(_Fixed(codes, x_hat), TensorActivations(x), 0, 3)
    assert metrics["l0"] == pytest.approx(4 / 3)
    assert metrics["fvu"] == pytest.approx(2 / 16)  # residual 1 + 1; sum of squares about the mean (3, 2): 16
    assert metrics["nmse"] == pytest.approx(2 / (1 + 4 + 9 + 16 + 25))
    assert metrics["dead_fraction"] == pytest.approx(2 / 4)
    assert metrics["dense_fraction"] == pytest.approx(2 / 4)  # 100% and 33% > 10%
    cosines = torch.nn.functional.cosine_similarity(x, x_hat, dim=1)
    assert metrics["cosine"] == pytest.approx(float(cosines.mean()))
    assert fires.tolist() == [3, 1, 0, 0]


def test_no_held_out_rows() -> None:
    sae = SparseAutoencoder(SAEConfig(d_in=2, expansion=2, k=1))
    with pytest.raises(DataError, match="No held-out activations to measure on"):
        reconstruction_metrics(sae, TensorActivations(torch.zeros(4, 2)), 4, 4)


@pytest.fixture(scope="module")
def minilm_run(acts_dir):
    torch.set_num_threads(1)
    return train_sae(acts_dir, arch="topk", expansion=2, k=8, tokens=3000, batch_size=64, holdout=0.3,
                     device="cpu")


def test_an_exact_reconstruction_spliced_in_leaves_the_embeddings_unchanged(minilm_run, acts_dir) -> None:
    store = ActivationStore(acts_dir)
    exact = minilm_run.sae
    exact.forward = lambda x: x  # a perfect SAE: the splice must then change nothing
    try:
        result = downstream_check(exact, store.manifest, n_texts=5)
    finally:
        del exact.forward
    assert result["cos_splice"] == pytest.approx(1.0, abs=1e-5)
    assert result["cos_zero_ablation"] < 0.95 and result["cos_mean_ablation"] < 0.99
    assert result["recovered"] == pytest.approx(1.0, abs=1e-3)


def test_a_trained_sae_lies_between_ablation_and_the_clean_model(minilm_run, acts_dir) -> None:
    store = ActivationStore(acts_dir)
    ids = held_out_text_ids(store, *minilm_run.holdout)
    assert ids and ids[-1] == 11
    result = downstream_check(minilm_run.sae, store.manifest, text_ids=ids)
    assert result["texts"] == len(ids)
    assert result["cos_zero_ablation"] < result["cos_splice"] < 1.0


def test_texts_not_in_the_corpus(minilm_run, acts_dir) -> None:
    store = ActivationStore(acts_dir)
    with pytest.raises(DataError, match=r"texts.txt' holds 12 texts, but the first held-out one is text 999 \(counting "
                                        r"from 0\): it is not the corpus the activations were harvested from\. Pass "
                                        r"that corpus \(--corpus, or texts= in Python\)\."):
        downstream_check(minilm_run.sae, store.manifest, text_ids=[999])


def test_an_empty_list_of_text_ids(minilm_run, acts_dir) -> None:
    with pytest.raises(DataError, match="text_ids is empty, so there is no text to splice into"):
        downstream_check(minilm_run.sae, ActivationStore(acts_dir).manifest, text_ids=[])


def test_a_corpus_gone_since_the_harvest_is_named_and_texts_overrides_it(minilm_run, acts_dir, corpus) -> None:
    manifest = {**ActivationStore(acts_dir).manifest, "texts": str(corpus.parent / "moved.txt")}
    with pytest.raises(DataError, match=r"The corpus recorded when the activations were harvested, '.*moved.txt', is "
                                        r"gone \(moved or deleted\)\. Pass its new path \(--corpus, or texts= in "
                                        r"Python\), or skip the splice-in check \(--texts 0\)\."):
        downstream_check(minilm_run.sae, manifest, n_texts=2)
    assert downstream_check(minilm_run.sae, manifest, n_texts=2, texts=corpus)["texts"] == 2


def test_fvu_is_undefined_on_held_out_rows_without_variance() -> None:
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0]])  # no variance: FVU's denominator is 0
    x_hat = torch.tensor([[1.0, 1.0], [1.0, 2.0]])
    metrics, _ = reconstruction_metrics(_Fixed(torch.zeros(2, 4), x_hat), TensorActivations(x), 0, 2)
    assert metrics["fvu"] is None
    assert metrics["nmse"] == pytest.approx(1 / 10)  # still defined


def test_a_run_whose_held_out_rows_are_constant_reports_fvu_as_undefined() -> None:
    from .conftest import sparse_activations

    torch.set_num_threads(1)
    x = sparse_activations(1000)
    x[-50:] = x[-1]  # the 50 held-out rows are one token repeated; the training rows vary
    run = train_sae(x, expansion=2, k=2, tokens=1000, batch_size=100, device="cpu")
    assert run.metrics["fvu"] is None and run.metrics["nmse"] >= 0


def test_fvu_of_activations_with_a_large_offset_matches_numpy() -> None:

    generator = torch.Generator().manual_seed(0)
    x = 1e3 + 1e-2 * torch.randn(3000, 16, generator=generator)  # the plain one-pass variance cancels to nothing


    class Near(SparseAutoencoder):  # reconstructs each row with an error of its own, batch by batch
        def encode(self, x: torch.Tensor) -> torch.Tensor:
            self.x = x
            return torch.ones(len(x), self.config.latent_dim)

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return self.x + 3e-3 * torch.sin(1e3 * self.x)

    sae = Near(SAEConfig(d_in=16, expansion=1, k=1))
    metrics, _ = reconstruction_metrics(sae, TensorActivations(x), 0, 3000, batch_size=512)  # 6 batches
    x_hat = x + 3e-3 * torch.sin(1e3 * x)
    x64, x_hat64 = x.double().numpy(), x_hat.double().numpy()
    expected = ((x64 - x_hat64) ** 2).sum() / ((x64 - x64.mean(0)) ** 2).sum()
    assert metrics["fvu"] == pytest.approx(expected, rel=1e-6)


def test_dead_fraction_over_too_few_firings_is_noted(caplog) -> None:
    x = torch.randn(10, 2)
    codes = torch.zeros(10, 4)
    codes[:, 0] = 1.0  # 10 firings over 4 latents: 2.5 each on average, below 5
    with caplog.at_level("WARNING", logger="aekit.sae.measure"):
        metrics, _ = reconstruction_metrics(_Fixed(codes, x), TensorActivations(x), 0, 10)
    assert metrics["dead_fraction_note"] == ("unreliable: 10 held-out tokens x L0 1.0 = 10 firings over 4 latents, "
                                             "2.5 each on average, so live latents go unseen; measure on more tokens")
    assert "dead_fraction 0.750 is unreliable: 10 held-out tokens" in caplog.text
    codes = torch.zeros(40, 4)
    codes[:, 0] = 1.0  # 40 firings: 10 each
    metrics, _ = reconstruction_metrics(_Fixed(codes, torch.randn(40, 2)), TensorActivations(torch.randn(40, 2)), 0,
                                        40)
    assert "dead_fraction_note" not in metrics
