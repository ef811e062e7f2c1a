"""Every route the plugin serves, collected for ``tessera_routes``."""

ROUTES: list = []
