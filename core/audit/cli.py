"""``tessera audit ...``."""


def register(sub) -> None:
    """Add this module's command groups to the ``tessera`` parser."""
