"""Rendering what plugins add to core's screens: panels (chart, encounter), header items.

Each contribution comes from a robust hook (``core.plugins.failures``): a plugin that
raises is skipped and reported, and a panel whose template fails is shown as
unavailable, so one plugin never blanks the page or the other plugins' parts.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from markupsafe import Markup

from core.plugins.types import ChartPanel, HeaderItem
from core.web.accessors import csrf_token
from core.web.context import site_of

log = logging.getLogger("tessera.plugins")


async def contributions(request: Request, hook: str, **kwargs: Any) -> list[Any]:
    """The tenant's plugins' answers to a robust hook (``[]`` off a clinic's site)."""
    hooks = site_of(request).hooks
    if hooks is None:
        return []
    return await hooks.collect(hook, request=request, **kwargs)


def render_panels(request: Request, panels: list[ChartPanel], **context: Any) -> list[dict[str, Any]]:
    """Each panel rendered on its own, in ``order``: ``{"title", "html"}``, ``html`` None
    when its template failed (logged with the panel's title, no patient data)."""
    engine = request.app.template_engine
    rendered = []
    for panel in sorted(panels, key=lambda p: (p.order, p.title)):
        try:
            html = engine.get_template(panel.template).render(
                panel=panel, request=request, csrf_token=csrf_token(request), **context
            )
        except Exception as exc:
            log.error("panel %r could not be shown: %s", panel.title, type(exc).__name__)
            html = None
        # already escaped: rendered by the app's autoescaping Jinja environment
        rendered.append({"title": panel.title, "html": Markup(html) if html is not None else None})  # noqa: S704
    return rendered


async def header_items(request: Request, patient: Any) -> list[HeaderItem]:
    items = await contributions(request, "tessera_patient_header_items", patient=patient)
    return sorted((i for i in items if isinstance(i, HeaderItem)), key=lambda i: (i.order, i.text))
