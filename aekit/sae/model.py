"""The sparse autoencoder of a transformer's activations: encoder and code from a registered bottleneck, a linear
unit-norm dictionary as decoder, and a sparse training step.

    x_norm = x * input_scale                                    (batch, d_in), E ||x_norm||^2 = d_in
    a      = W_enc (x_norm - b_dec) + b_enc                     (batch, latent_dim) pre-activations
    z      = bottleneck code of a  (topk | jumprelu | relu)     (batch, latent_dim), mostly zeros
    x_hat  = (z W_dec + b_dec) / input_scale                    (batch, d_in), every row of W_dec has unit norm

Why a dedicated module and not :class:`aekit.model.Autoencoder` with a linear backbone: the encoder and the code
*are* the registered ``topk`` / ``jumprelu`` / ``deterministic`` (ReLU) bottlenecks (their ``project`` layer is
W_enc, b_enc; their code function is used as it is), but three things an SAE needs cut across the generic
model's parts: the decoder bias ``b_dec`` is subtracted before the encoder too (Gao et al. 2024), the decoder's
rows are kept at unit norm with the gradient projected onto their tangent space, and speed. The generic model
multiplies the dense (batch, latent_dim) code by the decoder; :meth:`SparseAutoencoder.loss` instead gathers the
few units where the code or its gradients can be non-zero (the bottleneck's ``support``), evaluates the code
there only (the bottleneck's ``code_at``), and decodes with ``embedding_bag``. The one dense product left is
the encoder's forward pass; its backward pass and the decoder cost O(batch * active units * d_in). On MiniLM
activations this is several times faster than the dense formulation (benchmarks/sae_minilm.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aekit.config import from_dict, to_dict
from aekit.errors import AekitError, check_choice, check_float, check_int
from aekit.parts import BOTTLENECKS, REGULARIZERS, PartSpec, RegularizerContext
from aekit.parts.base import Bottleneck, build_config

__all__ = ["ARCHITECTURES", "SAEConfig", "SAEOutput", "SparseAutoencoder", "fvu", "geometric_median"]

logger = logging.getLogger(__name__)

Architecture = Literal["topk", "jumprelu", "relu-l1"]
ARCHITECTURES = ("topk", "jumprelu", "relu-l1")
_PADDING = -1e4  # pre-activation given to padded gathered units: zero code, zero gradient, outside any window
# Above this share of units in the support, gathering costs more than the dense products (early relu-l1 steps).
_DENSE_ABOVE = 0.125


# Each architecture is a registered bottleneck (its options from the SAE config) plus, for relu-l1, a registered
# penalty.
_CODES: dict[str, Callable[[SAEConfig], PartSpec]] = {
    "topk": lambda c: PartSpec("topk", {"k": c.k}),
    "jumprelu": lambda c: PartSpec("jumprelu", {"l0_weight": c.penalty_weight, **c.jumprelu_options}),
    "relu-l1": lambda c: PartSpec("deterministic", {"code_activation": "relu"}),
}
_PENALTIES = {"relu-l1": "l1"}
# The architectures with a sparsity penalty, what ``sparsity_weight`` is for each, and its default; topk has none
# (k sets its sparsity), so a weight given with it would be ignored and is refused.
_SPARSITY_WEIGHTS = {"jumprelu": ("L0 coefficient", 3e-3), "relu-l1": ("L1 coefficient", 5e-3)}
# jumprelu's own options and their defaults. Rajamanoharan et al. use a bandwidth of 0.001 for inputs of unit
# mean-square norm; ours have E||x||^2 = d_in, so pre-activations are about sqrt(d_in) = 20 times larger: a 20x
# wider window. Other archs have no threshold, so these options given with them are refused.
_JUMPRELU_DEFAULTS = {"bandwidth": 0.05, "initial_threshold": 0.1}


@dataclass(frozen=True)
class SAEConfig:
    """Architecture of a :class:`SparseAutoencoder`.

    ``sparsity_weight`` is the L0 coefficient of ``jumprelu`` and the L1 coefficient of ``relu-l1`` (None: the
    default below); ``topk`` takes none (a weight given with it is refused). Both penalties are against the
    per-element MSE of inputs scaled to E ||x||^2 = d_in.
    """

    d_in: int
    arch: Architecture = "topk"
    expansion: int = 8  # latent_dim = expansion * d_in, the usual first choice for a layer of a small model
    k: int = 32  # topk: units per token; jumprelu, relu-l1: units firing per token at initialisation
    # jumprelu, expansion 8, MiniLM layer 3, 1M tokens at the default LR: 3e-3 ends near L0 = 22, 1e-2 near 13;
    # at 3x that LR, 1.5e-3 ends near 27 (benchmarks/sae_minilm.py). L0 falls as training goes on.
    sparsity_weight: float | None = None
    bandwidth: float | None = None  # jumprelu only (None: 0.05): width of the threshold's gradient window
    initial_threshold: float | None = None  # jumprelu only (None: 0.1)

    def __post_init__(self) -> None:
        owner = "SparseAutoencoder"
        check_int(self.d_in, name="d_in", owner=owner, low=1)
        check_choice(self.arch, ARCHITECTURES, name="arch", owner=owner)
        check_int(self.expansion, name="expansion", owner=owner, low=1)
        check_int(self.k, name="k", owner=owner, low=1, high=self.d_in * self.expansion)
        if self.sparsity_weight is not None:
            if self.arch not in _SPARSITY_WEIGHTS:
                takes = " and ".join(f"{arch} (its {what})" for arch, (what, _) in _SPARSITY_WEIGHTS.items())
                raise AekitError(f"The 'sparsity_weight' parameter of {owner} is for arch {takes}; arch "
                                 f"'{self.arch}' has no sparsity penalty, so {self.sparsity_weight!r} would be "
                                 "ignored. Leave it unset, or choose one of those archs.")
            check_float(self.sparsity_weight, name="sparsity_weight", owner=owner, low=0.0)
        for name in _JUMPRELU_DEFAULTS:
            value = getattr(self, name)
            if value is None:
                continue
            if self.arch != "jumprelu":
                raise AekitError(f"The '{name}' parameter of {owner} is for arch jumprelu, whose threshold it sets; "
                                 f"arch '{self.arch}' has no threshold, so {value!r} would be ignored. Leave it "
                                 "unset, or choose arch 'jumprelu'.")
            check_float(value, name=name, owner=owner, low=0.0, low_inclusive=False)

    @property
    def latent_dim(self) -> int:
        return self.d_in * self.expansion

    @property
    def penalty_weight(self) -> float:
        """The sparsity coefficient in force: the given one, else 3e-3 (jumprelu L0) or 5e-3 (relu-l1 L1)."""
        if self.sparsity_weight is not None:
            return self.sparsity_weight
        return _SPARSITY_WEIGHTS[self.arch][1] if self.arch in _SPARSITY_WEIGHTS else 0.0

    @property
    def jumprelu_options(self) -> dict[str, float]:
        """jumprelu's ``bandwidth`` and ``initial_threshold`` in force: the given ones, else the defaults."""
        return {name: default if getattr(self, name) is None else getattr(self, name)
                for name, default in _JUMPRELU_DEFAULTS.items()}

    def to_json_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> SAEConfig:
        if isinstance(data, dict) and data.get("arch") not in _SPARSITY_WEIGHTS and "sparsity_weight" in data:
            # runs saved before the weight was refused for archs without a penalty still load: it was unused
            data = {**data, "sparsity_weight": None}
        if isinstance(data, dict) and data.get("arch") != "jumprelu":
            # runs saved when every arch stored jumprelu's options (unused by the others) still load
            data = {**data, **{name: None for name in _JUMPRELU_DEFAULTS if name in data}}
        return from_dict(cls, data, owner="SAEConfig")


@dataclass
class SAEOutput:
    """One training step's terms: ``loss`` (their weighted sum), the named ``losses``, the normalised
    reconstruction ``x_hat`` (batch, d_in) and the units that fired in the batch ``fired`` (latent_dim,) bool."""

    loss: Tensor
    losses: dict[str, Tensor]
    x_hat: Tensor
    fired: Tensor
    l0: Tensor


def fvu(x: Tensor, x_hat: Tensor) -> Tensor:
    """Fraction of variance unexplained: sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over the rows (batch, d)."""
    residual = (x - x_hat).pow(2).sum()
    total = (x - x.mean(0, keepdim=True)).pow(2).sum()
    return residual / total.clamp_min(torch.finfo(x.dtype).tiny)


def geometric_median(x: Tensor, iterations: int = 50, tolerance: float = 1e-6) -> Tensor:
    """The point (d,) minimising the sum of Euclidean distances to the rows of ``x`` (n, d), by Weiszfeld's
    iterations from the mean; robust to the outlier tokens (a BOS or [CLS]) that drag the mean."""
    median = x.mean(0)
    for _ in range(iterations):
        distances = (x - median).norm(dim=1).clamp_min(1e-8)  # (n,)
        weights = 1.0 / distances
        updated = (weights[:, None] * x).sum(0) / weights.sum()
        moved = (updated - median).norm() / median.norm().clamp_min(1e-8)
        median = updated
        if moved < tolerance:
            break
    return median


def _pack(support: Tensor) -> tuple[Tensor, Tensor]:
    """The units of each row of ``support`` (batch, latent_dim) bool, packed to the widest row: ``indices``
    (batch, width) and ``valid`` (batch, width) bool, False on the padding (index 0) of narrower rows."""
    rows, columns = support.nonzero(as_tuple=True)  # row-major order
    counts = torch.bincount(rows, minlength=len(support))  # (batch,)
    width = max(int(counts.max()), 1) if len(rows) else 1
    slots = torch.arange(len(rows), device=support.device) - (counts.cumsum(0) - counts)[rows]
    indices = torch.zeros(len(support), width, dtype=torch.long, device=support.device)
    valid = torch.zeros(len(support), width, dtype=torch.bool, device=support.device)
    indices[rows, slots] = columns
    valid[rows, slots] = True
    return indices, valid


class _GatheredLinear(torch.autograd.Function):
    """Pre-activations at gathered units, ``a[b, j] = W[idx[b, j]] . h[b] + bias[idx[b, j]]``, with the
    values already computed (taken from the dense forward pass) and a backward pass that costs
    O(batch * m * d) instead of O(batch * latent_dim * d)."""

    @staticmethod
    def forward(ctx: Any, values: Tensor, h: Tensor, weight: Tensor, bias: Tensor, indices: Tensor) -> Tensor:
        ctx.save_for_backward(h, weight, indices)
        ctx.bias_shape = bias.shape
        return values  # (batch, m)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor | None, Tensor | None, Tensor | None, None]:
        h, weight, indices = ctx.saved_tensors  # (batch, d), (latent_dim, d), (batch, m)
        grad_h = grad_weight = grad_bias = None
        if ctx.needs_input_grad[1]:
            grad_h = F.embedding_bag(indices, weight, per_sample_weights=grad, mode="sum")  # (batch, d)
        if ctx.needs_input_grad[2]:
            rows = torch.sparse_coo_tensor(torch.stack([indices.flatten(),
                                                        torch.arange(len(h), device=h.device).repeat_interleave(
                                                            indices.shape[1])]),
                                           grad.flatten(), (weight.shape[0], len(h)),
                                           check_invariants=False)  # (latent_dim, batch)
            grad_weight = torch.sparse.mm(rows, h)  # (latent_dim, d)
        if ctx.needs_input_grad[3]:
            grad_bias = torch.zeros(ctx.bias_shape, dtype=grad.dtype, device=grad.device)
            grad_bias.index_add_(0, indices.flatten(), grad.flatten())
        return None, grad_h, grad_weight, grad_bias, None


class SparseAutoencoder(nn.Module):
    """A sparse autoencoder of activation vectors (see the module docstring for the maths).

    Parameters
    ----------
    config : SAEConfig

    Attributes
    ----------
    bottleneck : the registered bottleneck holding W_enc, b_enc (its ``project`` layer) and the code function.
    W_dec : Parameter (latent_dim, d_in), unit-norm rows: the dictionary.
    b_dec : Parameter (d_in,), initialised by :meth:`initialize` at the data's geometric median or mean.
    input_scale : buffer (), sqrt(d_in) / mean ||x||, so inputs of any model have E ||x||^2 = d_in.
    input_mean : buffer (d_in,), the data mean in input units (for mean-ablation in the downstream check).
    """

    def __init__(self, config: SAEConfig) -> None:
        super().__init__()
        self.config = config
        d_in, latent_dim = config.d_in, config.latent_dim
        spec = _CODES[config.arch](config)
        self.bottleneck: Bottleneck = BOTTLENECKS.get(spec.name)(build_config(BOTTLENECKS, spec), in_features=d_in,
                                                                 latent_dim=latent_dim)
        # relu-l1 uses the registered L1 penalty; with unit-norm decoder rows it equals the decoder-norm-weighted
        # L1 of Anthropic's later recipe.
        self.penalty: nn.Module | None = None
        if config.arch in _PENALTIES:
            penalty = REGULARIZERS.get(_PENALTIES[config.arch])
            self.penalty = penalty(penalty.Config(weight=config.penalty_weight), latent_dim=latent_dim)
        self.W_dec = nn.Parameter(torch.empty(latent_dim, d_in))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        self.register_buffer("input_scale", torch.tensor(1.0))
        self.register_buffer("input_mean", torch.zeros(d_in))
        self.reset_parameters()

    # ------------------------------------------------------------------------------------------ set-up
    @property
    def W_enc(self) -> Tensor:  # (latent_dim, d_in)
        return self.bottleneck.project.weight

    @property
    def b_enc(self) -> Tensor:  # (latent_dim,)
        return self.bottleneck.project.bias

    def reset_parameters(self) -> None:
        """Random unit-norm dictionary rows; the encoder starts as the decoder's transpose (Gao et al. 2024),
        with zero encoder bias."""
        with torch.no_grad():
            self.W_dec.normal_()
            self.normalize_decoder()
            self.W_enc.copy_(self.W_dec)
            self.b_enc.zero_()

    @torch.no_grad()
    def initialize(self, sample: Tensor, *, b_dec_init: Literal["geometric_median", "mean", "zeros"] =
                   "geometric_median", normalize: bool = True) -> SparseAutoencoder:
        """Set the input scale, the data mean and ``b_dec`` from a sample of activations (n, d_in)."""
        check_choice(b_dec_init, ["geometric_median", "mean", "zeros"], name="b_dec_init", owner="SparseAutoencoder")
        sample = self._check_input(sample).float().to(self.W_dec.device)
        self.input_mean.copy_(sample.mean(0))
        mean_norm = sample.norm(dim=1).mean()
        self.input_scale.fill_(math.sqrt(self.config.d_in) / float(mean_norm) if normalize and mean_norm > 0
                               else 1.0)
        scaled = sample * self.input_scale
        if b_dec_init == "geometric_median":
            self.b_dec.copy_(geometric_median(scaled))
        elif b_dec_init == "mean":
            self.b_dec.copy_(scaled.mean(0))
        else:
            self.b_dec.zero_()
        if self.config.arch != "topk":
            # A penalised code starts where top-k does: each unit's encoder bias puts the (1 - k / latent_dim)
            # quantile of its pre-activations on the sample at its threshold, so about k units fire per token.
            # Otherwise half the units fire at first, and with Adam's step of about lr per step, thresholds and
            # biases need thousands of steps to climb to where they can be sparse.
            a = (scaled - self.b_dec) @ self.W_enc.t()  # (n, latent_dim), without b_enc
            quantile = torch.quantile(a[:4096], 1.0 - self.config.k / self.config.latent_dim, dim=0)
            start = self.config.jumprelu_options["initial_threshold"] if self.config.arch == "jumprelu" else 0.0
            self.b_enc.copy_(start - quantile)
        return self

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale every dictionary row to unit norm (after each optimizer step)."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def project_decoder_grad(self) -> None:
        """Remove from W_dec's gradient its component along each row: the part that would only change the
        norm, which :meth:`normalize_decoder` undoes anyway (so Adam's moments are not spent on it)."""
        if self.W_dec.grad is not None:
            parallel = (self.W_dec.grad * self.W_dec).sum(1, keepdim=True)  # (latent_dim, 1)
            self.W_dec.grad.sub_(parallel * self.W_dec)

    def _check_input(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.config.d_in:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise AekitError(f"This sparse autoencoder expects activations of shape (n, {self.config.d_in}). Got "
                             f"{shape} instead. Pass activations of the layer and site it was trained on.")
        return x

    # -------------------------------------------------------------------------------------- inference
    def encode(self, x: Tensor) -> Tensor:
        """Codes (n, latent_dim) of activations ``x`` (n, d_in) in input units."""
        x = self._check_input(x)
        h = x.to(self.W_dec.dtype) * self.input_scale - self.b_dec  # (n, d_in)
        return self.bottleneck(h).z

    def decode(self, z: Tensor) -> Tensor:
        """Reconstructions (n, d_in) in input units from codes (n, latent_dim)."""
        return (z @ self.W_dec + self.b_dec) / self.input_scale

    def forward(self, x: Tensor) -> Tensor:
        """The reconstruction of ``x`` (n, d_in), in input units."""
        return self.decode(self.encode(x))

    # --------------------------------------------------------------------------------------- training
    def loss(self, x: Tensor, *, dead: Tensor | None = None, aux_k: int = 0, aux_weight: float = 0.0,
             sparsity_scale: float = 1.0) -> SAEOutput:
        """The training objective on a batch of *normalised* inputs ``x`` (batch, d_in) (``x * input_scale``).

        ``mse`` is the per-element squared error; the bottleneck adds ``l0`` (jumprelu), the L1 penalty ``l1``
        (relu-l1); both are multiplied by ``sparsity_scale`` (the trainer's warm-up ramp). With ``dead``
        (latent_dim,) bool and ``aux_k`` > 0, ``aux`` is AuxK (Gao et al. 2024): the
        top ``aux_k`` dead units, ReLU-ed, reconstruct the residual x - x_hat; its MSE over the residual's
        variance, times ``aux_weight``, gives dead units a gradient towards what the live ones miss.
        """
        h = x - self.b_dec  # (batch, d_in)
        with torch.no_grad():
            a_dense = torch.addmm(self.b_enc, h, self.W_enc.t())  # (batch, latent_dim)
            indices, valid = _pack(self.bottleneck.support(a_dense))  # (batch, width) each
        losses: dict[str, Tensor] = {}
        if indices.shape[1] > _DENSE_ABOVE * self.config.latent_dim:
            coded = self.bottleneck(h)
            z = coded.z  # (batch, latent_dim)
            x_hat = z @ self.W_dec + self.b_dec
            fired = (z != 0).any(0)
            l0 = (z != 0).sum(1).float().mean()
        else:
            a = _GatheredLinear.apply(a_dense.gather(1, indices), h, self.W_enc, self.b_enc, indices)
            a = torch.where(valid, a, torch.full_like(a, _PADDING))  # (batch, width)
            coded = self.bottleneck.code_at(a, indices)
            z = coded.z  # (batch, width)
            x_hat = F.embedding_bag(indices, self.W_dec, per_sample_weights=z, mode="sum") + self.b_dec
            with torch.no_grad():
                on = z != 0
                fired = torch.zeros(self.config.latent_dim, dtype=torch.bool, device=x.device)
                fired[indices[on]] = True
                l0 = on.sum(1).float().mean()
        losses["mse"] = (x_hat - x).pow(2).mean()
        losses.update({name: sparsity_scale * value for name, value in coded.losses.items()})
        if self.penalty is not None:
            losses["l1"] = sparsity_scale * self.penalty.config.weight * self.penalty(
                RegularizerContext(x=x, x_tilde=x, h=h, z=z, encode=lambda v: v))
        if dead is not None and aux_k > 0 and aux_weight > 0 and bool(dead.any()):
            losses["aux"] = aux_weight * self._aux_loss(x - x_hat.detach(), h, a_dense, dead, aux_k)
        loss = torch.stack(list(losses.values())).sum()
        return SAEOutput(loss=loss, losses=losses, x_hat=x_hat, fired=fired, l0=l0)

    def _aux_loss(self, residual: Tensor, h: Tensor, a_dense: Tensor, dead: Tensor, aux_k: int) -> Tensor:
        with torch.no_grad():
            k = min(aux_k, int(dead.sum()))
            masked = torch.where(dead, a_dense, torch.full_like(a_dense, -math.inf))
            indices = masked.topk(k, dim=1).indices  # (batch, k)
        a = _GatheredLinear.apply(a_dense.gather(1, indices), h, self.W_enc, self.b_enc, indices)
        predicted = F.embedding_bag(indices, self.W_dec, per_sample_weights=torch.relu(a), mode="sum")
        variance = (residual - residual.mean(0)).pow(2).sum(1).mean()
        aux = (predicted - residual).pow(2).sum(1).mean() / variance.clamp_min(1e-12)
        return torch.nan_to_num(aux, nan=0.0)
