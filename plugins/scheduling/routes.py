"""Every route the plugin serves, collected for ``tessera_routes``: HTML under
``/scheduling/``, JSON under ``/api/scheduling/``."""

from plugins.scheduling import (
    api,
    feeds,
    links,
    reports,
    screens,
    series_api,
    setup_api,
    setup_screens,
    waitlist_api,
)

ROUTES: list = [
    *setup_api.ROUTES,
    *api.ROUTES,
    *series_api.ROUTES,
    *waitlist_api.ROUTES,
    *screens.ROUTES,
    *setup_screens.ROUTES,
    *links.ROUTES,
    *feeds.ROUTES,
    *reports.ROUTES,
]
