"""Sparse and overcomplete presets: codes where most units are zero for any one sample.

Three ways to get there: a penalty (``sparse-l1``, ``sparse-kl``), a hard budget (``topk``), or a learned
threshold with an L0 penalty (``jumprelu``). ``overcomplete`` uses a code wider than the input, which only
makes sense with one of these (or a corruption): otherwise it can learn the identity, and aekit warns.
"""

from aekit.parts import PartSpec
from aekit.presets import PRESETS, Preset

_RELU_CODE = PartSpec("deterministic", {"code_activation": "relu"})


@PRESETS.register("sparse-l1")
def sparse_l1() -> Preset:
    return Preset("Sparse autoencoder: ReLU codes with an L1 penalty (option weight) driving most units to zero.",
                  bottleneck=_RELU_CODE, regularizers=(PartSpec("l1"),))


@PRESETS.register("sparse-kl")
def sparse_kl() -> Preset:
    return Preset("Sparse autoencoder: sigmoid codes whose mean activation is pulled to rho by a KL penalty "
                  "(options rho, weight).",
                  bottleneck=PartSpec("deterministic", {"code_activation": "sigmoid"}),
                  regularizers=(PartSpec("kl_sparsity"),))


@PRESETS.register("topk")
def topk() -> Preset:
    return Preset("Top-k sparse autoencoder: exactly k active units per sample (option k), no penalty to tune.",
                  bottleneck=PartSpec("topk"))


@PRESETS.register("jumprelu")
def jumprelu() -> Preset:
    return Preset("JumpReLU sparse autoencoder: learned per-unit thresholds and an L0 penalty (options l0_weight, "
                  "bandwidth, l0_warmup).", bottleneck=PartSpec("jumprelu"))


@PRESETS.register("overcomplete")
def overcomplete() -> Preset:
    # One dense layer each way, as in sparse coding: the width lives in the code, not in hidden layers.
    return Preset("Overcomplete sparse autoencoder: a code wider than the input (latent_dim > features), kept "
                  "from copying the input by an L1 penalty (option weight).",
                  backbone=PartSpec("dense", {"hidden_dims": ()}), bottleneck=_RELU_CODE,
                  regularizers=(PartSpec("l1"),))
