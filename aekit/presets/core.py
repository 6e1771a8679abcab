"""The core presets: plain undercomplete autoencoders."""

from aekit.parts import PartSpec
from aekit.presets import PRESETS, Preset


@PRESETS.register("dense")
def dense() -> Preset:
    return Preset("Undercomplete MLP autoencoder; the default for tabular data and flattened images.")


@PRESETS.register("conv")
def conv() -> Preset:
    return Preset("Convolutional autoencoder for images (C, H, W) and signals (C, L) of any size.",
                  backbone=PartSpec("conv"))
