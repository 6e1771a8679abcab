"""The variational family: VAE, beta-VAE and a convolutional VAE.

All three pair the "variational" bottleneck with a likelihood summed over elements ("sum" reduction): the
loss is then -ELBO in nats (times ``beta`` on the KL), so reconstruction and KL sit on the same scale whatever
the input size. Their models sample, interpolate and score ``log_likelihood``.

The training loss is a one-sample estimate of -ELBO (z drawn from the posterior). The validation loss, taken in
eval mode, decodes the posterior mean instead: deterministic, so epochs compare fairly, but not -ELBO, and
usually below it (and below the NLL). For the model's NLL use ``AutoEncoder.log_likelihood``.
"""

from aekit.parts import PartSpec
from aekit.presets import PRESETS, Preset

# Bernoulli on logits: the classic VAE likelihood for [0, 1] images (binarized or grey); switch to "gaussian"
# or "laplace" (also "sum") for real-valued tables.
_LIKELIHOOD = PartSpec("bce", {"reduction": "sum"})
# A KL warm-up over the first 10% of training (Bowman et al., 2016; Sønderby et al., 2016): the code learns to
# carry information before the KL pulls it to the prior. On binarized MNIST it took the test NLL from 88.7 to
# 86.4 nats at 150 epochs (benchmarks/vae_nll.py, shortened protocol) and kept twice the active units.
_WARMUP = 0.1


@PRESETS.register("vae")
def vae() -> Preset:
    return Preset("Variational autoencoder (MLP): Gaussian code with a KL to N(0, I); samples and scores log p(x).",
                  bottleneck=PartSpec("variational", {"warmup": _WARMUP}), likelihood=_LIKELIHOOD)


@PRESETS.register("beta-vae")
def beta_vae() -> Preset:
    # beta=4: Higgins et al. (2017)'s value for disentangling on small images; a stronger pull to the prior.
    return Preset("beta-VAE (MLP, beta=4): a heavier KL for smoother, more disentangled codes, blurrier output.",
                  bottleneck=PartSpec("variational", {"beta": 4.0, "warmup": _WARMUP}), likelihood=_LIKELIHOOD)


@PRESETS.register("conv-vae")
def conv_vae() -> Preset:
    return Preset("Convolutional variational autoencoder for images (C, H, W) and signals (C, L).",
                  backbone=PartSpec("conv"), bottleneck=PartSpec("variational", {"warmup": _WARMUP}),
                  likelihood=_LIKELIHOOD)
