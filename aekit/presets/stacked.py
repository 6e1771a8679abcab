"""Stacked autoencoders: greedy layer-wise pretraining, then end-to-end fine-tuning."""

from aekit.parts import PartSpec
from aekit.presets import PRESETS, Preset


@PRESETS.register("stacked")
def stacked() -> Preset:
    return Preset("Stacked deep MLP autoencoder: each layer pair pretrained greedily, then fine-tuned end to end "
                  "(options pretrain='layerwise'|'none', pretrain_epochs).", backbone=PartSpec("stacked_dense"))
