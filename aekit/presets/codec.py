"""Learned codecs: an analysis transform, a quantizing bottleneck with a learned entropy model, a synthesis
transform (``aekit.compression`` writes their codes to ``.aez`` files)."""

from aekit.parts import PartSpec
from aekit.presets import PRESETS, Preset


@PRESETS.register("codec")
def codec() -> Preset:
    # Three stride-2 stages take a 16x16 tile to 2x2; 128 channels there are what a few-MB shipped codec affords.
    # Tiles are in [0, 1], so without a gain the fresh code spans a fraction of one quantization step and the
    # training noise drowns it (see FactorizedBottleneck.code_gain): on 2,000 steps of grayscale tiles a gain of
    # 10 reconstructs held-out tiles 1.5 dB better than a gain of 1 (27.8 against 26.3 dB).
    return Preset("Learned image codec: conv transforms, rounded code, factorized entropy model (rate in bits).",
                  backbone=PartSpec("conv", {"hidden_dims": (32, 64, 128), "activation": "leaky_relu"}),
                  bottleneck=PartSpec("factorized", {"code_gain": 10.0}))


# The dense codec's rows are min-max scaled to [0, 1]: without a gain its fresh code spans a fraction of one
# quantization step and short trainings collapse to an empty code (see FactorizedBottleneck.code_gain).
@PRESETS.register("codec-dense")
def codec_dense() -> Preset:
    return Preset("Learned codec for table rows and flat arrays: MLP transforms, rounded code, factorized "
                  "entropy model.",
                  backbone=PartSpec("dense", {"hidden_dims": (256, 128), "skip": True}),
                  bottleneck=PartSpec("factorized", {"code_gain": 10.0}))


# The linear block codec: no hidden layers, so the encoder is one matrix and the decoder another. Trained with
# train_codec(transform="pca") they are the principal components of the tiles (the Karhunen-Loeve transform,
# the squared-error-optimal linear autoencoder) scaled to the quality's quantization step, and training fits the
# entropy model. On 8x8 tiles this took the shipped RGB codec from 24.6 dB at 1.3 bpp to 33.3 dB at 3.0 bpp on
# china.jpg; see benchmarks/results/compression_images.md.
@PRESETS.register("codec-linear")
def codec_linear() -> Preset:
    return Preset("Linear block codec: one matrix each way (the tiles' principal components with "
                  "transform='pca'), rounded code, factorized entropy model.",
                  backbone=PartSpec("dense", {"hidden_dims": (), "skip": False}),
                  bottleneck=PartSpec("factorized", {"code_gain": 1.0}))
