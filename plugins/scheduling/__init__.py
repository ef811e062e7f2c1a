"""Scheduling: appointment types, availability, rooms, conflict-free booking, recurring
series, the calendar, the waitlist, reminders and iCalendar feeds.

Shaped exactly like a third-party plugin: Tessera loads this module through the
``tessera.plugins`` entry point ``scheduling``; it exposes ``manifest``, the hook
implementations, and ``tessera_hookspecs`` (the hooks this plugin publishes for others).
"""

from plugins.scheduling import hookspecs as tessera_hookspecs
from plugins.scheduling.hooks import *  # noqa: F403 - the hook implementations
from plugins.scheduling.hooks import __all__ as _hooks
from plugins.scheduling.manifest import manifest

__all__ = ["manifest", "tessera_hookspecs", *_hooks]
