"""Joint refinement of an autoencoder and cluster centres: IDEC (Guo et al., IJCAI 2017).

DEC (Xie et al., ICML 2016) assigns code ``z_i`` to centre ``c_j`` softly, by a Student's t kernel::

    q_ij = (1 + |z_i - c_j|^2)^-1 / sum_j' (1 + |z_i - c_j'|^2)^-1

and sharpens that into a target ``p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j')``, ``f_j = sum_i q_ij``, which
weights confident assignments up and large clusters down. Training the encoder and the centres on ``KL(P || Q)``
pulls every code towards its cluster. IDEC adds the autoencoder's own loss, so the codes keep describing the data
(DEC alone drops the decoder and may distort the space until clusters collapse)::

    loss = the model's training objective + cluster_weight * KL(P || Q)

``P`` is held fixed between updates (once an epoch here; IDEC updates every 140 batches on MNIST's 70,000 images,
about half an epoch), the stability that self-training needs; training stops when fewer than ``tol`` of the labels
changed between two updates. The model is trained through its module API (``model(x).loss``, ``model.encode``)
only, so any autoencoder that encodes to a flat code can be refined.

The kernel is not scale-free: distances are in the code's own units, as in DEC. Measuring them in units of the
codes' typical distance to their centre instead did worse on ``benchmarks/clustering.py``'s data (MNIST,
Fashion-MNIST, digits; 10,000 images, KMeans start; in 5 of 6 runs, by 0.4 to 1.9 points of accuracy; probes not
stored in ``benchmarks/results``). The soft
assignments :meth:`aekit.LatentClustering.predict_proba` reports do use that unit, so that a confidence does not
depend on the scale the encoder learnt; they are therefore not the ``q`` optimised here (their argmax is).
``cluster_weight`` is IDEC's gamma against the model's objective as it is: a mean over the input's values for
``mse`` (as IDEC's), a sum over them for the Gaussian, Laplace and Bernoulli likelihoods, where the same weight
counts for less.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from aekit.errors import AekitError
from aekit.training.sources import batch_bounds, has_batch_norm

__all__ = ["RefineConfig", "RefineResult", "clustering_loss", "refine", "soft_assignment", "target_distribution"]

logger = logging.getLogger(__name__)


def soft_assignment(z: Tensor, centers: Tensor) -> Tensor:
    """DEC's Student's t (one degree of freedom) assignment of codes (n, d) to centres (k, d): (n, k), rows sum
    to 1."""
    kernel = 1.0 / (1.0 + torch.cdist(z, centers).pow(2))  # (n, k)
    return kernel / kernel.sum(dim=1, keepdim=True)


def target_distribution(q: Tensor) -> Tensor:
    """DEC's sharpened target for assignments ``q`` (n, k): (n, k), rows sum to 1."""
    weight = q.pow(2) / q.sum(dim=0)  # (n, k): confident rows up, large clusters down
    return weight / weight.sum(dim=1, keepdim=True)


def clustering_loss(target: Tensor, z: Tensor, centers: Tensor) -> Tensor:
    """DEC's clustering loss ``KL(P || Q)`` of codes ``z`` (n, d) against centres (k, d), for a fixed target ``P``
    (n, k), averaged over the n codes: a scalar with gradients for ``z`` and ``centers``."""
    log_q = soft_assignment(z, centers).clamp_min(1e-12).log()  # (n, k)
    return (target * (target.clamp_min(1e-12).log() - log_q)).sum(dim=1).mean()


@dataclass(frozen=True)
class RefineConfig:
    """Settings of :func:`refine`. IDEC's for MNIST are Adam at 1e-3, batches of 256, weight 0.1 and tol 0.1%;
    :class:`aekit.LatentClustering` passes its autoencoder's own lr, batch size, weight decay and clipping."""

    cluster_weight: float = 0.1
    max_epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = None
    tol: float = 0.001
    seed: int = 0


@dataclass
class RefineResult:
    """What :func:`refine` returns: the refined centres (k, d) as float64, the labels of the last update, the
    number of epochs run, and per epoch the share of labels that changed and the mean losses."""

    centers: np.ndarray
    labels: np.ndarray
    n_epochs: int
    history: list[dict[str, float]]


def _codes(model: torch.nn.Module, samples: np.ndarray, batch_size: int, device: torch.device) -> Tensor:
    """Codes (n, latent_dim) of every sample, in eval mode (deterministic), without gradients."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model.encode(torch.from_numpy(samples[start:start + batch_size]).to(device))
                          for start in range(0, len(samples), batch_size)])


def refine(model: torch.nn.Module, samples: np.ndarray, centers: np.ndarray, config: RefineConfig) -> RefineResult:
    """Train ``model`` (in place; it ends in eval mode) and the centres with IDEC's loss on ``samples``, the
    scaled float32 samples the model reads (n, *input_shape), starting from ``centers`` (k, latent_dim)."""
    device = next(model.parameters()).device
    trained_centers = torch.nn.Parameter(torch.as_tensor(centers, dtype=torch.float32, device=device).clone())
    optimizer = torch.optim.Adam([*model.parameters(), trained_centers], lr=config.lr,
                                 weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    n = len(samples)
    min_rows = 2 if has_batch_norm(model) else 1  # BatchNorm cannot train on a batch of one row
    q = soft_assignment(_codes(model, samples, config.batch_size, device), trained_centers.detach())
    labels = q.argmax(dim=1)
    history: list[dict[str, float]] = []
    epoch = 0
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)  # a corruption's or a variational code's draws
        for epoch in range(1, config.max_epochs + 1):
            target = target_distribution(q)  # (n, k), fixed for this epoch
            model.train()
            totals = torch.zeros(2, dtype=torch.float64)
            order = torch.randperm(n, generator=generator)
            for start, stop in batch_bounds(n, config.batch_size, min_rows=min_rows):
                rows = order[start:stop]
                out = model(torch.from_numpy(samples[rows.numpy()]).to(device))
                kl = clustering_loss(target[rows.to(target.device)], out.z, trained_centers)
                loss = out.loss + config.cluster_weight * kl
                if not math.isfinite(float(loss.detach())):
                    raise AekitError(f"The refinement's loss became NaN/Inf in epoch {epoch} (lr={config.lr:g}). "
                                     "Lower the autoencoder's lr, or set its grad_clip.")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_([*model.parameters(), trained_centers], config.grad_clip)
                optimizer.step()
                totals += torch.tensor([out.loss.item(), kl.item()], dtype=torch.float64) * len(rows)
            q = soft_assignment(_codes(model, samples, config.batch_size, device), trained_centers.detach())
            new_labels = q.argmax(dim=1)
            changed = float((new_labels != labels).float().mean())
            labels = new_labels
            record = {"epoch": epoch, "model_loss": float(totals[0] / n), "kl": float(totals[1] / n),
                      "changed": changed}
            history.append(record)
            logger.info("refine epoch %d: model loss %.4g, KL %.4g, labels changed %.2f%%", epoch,
                        record["model_loss"], record["kl"], 100 * changed)
            if changed < config.tol:
                break
    model.eval()
    return RefineResult(centers=trained_centers.detach().cpu().double().numpy(), labels=labels.cpu().numpy(),
                        n_epochs=epoch, history=history)
