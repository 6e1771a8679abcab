"""Encoder/decoder backbones. Add one: a new file here with a registered :class:`~aekit.parts.base.Backbone`."""

from aekit.parts.backbones.conv import ConvBackbone
from aekit.parts.backbones.dense import DenseBackbone

__all__ = ["ConvBackbone", "DenseBackbone"]
