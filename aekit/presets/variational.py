"""The variational family: VAE, beta-VAE and a convolutional VAE.

All three pair the "variational" bottleneck with a likelihood summed over elements ("sum" reduction): the
loss is then -ELBO in nats (times ``beta`` on the KL), so reconstruction and KL sit on the same scale whatever
the input size. Their models sample, interpolate and score ``log_likelihood``.
"""

from aekit.parts import PartSpec
from aekit.presets import PRESETS, Preset

# Bernoulli on logits: the classic VAE likelihood for [0, 1] images (binarized or grey); switch to "gaussian"
# or "laplace" (also "sum") for real-valued tables.
_LIKELIHOOD = PartSpec("bce", {"reduction": "sum"})


@PRESETS.register("vae")
def vae() -> Preset:
    return Preset("Variational autoencoder (MLP): Gaussian code with a KL to N(0, I); samples and scores log p(x).",
                  bottleneck=PartSpec("variational"), likelihood=_LIKELIHOOD)


@PRESETS.register("beta-vae")
def beta_vae() -> Preset:
    # beta=4: Higgins et al. (2017)'s value for disentangling on small images; a stronger pull to the prior.
    return Preset("beta-VAE (MLP, beta=4): a heavier KL for smoother, more disentangled codes, blurrier output.",
                  bottleneck=PartSpec("variational", {"beta": 4.0}), likelihood=_LIKELIHOOD)


@PRESETS.register("conv-vae")
def conv_vae() -> Preset:
    return Preset("Convolutional variational autoencoder for images (C, H, W) and signals (C, L).",
                  backbone=PartSpec("conv"), bottleneck=PartSpec("variational"), likelihood=_LIKELIHOOD)
