"""Vector quantization (VQ-VAE, van den Oord et al., 2017) with an exponential-moving-average codebook.

The encoder features are projected to ``latent_dim`` numbers and split into ``latent_dim // embedding_dim``
vectors of ``embedding_dim`` numbers each; every vector is replaced by its nearest codebook entry. A sample's
code is thus a tuple of ``latent_dim // embedding_dim`` indices into one shared codebook of ``codebook_size``
entries, and ``z`` (what the decoder sees) is the concatenation of the chosen entries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from aekit.errors import AekitError, check_float, check_int
from aekit.parts.base import BOTTLENECKS, Bottleneck, BottleneckOutput

logger = logging.getLogger(__name__)

_EPS = 1e-5  # keeps a code whose EMA count decayed to ~0 from dividing by zero


@BOTTLENECKS.register("vq")
class VQBottleneck(Bottleneck):
    """``z = e[argmin_k ||W h + b - e_k||]`` per code vector, with straight-through gradients.

    Training (van den Oord et al., 2017, appendix A.1; Razavi et al., 2019):

    - the codebook ``e`` (``codebook_size`` x ``embedding_dim``) is a buffer, not a parameter: in training mode
      each entry moves to the exponential moving average (``decay``) of the encoder outputs assigned to it;
    - the loss gets ``"commitment"``: ``beta * mean((z_e - sg[z_q])^2)``, which keeps the encoder output
      ``z_e = W h + b`` near its code (there is no codebook loss: the EMA replaces it);
    - the decoder input is ``z_e + sg[z_q - z_e]``: its value is the quantized ``z_q`` but the reconstruction
      gradient flows to the encoder as if quantization were the identity (straight-through);
    - a code unused for ``dead_code_steps`` consecutive training steps is re-initialised to a random encoder
      output of the current batch (drawn with torch's global RNG), so codes never stay dead;
    - on the first training step every code is initialised that way (data-dependent init, no random codes far
      from the data).

    Eval mode neither updates nor restarts anything: the same input always gives the same code.
    ``code_indices(h)`` gives the chosen entries themselves, (..., num_vectors).
    ``stats``: ``code_frequency`` (K,), ``codebook_usage`` (fraction of the codes used in the batch) and
    ``perplexity`` (``exp`` of the entropy of the batch's code histogram: ``codebook_size`` when all codes are
    used evenly, 1 when one code takes everything).

    Buffers: ``codebook`` (K, D), ``ema_count`` (K,) and ``ema_sum`` (K, D) (the running statistics whose ratio
    is the codebook), ``steps_unused`` (K,) and ``initialized``; all are saved with the model.
    """

    loss_names = ("commitment",)

    @dataclass(frozen=True)
    class Config:
        # 512 entries: the VQ-VAE paper's codebook size, plenty for a few code vectors per sample.
        codebook_size: int = 512
        # Short code vectors: latent_dim=32 gives 8 vectors, i.e. 512**8 distinct codes instead of 512 for one
        # long vector; 4 also divides every usual latent_dim (8, 16, 32, 64).
        embedding_dim: int = 4
        # Weight of the commitment loss; 0.25 is the paper's value, results are robust in [0.1, 2].
        beta: float = 0.25
        # EMA decay of the codebook statistics; 0.99 as in the paper's EMA variant.
        decay: float = 0.99
        # A code unused for this many training steps is restarted; 0 never restarts.
        dead_code_steps: int = 100

        def __post_init__(self) -> None:
            owner = "VQBottleneck"
            check_int(self.codebook_size, name="codebook_size", owner=owner, low=2)
            check_int(self.embedding_dim, name="embedding_dim", owner=owner, low=1)
            check_float(self.beta, name="beta", owner=owner, low=0.0, finite=True)
            check_float(self.decay, name="decay", owner=owner, low=0.0, high=1.0, high_inclusive=False)
            check_int(self.dead_code_steps, name="dead_code_steps", owner=owner, low=0)

    codebook: Tensor
    ema_count: Tensor
    ema_sum: Tensor
    steps_unused: Tensor
    initialized: Tensor

    def __init__(self, config: Config, *, in_features: int, latent_dim: int) -> None:
        super().__init__(config, in_features=in_features, latent_dim=latent_dim)
        if latent_dim % config.embedding_dim:
            raise AekitError(
                f"The 'embedding_dim' parameter of VQBottleneck must divide latent_dim={latent_dim} (the code is "
                f"latent_dim // embedding_dim vectors of embedding_dim numbers). Got {config.embedding_dim} "
                f"instead. Pick a divisor of {latent_dim}, or a latent_dim that is a multiple of "
                f"{config.embedding_dim}."
            )
        self.num_vectors = latent_dim // config.embedding_dim
        self.project = nn.Linear(in_features, latent_dim)
        codebook = torch.randn(config.codebook_size, config.embedding_dim)  # replaced by data on the first step
        self.register_buffer("codebook", codebook)
        self.register_buffer("ema_count", torch.ones(config.codebook_size))
        self.register_buffer("ema_sum", codebook.clone())
        self.register_buffer("steps_unused", torch.zeros(config.codebook_size, dtype=torch.long))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def quantize(self, z_e: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest codebook entries of vectors ``z_e`` (n, embedding_dim): (indices (n,), entries (n, D))."""
        distances = (z_e.square().sum(1, keepdim=True) - 2 * z_e @ self.codebook.T
                     + self.codebook.square().sum(1))  # (n, K)
        indices = distances.argmin(1)  # (n,)
        return indices, self.codebook[indices]

    def code_indices(self, h: Tensor) -> Tensor:
        """The codebook entry ``forward`` picks for each code vector of features ``h`` (..., in_features):
        int64 (..., num_vectors). ``codebook[indices]`` flattened over the last two axes is the code ``z``."""
        with torch.autocast(h.device.type, enabled=False):
            indices, _ = self.quantize(self._code_vectors(h).detach())  # (n,)
        return indices.reshape(*h.shape[:-1], self.num_vectors)

    def _code_vectors(self, h: Tensor) -> Tensor:
        """The encoder outputs ``z_e`` as code vectors (n = batch * num_vectors, D), in the codebook's dtype."""
        return self.project(h.to(self.codebook.dtype)).reshape(-1, self.config.embedding_dim)

    def forward(self, h: Tensor) -> BottleneckOutput:
        lead = h.shape[:-1]
        # distances and EMA statistics in the weights' dtype (float32 unless the model was cast), whatever the
        # autocast dtype: bf16 argmin ties and EMA drift
        with torch.autocast(h.device.type, enabled=False):
            z_e = self._code_vectors(h)  # (n = batch * num_vectors, D)
            if self.training:
                with torch.no_grad():
                    self._maybe_initialize(z_e)
            indices, z_q = self.quantize(z_e.detach())  # (n,), (n, D)
            if self.training:
                with torch.no_grad():
                    self._update(z_e.detach(), indices)  # moves the codebook for the next step
            commitment = self.config.beta * F.mse_loss(z_e, z_q)  # z_q carries no gradient
            z = z_e + (z_q - z_e).detach()  # straight-through: value z_q, gradient of z_e
        counts = torch.bincount(indices, minlength=self.config.codebook_size).float()  # (K,)
        probs = counts / counts.sum()
        entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum()
        # code_frequency (K,): the batch's code distribution; averaged over batches weighted by their size it is
        # the distribution over a whole data set (what the report's codebook-usage chart shows)
        stats = {"codebook_usage": (counts > 0).float().mean(), "perplexity": entropy.exp(), "code_frequency": probs}
        return BottleneckOutput(z=z.reshape(*lead, self.latent_dim).to(h.dtype), losses={"commitment": commitment},
                                stats=stats)

    def pool_stats(self, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Usage and perplexity of the data set's code distribution (a batch's use fewer entries)."""
        stats = super().pool_stats(stats)
        if "code_frequency" in stats:
            probs = stats["code_frequency"]
            stats["codebook_usage"] = np.asarray((probs > 0).mean())
            stats["perplexity"] = np.asarray(np.exp(-(probs * np.log(np.clip(probs, 1e-12, None))).sum()))
        return stats

    # ----------------------------------------------------------------------------------- codebook training
    def _maybe_initialize(self, z_e: Tensor) -> None:
        if bool(self.initialized):
            return
        self._restart(torch.ones_like(self.steps_unused, dtype=torch.bool), z_e)
        self.initialized.fill_(True)

    def _restart(self, dead: Tensor, z_e: Tensor) -> None:
        """Re-initialise the codes flagged in ``dead`` (K,) to random rows of ``z_e`` (n, D)."""
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        picks = torch.randint(0, z_e.shape[0], (n_dead,), device=z_e.device)
        fresh = z_e[picks]  # (n_dead, D)
        self.codebook[dead] = fresh
        self.ema_sum[dead] = fresh
        self.ema_count[dead] = 1.0
        self.steps_unused[dead] = 0
        if bool(self.initialized):
            logger.debug("restarted %d dead codes", n_dead)

    def _update(self, z_e: Tensor, indices: Tensor) -> None:
        """One EMA step of the codebook on the batch's assignments, then restart the codes dead too long."""
        one_hot = F.one_hot(indices, self.config.codebook_size).type(z_e.dtype)  # (n, K)
        counts = one_hot.sum(0)  # (K,)
        sums = one_hot.T @ z_e  # (K, D)
        if dist.is_available() and dist.is_initialized():  # the global batch's statistics under DDP
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        decay = self.config.decay
        self.ema_count.mul_(decay).add_(counts, alpha=1 - decay)
        self.ema_sum.mul_(decay).add_(sums, alpha=1 - decay)
        self.codebook.copy_(self.ema_sum / self.ema_count.clamp_min(_EPS).unsqueeze(1))
        used = counts > 0
        self.steps_unused.add_(1).masked_fill_(used, 0)
        if self.config.dead_code_steps > 0:
            self._restart(self.steps_unused >= self.config.dead_code_steps, z_e)
