"""HTTP routes of core.auth (HTML and JSON), collected by core's builtin plugin."""

ROUTES: list = []
