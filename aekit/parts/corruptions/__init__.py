"""Training-time input corruptions and degradations. Add one: a new file here with a registered
:class:`~aekit.parts.base.Corruption`."""

__all__: list[str] = []
