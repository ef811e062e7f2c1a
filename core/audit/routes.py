"""HTTP routes of core.audit (HTML and JSON), collected by core's builtin plugin."""

ROUTES: list = []
