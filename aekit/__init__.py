"""aekit: autoencoders for every job, with scikit-learn, PyTorch and command-line faces.

Start with :class:`AutoEncoder` (scikit-learn estimator) or :class:`Autoencoder` (``torch.nn.Module``).
"""

import logging as _logging

from aekit._version import __version__
from aekit.anomaly import AnomalyDetector
from aekit.cluster import LatentClustering
from aekit.estimator import AutoEncoder
from aekit.io import load_model, save_model
from aekit.model import Autoencoder, AutoencoderConfig, AutoencoderOutput
from aekit.parts import PartSpec
from aekit.presets import build_config, list_models

# A library's loggers stay quiet unless the application configures logging (the CLI does): aekit's warnings
# reach users through the warnings module, and Python's last-resort handler would print each a second time.
_logging.getLogger("aekit").addHandler(_logging.NullHandler())

__all__ = [
    "AnomalyDetector",
    "AutoEncoder",
    "Autoencoder",
    "AutoencoderConfig",
    "AutoencoderOutput",
    "LatentClustering",
    "PartSpec",
    "__version__",
    "build_config",
    "list_models",
    "load_model",
    "save_model",
]
