"""htmx answers for screens, on litestar-htmx's reading of the request headers.

A screen answers an htmx request with the fragment it replaces and a plain request (a
link, a form post without JavaScript, a boosted link, a history restore) with the whole
page, so every screen works without JavaScript. After a change, htmx is told where to go
(``HX-Redirect``) and a plain form post gets a 303. A refused form goes back into a
dialog area of the screen (``HX-Retarget``) rather than over the screen.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.response import Redirect, Template
from litestar_htmx import ClientRedirect, HTMXDetails


def htmx_details(request: Request) -> HTMXDetails:
    """What the htmx client said about this request (target, trigger, current URL...)."""
    return HTMXDetails(request)


def is_htmx(request: Request) -> bool:
    """Any request sent by htmx (also boosted links and history restores)."""
    return bool(HTMXDetails(request))


def wants_fragment(request: Request, target: str | None = None) -> bool:
    """An htmx request for a fragment: boosted links and history restores want pages.
    With ``target``, only a request that swaps into the element with that id."""
    details = HTMXDetails(request)
    if not details or details.boosted or details.history_restore_request:
        return False
    return target is None or details.target == target


def render_fragment(request: Request, name: str, status_code: int = 200, **context: Any) -> Template:
    """A piece of a page (htmx swaps it in); forms in it still carry the CSRF field."""
    held = request.scope["state"].get("session")
    template = Template(
        template_name=name, context={"csrf_token": held[1].csrf_token if held else "", **context}
    )
    template.status_code = status_code
    return template


def go_to(request: Request, url: str) -> Response:
    """After a successful form: htmx follows ``HX-Redirect``, a plain form post a 303."""
    if wants_fragment(request):
        return ClientRedirect(url)
    return Redirect(url, status_code=303)


def retarget(request: Request, template: Template, target: str, swap: str = "innerHTML") -> Template:
    """Send an htmx answer into ``target`` (a CSS selector) instead of the element that
    asked; a plain request gets the template unchanged."""
    if wants_fragment(request):
        template.headers = {**(template.headers or {}), "HX-Retarget": target, "HX-Reswap": swap}
    return template
