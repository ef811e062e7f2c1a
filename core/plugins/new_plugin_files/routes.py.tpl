"""HTTP: the page and the JSON API. Tessera mounts these once and answers 404 on the site
of a clinic that has not enabled the plugin; every query runs in the request's tenant
scope through ``db_session``; every route declares the permission it needs."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from litestar import Request, get, post
from litestar.exceptions import ClientException
from litestar.params import JSONBody
from litestar.response import Template
from sqlalchemy import select

from core.plugin_api import DbSession, page, requires
from {{name}}.models import MAX_TEXT, Item

READ = requires("{{name}}:items", "read")
WRITE = requires("{{name}}:items", "write")


@dataclass
class ItemIn:
    text: str


@dataclass
class ItemOut:
    id: uuid.UUID
    text: str
    created_at: dt.datetime


async def _items(db_session) -> list[Item]:
    return list(await db_session.scalars(select(Item).order_by(Item.id.desc())))


@get("/{{dash}}", name="{{name}}:page", include_in_schema=False, guards=[READ])
async def items_page(request: Request, db_session: DbSession) -> Template:
    return await page(request, "{{name}}/page.html", page_title="{{title}}", items=await _items(db_session))


@get("/api/{{dash}}/items", name="{{name}}:api-list", guards=[READ])
async def list_items(db_session: DbSession) -> list[ItemOut]:
    """The clinic's items, newest first."""
    return [ItemOut(id=i.id, text=i.text, created_at=i.created_at) for i in await _items(db_session)]


@post("/api/{{dash}}/items", name="{{name}}:api-add", guards=[WRITE])
async def add_item(data: JSONBody[ItemIn], db_session: DbSession) -> ItemOut:
    """Add an item (201); an empty or too long text is a 400 saying what to change."""
    text = (data.text or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise ClientException(detail=f"text: write 1 to {MAX_TEXT} characters")
    item = Item(text=text)
    db_session.add(item)
    await db_session.flush()
    out = ItemOut(id=item.id, text=item.text, created_at=item.created_at)
    await db_session.commit()
    return out


ROUTES = [items_page, list_items, add_item]
