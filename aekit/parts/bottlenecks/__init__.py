"""Bottlenecks (h -> z). Add one: a new file here with a registered :class:`~aekit.parts.base.Bottleneck`."""

from aekit.parts.bottlenecks.deterministic import DeterministicBottleneck

__all__ = ["DeterministicBottleneck"]
