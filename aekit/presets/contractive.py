"""The contractive autoencoder (Rifai et al., 2011): codes that change little when the input moves slightly."""

from aekit.parts import PartSpec
from aekit.presets import PRESETS, Preset


@PRESETS.register("contractive")
def contractive() -> Preset:
    # The paper's encoder, one sigmoid layer, for which the Jacobian penalty has a closed form; deeper
    # hidden_dims switch to exact autograd or a random-projection estimate automatically.
    return Preset("Contractive autoencoder: a penalty on the encoder Jacobian's Frobenius norm (option weight).",
                  backbone=PartSpec("dense", {"hidden_dims": ()}),
                  bottleneck=PartSpec("deterministic", {"code_activation": "sigmoid"}),
                  regularizers=(PartSpec("contractive"),))
