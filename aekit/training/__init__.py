"""Training: the loop (:class:`Trainer`), batch sources and data-parallel plumbing."""

from aekit.training.sources import BatchSource, StreamingSource, TensorSource, make_source
from aekit.training.trainer import FitResult, Trainer, TrainerConfig, TrainingError, resolve_device

__all__ = ["BatchSource", "FitResult", "StreamingSource", "TensorSource", "Trainer", "TrainerConfig",
           "TrainingError", "make_source", "resolve_device"]
