"""HTTP routes of core.authz (HTML and JSON), collected by core's builtin plugin."""

ROUTES: list = []
