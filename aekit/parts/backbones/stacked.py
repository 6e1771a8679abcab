"""The dense backbone, marked for greedy layer-wise pretraining (stacked autoencoders, Bengio et al., 2007).

The architecture is exactly :class:`~aekit.parts.backbones.dense.DenseBackbone`'s. The encoder carries the
``pretrain`` setting as an attribute; the trainer hands the model to
:func:`aekit.training.pretraining.pretrain`, which reads it and, for ``"layerwise"``, trains each
encoder layer with its mirror decoder layer as a shallow autoencoder before end-to-end fine-tuning.
Keeping the option in this backbone's config means it travels like any part option: ``model_options``,
``--set pretrain=layerwise``, the saved ``config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from aekit.errors import check_choice, check_int
from aekit.parts.backbones.dense import DenseBackbone, DenseEncoder
from aekit.parts.base import BACKBONES

Pretrain = Literal["layerwise", "none"]


class StackedDenseEncoder(DenseEncoder):
    """A :class:`DenseEncoder` that tells the trainer how to pretrain it (``pretrain``, ``pretrain_epochs``)."""

    def __init__(self, input_shape: tuple[int, ...], config: StackedDenseBackbone.Config) -> None:
        super().__init__(input_shape, config)
        self.pretrain = config.pretrain
        self.pretrain_epochs = config.pretrain_epochs


@BACKBONES.register("stacked_dense")
class StackedDenseBackbone(DenseBackbone):
    """An MLP whose layers are pretrained greedily, one encoder/decoder pair at a time, then fine-tuned."""

    @dataclass(frozen=True)
    class Config(DenseBackbone.Config):
        pretrain: Pretrain = "layerwise"
        # A few passes per layer are enough: each stage is a shallow autoencoder and fine-tuning follows.
        pretrain_epochs: int = 5

        def __post_init__(self) -> None:
            super().__post_init__()
            check_choice(self.pretrain, ["layerwise", "none"], name="pretrain", owner="StackedDenseBackbone")
            check_int(self.pretrain_epochs, name="pretrain_epochs", owner="StackedDenseBackbone", low=1)

    def build_encoder(self, input_shape: tuple[int, ...]) -> nn.Module:
        return StackedDenseEncoder(input_shape, self.config)
