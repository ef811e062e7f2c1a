"""``/my-work``: the signed-in user's open work from every plugin the clinic enabled
(``tessera_worklist_items``: notes to sign, co-signatures asked of them, tasks), grouped
by kind and sorted by when it is due."""

from __future__ import annotations

import datetime as dt
from itertools import groupby

from litestar import Request, get
from litestar.response import Template

from core.auth.guards import requires_login
from core.plugin_api import DbSession
from core.plugins.types import WorkItem
from core.web.accessors import request_principal
from core.web.extensions import contributions
from core.web.render import page


def _due_key(item: WorkItem) -> tuple[int, str]:
    due = item.due
    if isinstance(due, dt.datetime):
        return (0, due.astimezone(dt.UTC).isoformat())
    if isinstance(due, dt.date):
        return (0, due.isoformat())
    return (1, "")


@get("/my-work", name="core:my-work", guards=[requires_login], include_in_schema=False)
async def my_work(request: Request, db_session: DbSession) -> Template:
    items = await contributions(
        request, "tessera_worklist_items", principal=request_principal(request), session=db_session
    )
    # what the plugins recorded (an audit event for entries that show patient data) is kept
    await db_session.commit()
    work = sorted(
        (i for i in items if isinstance(i, WorkItem)), key=lambda i: (i.kind, *_due_key(i), i.title)
    )
    groups = [(kind, list(entries)) for kind, entries in groupby(work, key=lambda i: i.kind)]
    return await page(request, "core/my_work.html", page_title="My work", groups=groups)


ROUTES: list = [my_work]
