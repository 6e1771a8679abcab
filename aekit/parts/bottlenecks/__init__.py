"""Bottlenecks (h -> z). Add one: a new file here with a registered :class:`~aekit.parts.base.Bottleneck`."""

import importlib
import pkgutil

# every module in this folder registers its parts on import: a new variant is one new file
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
