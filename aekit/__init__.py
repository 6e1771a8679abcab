"""aekit: autoencoders for every job, with scikit-learn, PyTorch and command-line faces.

Start with :class:`AutoEncoder` (scikit-learn estimator) or :class:`Autoencoder` (``torch.nn.Module``).
"""

from aekit._version import __version__
from aekit.anomaly import AnomalyDetector  # noqa: F401 - public, like everything imported here
from aekit.estimator import AutoEncoder
from aekit.io import load_model, save_model
from aekit.model import Autoencoder, AutoencoderConfig, AutoencoderOutput
from aekit.parts import PartSpec
from aekit.presets import build_config, list_models

__all__ = [
    "AutoEncoder",
    "Autoencoder",
    "AutoencoderConfig",
    "AutoencoderOutput",
    "PartSpec",
    "__version__",
    "build_config",
    "list_models",
    "load_model",
    "save_model",
]
