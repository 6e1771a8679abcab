"""Registered parts of an autoencoder. Importing this package registers every built-in part."""

from aekit.parts import backbones, bottlenecks, corruptions, likelihoods, regularizers
from aekit.parts.base import (
    BACKBONES,
    BOTTLENECKS,
    CORRUPTIONS,
    LIKELIHOODS,
    REGULARIZERS,
    Backbone,
    Bottleneck,
    BottleneckOutput,
    Corruption,
    Likelihood,
    PartSpec,
    Regularizer,
    RegularizerContext,
)

__all__ = [
    "BACKBONES",
    "BOTTLENECKS",
    "CORRUPTIONS",
    "LIKELIHOODS",
    "REGULARIZERS",
    "Backbone",
    "Bottleneck",
    "BottleneckOutput",
    "Corruption",
    "Likelihood",
    "PartSpec",
    "Regularizer",
    "RegularizerContext",
    "backbones",
    "bottlenecks",
    "corruptions",
    "likelihoods",
    "regularizers",
]
