from __future__ import annotations

import asyncio
from pathlib import Path

from litestar import Request, get, post
from litestar.params import JSONBody
from litestar.response import Template
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.plugin_api import DbSession, requires, requires_login, tenant_job
from core.plugins.markers import hookimpl
from core.plugins.types import ChartPanel, EncounterType, NavItem, Permission, Role
from core.web.render import page
from tests.sample_plugin.models import Note, Notebook

HERE = Path(__file__).parent


async def default_notebook(session: AsyncSession) -> Notebook:
    notebook = await session.scalar(select(Notebook).where(Notebook.title == "Default"))
    if notebook is None:
        notebook = Notebook(title="Default")
        session.add(notebook)
        await session.flush()
    return notebook


READ_NOTES = requires("sample:notes", "read")
WRITE_NOTES = requires("sample:notes", "write")


@get("/sample/notes", name="sample:notes", guards=[READ_NOTES])
async def notes_page(request: Request, db_session: DbSession) -> Template:
    notes = list(await db_session.scalars(select(Note).order_by(Note.id)))
    return await page(request, "sample/notes.html", notes=notes)


@get("/api/sample/notes", name="sample:api-notes", guards=[READ_NOTES])
async def list_notes(db_session: DbSession) -> list[dict]:
    notes = await db_session.scalars(select(Note).order_by(Note.id))
    return [{"id": str(n.id), "body": n.body} for n in notes]


@post("/api/sample/notes", name="sample:api-create-note", guards=[WRITE_NOTES])
async def create_note(data: JSONBody[dict], db_session: DbSession) -> dict:
    body = str(data.get("body", "")).strip()
    if not body:
        from litestar.exceptions import ClientException

        raise ClientException("a note needs a body")
    notebook = await default_notebook(db_session)
    note = Note(notebook_id=notebook.id, body=body)
    db_session.add(note)
    await db_session.commit()
    return {"id": str(note.id), "body": note.body}


@post("/sample/notes", name="sample:add-note", guards=[WRITE_NOTES], status_code=200)
async def add_note_from_form(request: Request, db_session: DbSession) -> Template:
    """The htmx form's target: adds a note, answers the refreshed list fragment."""
    form = await request.form()
    body = str(form.get("body", "")).strip()
    error = None
    if body:
        notebook = await default_notebook(db_session)
        db_session.add(Note(notebook_id=notebook.id, body=body))
        await db_session.commit()
    else:
        error = "A note needs some text."
    notes = list(await db_session.scalars(select(Note).order_by(Note.id)))
    return Template(
        template_name="sample/_notes.html",
        context={"notes": notes, "error": error},
        status_code=200 if error is None else 400,
    )


@get("/api/sample/boom", name="sample:boom", guards=[READ_NOTES])
async def boom() -> dict:
    # An unexpected failure whose message carries patient data: it must not reach the
    # response or the log.
    raise RuntimeError("patient Jane Q. Example, DOB 1970-01-01")


@get("/api/sample/whoami", name="sample:whoami", guards=[requires_login])
async def whoami(request: Request) -> dict:
    principal = request.scope["state"]["principal"]
    return {"email": principal.email, "roles": sorted(principal.roles), "via": principal.via}


@get(
    "/sample/sealed", name="sample:sealed", guards=[requires("sample:sealed", "read")], media_type="text/html"
)
async def sealed_page() -> str:
    """A breakable record no default role may read: emergency access opens it."""
    return "<!doctype html><title>Sealed</title><p>sealed record</p>"


@get("/api/sample/sealed", name="sample:api-sealed", guards=[requires("sample:sealed", "read")])
async def sealed_api() -> dict:
    return {"record": "sealed"}


@hookimpl
def tessera_routes():
    return [notes_page, add_note_from_form, list_notes, create_note, boom, whoami, sealed_page, sealed_api]


@hookimpl
def tessera_migration_dirs():
    return [HERE / "migrations"]


@hookimpl
def tessera_template_dirs():
    return [HERE / "templates"]


@hookimpl
def tessera_static_dirs():
    return [HERE / "static" / "sample"]


@hookimpl
def tessera_roles():
    return [Role("sample_reviewer", "Notes reviewer", "Reads notes", grants={"sample:notes": ("read",)})]


@hookimpl
def tessera_encounter_types():
    return [EncounterType("sample-check", "Notebook check")]


@hookimpl
def tessera_permissions():
    return [
        Permission(
            "sample:notes",
            ("read", "write"),
            "Read and write notes",
            default_grants={"clinician": ("read", "write")},
            breakable=True,
        ),
        Permission(
            "sample:sealed",
            ("read", "write"),
            "A restricted record (tests of emergency access)",
            breakable=True,
        ),
    ]


@hookimpl
def tessera_navigation(request):
    return [NavItem(label="Notes", href="/sample/notes", order=50, permission="sample:notes")]


@hookimpl
async def tessera_chart_panels(patient, request):
    return [ChartPanel(title="Notes", template="sample/panel.html", context={"count": 0})]


@hookimpl
async def tessera_tenant_plugin_enabled(tenant_id, session, config):
    await default_notebook(session)


@hookimpl
def tessera_tenant_plugin_disabled(tenant_id, session):
    return None


@hookimpl
async def tessera_demo_data(tenant, session):
    notebook = await default_notebook(session)
    count = await session.scalar(select(func.count()).select_from(Note))
    if not count:
        session.add(Note(notebook_id=notebook.id, body=f"Welcome to {tenant.name}"))


@tenant_job("sample.add_note", timeout=None)
async def add_note(
    ctx, session, *, body: str, sleep: float = 0, signal_key: str | None = None, fail: bool = False
):
    """Add a note to the tenant's default notebook; return the bodies of the notes it sees.

    Carries tenant_id (the wrapper runs it in that tenant's scope), is idempotent and
    survives a retry: its only effect is a database write, which the wrapper commits together
    with marking the outbox row done. Test knobs: ``signal_key`` is a Redis counter bumped
    when the body starts, ``sleep`` holds the job open (to kill its worker), ``fail`` raises.
    """
    if signal_key:
        await ctx["redis"].incr(signal_key)
    if sleep:
        await asyncio.sleep(sleep)
    if fail:
        raise ValueError(f"cannot file note {body!r}")  # a message with data; must not be stored
    notebook = await default_notebook(session)
    session.add(Note(notebook_id=notebook.id, body=body))
    await session.flush()
    return sorted(await session.scalars(select(Note.body)))


@hookimpl
def tessera_jobs():
    return [add_note]
