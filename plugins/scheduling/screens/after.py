"""After a change: back to the screen it came from, or a refused form into its dialog."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from litestar import Request, Response
from litestar.response import Redirect, Template

from core.plugin_api import retarget, wants_fragment
from plugins.scheduling.screens.calendar import CalendarState, _render_calendar
from plugins.scheduling.screens.today import _render_today
from plugins.scheduling.screens.waitlist import _render_waitlist


async def _screen_after(
    request: Request, session, back: str, *, notice: str | None = None, warnings=(), error: str | None = None
) -> Response:
    """The screen ``back`` names (calendar, today or waitlist), re-rendered with a notice
    for htmx, or a 303 to it for a plain form post."""
    if not wants_fragment(request):
        return Redirect(back, status_code=303)
    parts = urlsplit(back)
    params = dict(parse_qsl(parts.query))
    extra = {"notice": notice, "warnings": list(warnings), "error": error}
    if parts.path == "/scheduling/today":
        return await _render_today(request, session, params, fragment=True, **extra)
    if parts.path == "/scheduling/waitlist":
        return await _render_waitlist(request, session, fragment=True, **extra)
    return await _render_calendar(request, session, CalendarState.from_query(params), fragment=True, **extra)


def _dialog_target(back: str) -> str:
    path = urlsplit(back).path
    if path == "/scheduling/today":
        return "#today-dialog"
    if path == "/scheduling/waitlist":
        return "#waitlist-dialog"
    return "#calendar-dialog"


def _refused(request: Request, back: str, template: Template) -> Template:
    """A refused form goes back into the screen's dialog area, not over the screen."""
    return retarget(request, template, _dialog_target(back))
