"""The vector-quantized autoencoder preset (VQ-VAE, van den Oord et al., 2017)."""

from aekit.parts import PartSpec
from aekit.presets import PRESETS, Preset


@PRESETS.register("vq-vae")
def vq_vae() -> Preset:
    return Preset("VQ-VAE: conv autoencoder with a discrete code (EMA codebook, options codebook_size, "
                  "embedding_dim, beta).", backbone=PartSpec("conv"), bottleneck=PartSpec("vq"))
