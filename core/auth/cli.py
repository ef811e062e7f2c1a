"""``tessera users ...`` and ``tessera tokens ...``."""


def register(sub) -> None:
    """Add this module's command groups to the ``tessera`` parser."""
