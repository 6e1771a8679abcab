"""Penalties on the code or the encoder. Add one: a new file here with a registered
:class:`~aekit.parts.base.Regularizer` whose ``Config`` has a ``weight`` field."""

__all__: list[str] = []
