"""Penalties on the code or the encoder. Add one: a new file here with a registered
:class:`~aekit.parts.base.Regularizer` whose ``Config`` has a ``weight`` field."""

import importlib
import pkgutil

# every module in this folder registers its parts on import: a new variant is one new file
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
