"""Data for aekit: load any source into a :class:`Dataset`, check it, and scale it.

    >>> from aekit.data import load_dataset, Scaler
    >>> data = load_dataset("digits")            # or "x.npy", "table.csv", "images/", an array...
    >>> scaler = Scaler("minmax").fit(data, indices=train_rows)
"""

from aekit.data.scalers import SCALER_KINDS, Scaler
from aekit.data.sources import (
    BUILTIN_DATASETS,
    COLOR_MODES,
    IMAGE_EXTENSIONS,
    Dataset,
    check_column_names,
    check_features,
    check_numeric_columns,
    load_dataset,
    validate_finite,
)

__all__ = [
    "BUILTIN_DATASETS",
    "COLOR_MODES",
    "IMAGE_EXTENSIONS",
    "SCALER_KINDS",
    "Dataset",
    "Scaler",
    "check_column_names",
    "check_features",
    "check_numeric_columns",
    "load_dataset",
    "validate_finite",
]
