"""Contractive penalty (Rifai et al., 2011): the squared Frobenius norm of the encoder's Jacobian dz/dx."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from aekit.errors import AekitError, check_choice, check_float, check_int
from aekit.parts.base import REGULARIZERS, Regularizer, RegularizerContext

__all__ = ["ContractiveRegularizer", "single_sigmoid_layer"]

Method = Literal["auto", "closed_form", "exact", "projection"]
_METHODS = ["auto", "closed_form", "exact", "projection"]


def single_sigmoid_layer(owner: nn.Module, encode: object, x: Tensor) -> nn.Linear | None:
    """The dense layer ``W`` if ``encode`` computes exactly ``z = sigmoid(W x + b)``, else None.

    Found by structure, not by name: ``encode(x)`` runs once with hooks on every leaf module of ``owner``, and
    the calls that change their input must be one ``nn.Linear`` applied to the flattened ``x`` followed by one
    ``nn.Sigmoid`` whose output is the code. Modules returning their input (``nn.Identity``, an empty
    ``nn.Sequential``) are skipped; dropout in training mode, a norm, a second layer or a functional
    activation make it not match.
    """
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in owner.modules()):
        return None  # not one layer; and a traced pass in training mode would move its running statistics
    calls: list[tuple[nn.Module, tuple[object, ...], object]] = []
    leaves = [m for m in owner.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(lambda m, i, o: calls.append((m, i, o))) for m in leaves]
    try:
        with torch.no_grad():
            z = encode(x)  # type: ignore[operator]
    finally:
        for handle in handles:
            handle.remove()
    changed = [(m, i, o) for m, i, o in calls if not (len(i) == 1 and o is i[0])]
    if len(changed) != 2:
        return None
    (linear, linear_in, linear_out), (sigmoid, sigmoid_in, sigmoid_out) = changed
    if not (isinstance(linear, nn.Linear) and isinstance(sigmoid, nn.Sigmoid)):
        return None
    flat = x.reshape(len(x), -1)
    first = linear_in[0]
    if not (isinstance(first, Tensor) and first.shape == flat.shape and torch.equal(first, flat)):
        return None
    if sigmoid_in[0] is not linear_out or sigmoid_out is not z:
        return None
    return linear


@REGULARIZERS.register("contractive")
class ContractiveRegularizer(Regularizer):
    """``||dz/dx||_F^2`` per sample, averaged over the batch, at the encoder's input ``x_tilde``.

    How the Jacobian norm is computed (``method="auto"`` picks the first that applies):

    - ``closed_form``: when ``x -> z`` is one dense layer and a sigmoid (detected by tracing the modules, see
      :func:`single_sigmoid_layer`), ``sum_j (z_j (1 - z_j))^2 ||W_j||^2``: no extra pass at all.
    - ``exact``: one vector-Jacobian product per code unit, while ``latent_dim <= max_exact_dim``.
    - ``projection``: a random-projection (Hutchinson) estimate, ``E_v ||v^T J||^2 = ||J||_F^2`` for Rademacher
      ``v``, averaged over ``n_projections`` products: unbiased, with a cost independent of ``latent_dim``.

    ``exact`` and ``projection`` treat samples as independent (no batch-norm statistics in training mode).

    ``stats``: ``jacobian_frobenius_sq``, the penalty itself, unweighted: the mean over samples of
    ``||dz/dx||_F^2`` at the encoder input (the clean input in eval mode). With ``projection`` it is the random
    estimate, unbiased, whose spread shrinks as a data set's samples are averaged; in eval mode its draws are
    seeded, so the same batch gives the same figure.
    """

    @dataclass(frozen=True)
    class Config:
        # 0.1 is in the range Rifai et al. tuned over (1e-4 .. 1) for a per-element reconstruction error.
        weight: float = 0.1
        method: Method = "auto"
        # 16 backward passes per step is still cheaper than a second training step for small codes.
        max_exact_dim: int = 16
        # 4 projections keep the estimate's relative spread near 1/sqrt(4) of a single one's.
        n_projections: int = 4

        def __post_init__(self) -> None:
            owner = "ContractiveRegularizer"
            check_float(self.weight, name="weight", owner=owner, low=0.0, finite=True)
            check_choice(self.method, _METHODS, name="method", owner=owner)
            check_int(self.max_exact_dim, name="max_exact_dim", owner=owner, low=0)
            check_int(self.n_projections, name="n_projections", owner=owner, low=1)

    def __init__(self, config: Config, *, latent_dim: int) -> None:
        super().__init__(config, latent_dim=latent_dim)
        # (id of the model, its training flag, the layer or None): found once per model and mode
        self._plan: tuple[int, bool, nn.Linear | None] | None = None

    @property
    def prevents_identity(self) -> bool:
        """The identity has ``||J||_F^2 = input size``: an active penalty keeps a wide code from copying."""
        return self.config.weight > 0

    def method_for(self, context: RegularizerContext) -> str:
        """The method ``forward`` uses for this model: closed_form, exact or projection."""
        method = self.config.method
        if method in ("auto", "closed_form") and self._closed_form_layer(context) is not None:
            return "closed_form"
        if method == "closed_form":
            raise AekitError("The contractive method 'closed_form' needs an encoder that is one dense layer "
                             "and a sigmoid (hidden_dims=[] and code_activation='sigmoid'). Use method='auto'.")
        if method == "auto":
            return "exact" if self.latent_dim <= self.config.max_exact_dim else "projection"
        return method

    def forward(self, context: RegularizerContext) -> Tensor:
        method = self.method_for(context)
        if method == "closed_form":
            layer = self._closed_form_layer(context)
            assert layer is not None
            z = context.z.reshape(-1, context.z.shape[-1])  # (batch, latent_dim)
            slope = (z * (1 - z)).square()  # (batch, latent_dim): sigmoid'(a)^2
            return (slope @ layer.weight.square().sum(1)).mean()  # weight: (latent_dim, in_features)
        return self._autograd_penalty(context, exact=method == "exact")

    def stats(self, context: RegularizerContext, penalty: Tensor) -> dict[str, Tensor]:
        return {"jacobian_frobenius_sq": penalty.detach()}  # a mean over the samples already

    def _closed_form_layer(self, context: RegularizerContext) -> nn.Linear | None:
        owner = getattr(context.encode, "__self__", None)
        if not isinstance(owner, nn.Module):
            return None
        if self._plan is None or self._plan[:2] != (id(owner), owner.training):
            layer = single_sigmoid_layer(owner, context.encode, context.x_tilde[:2])
            self._plan = (id(owner), owner.training, layer)
        return self._plan[2]

    def _autograd_penalty(self, context: RegularizerContext, *, exact: bool) -> Tensor:
        keep_graph = torch.is_grad_enabled()  # also evaluated under no_grad (validation): no graph then
        # under inference_mode too: a clone made outside it is an ordinary tensor that autograd can track
        with torch.inference_mode(False), torch.enable_grad():
            x = context.x_tilde.detach().clone().requires_grad_(True)  # (batch, *input_shape)
            z = context.encode(x).reshape(len(x), -1)  # (batch, code units)

            def vjp(output: Tensor) -> Tensor:  # sum over the batch of v^T J, shaped like x
                grad = None
                if output.grad_fn is not None:
                    (grad,) = torch.autograd.grad(output, x, create_graph=keep_graph, retain_graph=True,
                                                  allow_unused=True)
                if grad is None:
                    raise AekitError("The contractive penalty needs an encoder that is differentiable in its "
                                     "input; this one is not (discrete inputs?). Drop the contractive regularizer.")
                return grad

            total = z.new_zeros(())
            if exact:
                for unit in range(z.shape[1]):
                    total = total + vjp(z[:, unit].sum()).square().sum()  # row `unit` of each sample's Jacobian
            else:
                # eval mode is deterministic (validation loss, statistics): the same draws for every call
                generator = None if self.training else torch.Generator(z.device).manual_seed(0)
                for _ in range(self.config.n_projections):
                    v = torch.randint(0, 2, z.shape, device=z.device, generator=generator).to(z.dtype) * 2 - 1
                    total = total + vjp((z * v).sum()).square().sum()  # ||v^T J||^2 summed over the batch
                total = total / self.config.n_projections
            penalty = total / len(x)
        return penalty if keep_graph else penalty.detach()
