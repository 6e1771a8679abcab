"""Greedy layer-wise pretraining of stacked autoencoders (Bengio et al., 2007; Vincent et al., 2010).

A deep dense autoencoder ``x -> E1 -> E2 -> ... -> En -> z -> D1 -> ... -> Dn -> x_hat`` is trained one
layer pair at a time: stage ``i`` freezes ``E1..E(i-1)``, feeds their output ``u`` to ``Ei`` and trains
``Ei`` with its mirror ``D(n+1-i)`` to reconstruct ``u`` (stage 1 reconstructs ``x`` under the model's own
likelihood). The trainer then fine-tunes the whole network end to end, starting from these weights.

Which layer pairs with which is found from the model's structure, not from names: the encoder, bottleneck
and decoder are traced once, every call of a leaf module recorded, and the calls are cut into blocks that
each start with an ``nn.Linear``. The blocks must recompose into exactly the model's ``encode`` and
``decoder``; if they do not (a residual connection, a convolution, a sampling bottleneck) pretraining
raises instead of guessing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from aekit.errors import AekitError
from aekit.training.sources import batch_bounds, has_batch_norm

if TYPE_CHECKING:
    from aekit.model import Autoencoder
    from aekit.training.sources import BatchSource
    from aekit.training.trainer import TrainerConfig

__all__ = ["StageReport", "LayerStack", "layer_stack", "pretrain", "pretrain_layerwise"]

logger = logging.getLogger(__name__)

_EVAL_ROWS = 2048  # rows each stage's before/after reconstruction error is measured on
_EVAL_BATCH = 1024


@dataclass
class StageReport:
    """One pretraining stage: which layers it trained and its own reconstruction error before and after."""

    stage: int  # 1-based, from the input inwards
    layers: str  # widths, e.g. "784 -> 256 -> 784"
    loss_before: float
    loss_after: float


class _Block(nn.Module):
    """A linear layer and the element-wise modules that follow it up to the next linear layer."""

    def __init__(self, modules: list[nn.Module]) -> None:
        super().__init__()
        # held in a plain list so the block does not become a second owner of the model's parameters
        self.steps = list(modules)

    @property
    def linear(self) -> nn.Linear:
        return self.steps[0]  # type: ignore[return-value]

    def stage_parameters(self) -> list[nn.Parameter]:
        seen: dict[int, nn.Parameter] = {}
        for module in self.steps:
            for p in module.parameters():
                seen.setdefault(id(p), p)
        return list(seen.values())

    def set_training(self, mode: bool) -> None:
        for module in self.steps:
            module.train(mode)

    def forward(self, x: Tensor) -> Tensor:
        for module in self.steps:
            x = module(x)
        return x


@dataclass
class LayerStack:
    """A model cut into encoder blocks ``E1..En`` (the bottleneck's layer last) and decoder blocks ``D1..Dn``."""

    encoder: list[_Block]
    decoder: list[_Block]
    param_shape: tuple[int, ...]

    def pair(self, stage: int) -> tuple[_Block, _Block]:
        """Encoder block ``stage`` (0-based) and its mirror decoder block."""
        return self.encoder[stage], self.decoder[len(self.decoder) - 1 - stage]


def _trace(root: nn.Module, fn: object, x: Tensor) -> tuple[list[tuple[nn.Module, Tensor, Tensor]], Tensor]:
    calls: list[tuple[nn.Module, Tensor, Tensor]] = []

    def record(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        first = inputs[0] if inputs else None
        calls.append((module, first, output))  # type: ignore[arg-type]

    leaves = [m for m in root.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(record) for m in leaves]
    try:
        with torch.no_grad():
            out = fn(x)  # type: ignore[operator]
    finally:
        for handle in handles:
            handle.remove()
    # modules that hand back their input (nn.Identity, an empty nn.Sequential, dropout in eval) compute nothing
    return [(m, i, o) for m, i, o in calls if o is not i], out


def _blocks(calls: list[tuple[nn.Module, Tensor, Tensor]], start: Tensor, end: Tensor, part: str) -> list[_Block]:
    """Cut a chain of leaf calls into blocks at each ``nn.Linear``; the chain must run from ``start`` to ``end``."""
    not_a_stack = AekitError(
        f"Layer-wise pretraining needs the {part} to be a plain stack of dense layers; this one is not. Use "
        "pretrain='none', or the stacked preset's dense backbone and deterministic bottleneck.")
    if not calls or not isinstance(calls[0][0], nn.Linear):
        raise not_a_stack
    first_input = calls[0][1]
    if not (isinstance(first_input, Tensor) and first_input.shape == start.shape and torch.equal(first_input, start)):
        raise not_a_stack
    blocks: list[list[nn.Module]] = []
    previous_output: object = None
    for index, (module, inp, out) in enumerate(calls):
        if index and inp is not previous_output:  # something other than a leaf module touched the tensor
            raise not_a_stack
        if isinstance(module, nn.Linear):
            blocks.append([module])
        else:
            blocks[-1].append(module)
        previous_output = out
    if not (isinstance(previous_output, Tensor) and previous_output.numel() == end.numel()
            and torch.equal(previous_output.reshape(end.shape), end)):
        raise not_a_stack
    return [_Block(modules) for modules in blocks]


def layer_stack(model: Autoencoder, x: Tensor) -> LayerStack:
    """Cut ``model`` into mirrored dense blocks, checked on the sample batch ``x`` (batch, *input_shape)."""
    was_training = model.training
    model.eval()
    try:
        x = x[:8]
        encode_calls, z = _trace(nn.ModuleList([model.encoder, model.bottleneck]), model.encode, x)
        encoder = _blocks(encode_calls, x.reshape(len(x), -1), z, "encoder and bottleneck")
        decode_calls, params = _trace(model.decoder, model.decoder, z)
        decoder = _blocks(decode_calls, z.reshape(len(z), -1), params, "decoder")
        # the blocks alone must reproduce the model: nothing hidden between the leaves
        with torch.no_grad():
            h = x.reshape(len(x), -1)
            for block in encoder:
                h = block(h)
            out = h
            for block in decoder:
                out = block(out)
        if not (torch.equal(h.reshape(z.shape), z) and torch.equal(out.reshape(params.shape), params)):
            raise AekitError("Layer-wise pretraining needs a plain stack of dense layers; this model computes "
                             "more than its layers. Use pretrain='none'.")
    finally:
        model.train(was_training)
    if len(encoder) != len(decoder):
        raise AekitError(f"Layer-wise pretraining pairs each encoder layer with a mirror decoder layer; this model "
                         f"has {len(encoder)} encoder and {len(decoder)} decoder layers. Use pretrain='none'.")
    stack = LayerStack(encoder, decoder, tuple(params.shape[1:]))
    for stage in range(len(encoder)):
        enc, dec = stack.pair(stage)
        if enc.linear.in_features != dec.linear.out_features and stage > 0:
            raise AekitError(f"Layer-wise pretraining needs mirrored widths; encoder layer {stage + 1} reads "
                             f"{enc.linear.in_features} features but its mirror writes {dec.linear.out_features}. "
                             "Use pretrain='none'.")
    return stack


def _stage_loss(model: Autoencoder, stack: LayerStack, stage: int, x: Tensor) -> Tensor:
    """Stage ``stage``'s own reconstruction error on the raw batch ``x`` (earlier blocks frozen)."""
    with torch.no_grad():
        u = x.reshape(len(x), -1)  # (batch, features)
        for block in stack.encoder[:stage]:
            u = block(u)
    enc, dec = stack.pair(stage)
    out = dec(enc(u))  # (batch, width of u), or the likelihood's parameters for stage 0
    if stage == 0:
        return model.likelihood.nll(out.reshape(len(x), *stack.param_shape), x).mean()
    return (out - u).square().mean()


def _evaluate(model: Autoencoder, stack: LayerStack, stage: int, source: BatchSource, rows: Tensor) -> float:
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(rows), _EVAL_BATCH):
            chunk = rows[start:start + _EVAL_BATCH]
            total += float(_stage_loss(model, stack, stage, source.batch(chunk))) * len(chunk)
    return total / max(len(rows), 1)


def pretrain_layerwise(model: Autoencoder, source: BatchSource, *, epochs: int, lr: float = 1e-3,
                       batch_size: int = 128, seed: int = 0) -> list[StageReport]:
    """Train ``model``'s layer pairs greedily, from the input inwards; returns one report per stage.

    Parameters
    ----------
    model : an autoencoder whose encoder, bottleneck and decoder are plain mirrored stacks of dense layers.
    source : the training rows (already scaled), on the model's device.
    epochs : passes over ``source`` per stage.
    lr, batch_size : Adam's step size and the batch size of every stage.
    seed : seeds the shuffling, so the same seed gives the same weights.
    """
    if len(source) == 0:
        raise AekitError("The training split is empty. Provide more samples or lower validation_fraction.")
    rng = np.random.default_rng(seed)
    stack = layer_stack(model, source.batch(torch.arange(min(len(source), 8))))
    eval_rows = torch.from_numpy(np.sort(rng.permutation(len(source))[:_EVAL_ROWS]))
    was_training = model.training
    reports: list[StageReport] = []
    try:
        for stage in range(len(stack.encoder)):
            enc, dec = stack.pair(stage)
            model.eval()  # frozen blocks: no dropout, no batch-norm updates
            before = _evaluate(model, stack, stage, source, eval_rows)
            parameters = enc.stage_parameters() + dec.stage_parameters()
            optimizer = torch.optim.Adam(parameters, lr=lr)
            enc.set_training(True)
            dec.set_training(True)
            bounds = batch_bounds(len(source), batch_size, min_rows=2 if has_batch_norm(model) else 1)
            for _ in range(epochs):
                perm = torch.from_numpy(rng.permutation(len(source)))
                for start, stop in bounds:
                    loss = _stage_loss(model, stack, stage, source.batch(perm[start:stop]))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
            model.eval()
            after = _evaluate(model, stack, stage, source, eval_rows)
            widths = f"{enc.linear.in_features} -> {enc.linear.out_features} -> {dec.linear.out_features}"
            reports.append(StageReport(stage + 1, widths, before, after))
            logger.info("pretraining stage %d/%d (%s): reconstruction %.4g -> %.4g", stage + 1, len(stack.encoder),
                        widths, before, after)
            if not math.isfinite(after):
                raise AekitError(f"Layer-wise pretraining diverged in stage {stage + 1} (lr={lr:g}). Lower the "
                                 "learning rate or use pretrain='none'.")
    finally:
        for p in model.parameters():
            p.grad = None
        model.train(was_training)
    return reports


def pretrain(model: nn.Module, source: BatchSource, config: TrainerConfig) -> list[StageReport]:
    """Pretrain ``model`` if its encoder asks for it (``encoder.pretrain == "layerwise"``); else do nothing.

    Called by :class:`~aekit.training.Trainer` before the first epoch (not on resume), with the trainer's
    learning rate, batch size and seed, and the encoder's ``pretrain_epochs``.
    """
    encoder = getattr(model, "encoder", None)
    if getattr(encoder, "pretrain", "none") != "layerwise":
        return []
    epochs = int(getattr(encoder, "pretrain_epochs", 5))
    return pretrain_layerwise(model, source, epochs=epochs, lr=config.lr,  # type: ignore[arg-type]
                              batch_size=config.batch_size, seed=config.seed)
