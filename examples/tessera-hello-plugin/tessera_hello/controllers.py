"""HTTP: the greetings page with its htmx form, and the JSON API.

Tessera mounts these only once and answers 404 on the site of any tenant that has not
enabled the plugin, so the handlers never check that themselves. Every query runs in
the request's tenant scope through ``db_session``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from litestar import Request, get, post
from litestar.exceptions import ClientException
from litestar.response import Template

from core.plugin_api import DbSession, page, plugin_config, requires
from tessera_hello.models import MAX_GREETING_LENGTH, Greeting
from tessera_hello.services import (
    DEFAULT_SALUTATION,
    GreetingError,
    add_greeting,
    list_greetings,
)

LIST_FRAGMENT = "hello/_greetings.html"
#: every route declares the permission it needs (see ``tessera_permissions`` in hooks.py)
READ = requires("hello:greetings", "read")
WRITE = requires("hello:greetings", "write")


@dataclass
class GreetingIn:
    text: str


@dataclass
class GreetingOut:
    id: uuid.UUID
    text: str
    created_at: dt.datetime

    @classmethod
    def of(cls, greeting: Greeting) -> GreetingOut:
        return cls(id=greeting.id, text=greeting.text, created_at=greeting.created_at)


@get("/hello", name="hello:page", include_in_schema=False, guards=[READ])
async def greetings_page(request: Request, db_session: DbSession) -> Template:
    return await page(
        request,
        "hello/page.html",
        page_title="Greetings",
        salutation=plugin_config(request, "hello").get("salutation") or DEFAULT_SALUTATION,
        greetings=await list_greetings(db_session),
        max_length=MAX_GREETING_LENGTH,
        error=None,
    )


@post("/hello/greetings", name="hello:add", status_code=200, include_in_schema=False, guards=[WRITE])
async def add_greeting_from_form(request: Request, db_session: DbSession) -> Template:
    """The htmx form's target: answers the refreshed list fragment (400 with the reason)."""
    form = await request.form()
    try:
        await add_greeting(db_session, form.get("text"))
    except GreetingError as exc:
        return Template(
            template_name=LIST_FRAGMENT,
            context={"greetings": await list_greetings(db_session), "error": str(exc)},
            status_code=400,
        )
    await db_session.commit()
    return Template(
        template_name=LIST_FRAGMENT,
        context={"greetings": await list_greetings(db_session), "error": None},
    )


@get("/api/hello/greetings", name="hello:api-list", guards=[READ])
async def list_greetings_api(db_session: DbSession) -> list[GreetingOut]:
    """The current clinic's greetings, newest first."""
    return [GreetingOut.of(g) for g in await list_greetings(db_session)]


@post("/api/hello/greetings", name="hello:api-add", guards=[WRITE])
async def add_greeting_api(data: GreetingIn, db_session: DbSession) -> GreetingOut:
    """Add a greeting (1 to 200 characters) for the current clinic."""
    try:
        greeting = await add_greeting(db_session, data.text)
    except GreetingError as exc:
        raise ClientException(detail=str(exc)) from None
    await db_session.commit()
    return GreetingOut.of(greeting)


ROUTES = [greetings_page, add_greeting_from_form, list_greetings_api, add_greeting_api]
