"""Denoising and restoration presets: the input is corrupted in training, the target stays clean.

Each preset pairs a backbone with one corruption; its options (``sigma``, ``p``, ``factor``, ``box_size``,
``num_boxes``, ``clamp``, ...) are set like any other, e.g. ``AutoEncoder("denoising-conv",
model_options={"sigma": 0.2})``. At inference (``reconstruct``) the model is given the degraded data and
returns its restoration; nothing is corrupted outside training.
"""

from aekit.parts import PartSpec
from aekit.presets import PRESETS, Preset


@PRESETS.register("denoising")
def denoising() -> Preset:
    return Preset("Denoising MLP autoencoder: Gaussian noise (option sigma) on the input, clean target.",
                  corruption=PartSpec("gaussian"))


@PRESETS.register("denoising-conv")
def denoising_conv() -> Preset:
    return Preset("Denoising convolutional autoencoder for images: Gaussian noise (option sigma), clean target.",
                  backbone=PartSpec("conv"), corruption=PartSpec("gaussian"))


@PRESETS.register("colorization")
def colorization() -> Preset:
    return Preset("Colorization: a conv autoencoder that restores RGB images from their BT.601 grayscale.",
                  backbone=PartSpec("conv"), corruption=PartSpec("grayscale"))


@PRESETS.register("super-resolution")
def super_resolution() -> Preset:
    return Preset("Super-resolution: a conv autoencoder that restores images downsampled by 'factor' (default 2).",
                  backbone=PartSpec("conv"), corruption=PartSpec("downsample"))


@PRESETS.register("inpainting")
def inpainting() -> Preset:
    return Preset("Inpainting: a conv autoencoder that fills random boxes (options box_size, num_boxes) blanked out.",
                  backbone=PartSpec("conv"), corruption=PartSpec("box_mask"))
