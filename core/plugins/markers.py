"""The pluggy markers of the ``tessera`` project."""

import pluggy

PROJECT = "tessera"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
