"""What plugins add to notes and take from them: templates (``tessera_note_templates``,
checked at boot, a version in use never changed) and the durable events of signing
(``core.note_signed``, ``core.services_ready_to_bill``) consumed by another plugin."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import text

from core.app import build_registry, create_app
from core.lifecycle.plugins import enable_plugin
from core.plugin_api import (
    NOTE_SIGNED,
    SERVICES_READY_TO_BILL,
    EventConsumer,
    Manifest,
    NoteTemplate,
    Permission,
    content_sha256,
    hookimpl,
)
from core.plugins.events import deliver_event, fan_out_event
from core.plugins.registry import PluginError, PluginRegistry
from tests.test_encounters_api import client_with_role, make_clinic
from tests.test_notes_api import line, note_body

DAILY_V1 = NoteTemplate(
    key="physio.daily",
    version=1,
    title="Daily note",
    schema={
        "type": "object",
        "properties": {"pain": {"type": "integer", "minimum": 0, "maximum": 10}, "notes": {"type": "string"}},
        "required": ["pain"],
        "additionalProperties": False,
    },
    permission="physio:notes",
    billable=True,
)


class Physio:
    """A specialty plugin: two versions of its daily note, written with its own permission
    (granted to the owner only, so a clinician holding ``core:notes`` cannot write them)."""

    manifest = Manifest(name="physio", version="1.0", title="Physio")

    def __init__(self, templates=None):
        self.templates = (
            templates
            if templates is not None
            else [DAILY_V1, dataclasses.replace(DAILY_V1, version=2, title="Daily note (2)")]
        )

    @hookimpl
    def tessera_permissions(self):
        return [
            Permission(
                "physio:notes",
                ("read", "write"),
                "Physio notes",
            )
        ]

    @hookimpl
    def tessera_note_templates(self):
        return self.templates


class Biller:
    """Consumes what signing publishes."""

    manifest = Manifest(name="biller", version="1.0", title="Biller")

    def __init__(self):
        self.heard: list[tuple[str, dict]] = []

    async def on_signed(self, session, payload):
        self.heard.append((NOTE_SIGNED, payload))

    async def on_services(self, session, payload):
        self.heard.append((SERVICES_READY_TO_BILL, payload))

    @hookimpl
    def tessera_event_consumers(self):
        return [
            EventConsumer(NOTE_SIGNED, self.on_signed),
            EventConsumer(SERVICES_READY_TO_BILL, self.on_services),
        ]


def _load(*plugins) -> PluginRegistry:
    registry = PluginRegistry()
    registry.load(objects=list(plugins), use_entry_points=False)
    return registry


async def test_hook_tessera_note_templates(settings, db, make_tenant, make_user, owner_engine):
    physio = Physio()
    registry = build_registry(settings, extra_plugins=[physio])
    templates = registry.note_templates()
    assert {("core.progress_note", 1), ("physio.daily", 1), ("physio.daily", 2)} <= set(templates)

    app = create_app(settings, registry=registry)
    clinic = await make_clinic(db, make_tenant, make_user, owner_engine)
    async with db.session() as session:
        await enable_plugin(session, registry, clinic.tenant, "physio")
        await session.commit()
    async with await client_with_role(app, db, make_user, clinic.tenant, "clinician") as client:
        refused = await client.post(
            "/api/notes", json=note_body(clinic, template="physio.daily", content={"pain": 3})
        )
        assert refused.status_code == 403 and "Daily note" in refused.json()["detail"]
    async with await client_with_role(app, db, make_user, clinic.tenant, "owner") as client:
        newest = await client.post(
            "/api/notes", json=note_body(clinic, template="physio.daily", content={"pain": 3})
        )
        assert newest.status_code == 201, newest.text
        assert newest.json()["template"] == {"key": "physio.daily", "version": 2, "title": "Daily note (2)"}
        older = await client.post(
            "/api/notes",
            json=note_body(clinic, template="physio.daily", template_version=1, content={"pain": 3}),
        )
        assert older.status_code == 201 and older.json()["template"]["version"] == 1
        bad = await client.post(
            "/api/notes", json=note_body(clinic, template="physio.daily", content={"pain": 11})
        )
        assert bad.status_code == 422 and "content.pain" in {
            e["field"] for e in bad.json()["extra"]["errors"]
        }
        owner_headers = dict(client.headers)

    # the plugin changes version 1 in place: a note started on it is neither saved nor signed
    changed = dataclasses.replace(DAILY_V1, schema={**DAILY_V1.schema, "required": []})
    physio.templates = [changed, dataclasses.replace(DAILY_V1, version=2, title="Daily note (2)")]
    app2 = create_app(settings, registry=build_registry(settings, extra_plugins=[physio]))
    async with await client_with_role(app2, db, make_user, clinic.tenant, "owner") as client:
        client.headers.update(owner_headers)  # the note's author
        note = older.json()
        saved = await client.patch(f"/api/notes/{note['id']}", json={"version": 1, "content": {"pain": 2}})
        assert saved.status_code == 409 and "must not change" in saved.json()["detail"]
        signed = await client.post(f"/api/notes/{note['id']}/sign")
        assert signed.status_code == 409


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        (dataclasses.replace(DAILY_V1, key="other.daily"), "name it 'physio.<name>'"),
        (dataclasses.replace(DAILY_V1, version=0), "1 or more"),
        (dataclasses.replace(DAILY_V1, schema={"type": "objekt"}), "invalid schema"),
        (dataclasses.replace(DAILY_V1, permission="physio:unknown"), "permission 'physio:unknown'"),
    ],
)
def test_bad_templates_stop_the_boot_naming_the_plugin(template, complaint):
    with pytest.raises(PluginError, match="plugin 'physio'") as caught:
        _load(Physio([template])).note_templates()
    assert complaint in str(caught.value)


def test_a_template_version_is_defined_once():
    with pytest.raises(PluginError, match="defined twice"):
        _load(Physio([DAILY_V1, DAILY_V1])).note_templates()


def test_the_fingerprint_changes_with_the_definition():
    assert DAILY_V1.fingerprint == dataclasses.replace(DAILY_V1, title="Renamed").fingerprint
    assert DAILY_V1.fingerprint != dataclasses.replace(DAILY_V1, billable=False).fingerprint
    assert DAILY_V1.fingerprint == content_sha256(
        {
            "key": "physio.daily",
            "version": 1,
            "schema": DAILY_V1.schema,
            "permission": "physio:notes",
            "billable": True,
        }
    )


async def outbox(owner_engine, tenant_id, job):
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id, kwargs FROM core_outbox WHERE tenant_id = :t AND job = :j ORDER BY created_at"),
            {"t": tenant_id, "j": job},
        )
        return [dict(r._mapping) for r in rows]


async def test_signing_publishes_events_a_billing_plugin_consumes(
    settings, db, make_tenant, make_user, owner_engine
):
    biller = Biller()
    registry = build_registry(settings, extra_plugins=[biller])
    app = create_app(settings, registry=registry)
    clinic = await make_clinic(db, make_tenant, make_user, owner_engine)
    async with db.session() as session:
        await enable_plugin(session, registry, clinic.tenant, "biller")
        await session.commit()
    async with await client_with_role(app, db, make_user, clinic.tenant, "clinician") as client:
        note = (await client.post("/api/notes", json=note_body(clinic, service_lines=[line(clinic)]))).json()
        assert (
            await outbox(owner_engine, clinic.tenant.id, "core.fan_out_event") == []
        )  # a draft says nothing
        signed = await client.post(f"/api/notes/{note['id']}/sign")
        assert signed.status_code == 200
        plain = (await client.post("/api/notes", json=note_body(clinic))).json()
        assert (await client.post(f"/api/notes/{plain['id']}/sign")).status_code == 200

    published = await outbox(owner_engine, clinic.tenant.id, "core.fan_out_event")
    assert [e["kwargs"]["event"] for e in published] == [NOTE_SIGNED, SERVICES_READY_TO_BILL, NOTE_SIGNED]
    ctx = {"db": db, "settings": settings, "registry": registry, "job_try": 1}
    for entry in published:
        kwargs = {"tenant_id": str(clinic.tenant.id), "outbox_id": str(entry["id"]), **entry["kwargs"]}
        assert await fan_out_event.coroutine(ctx, **kwargs) == 1
    for entry in await outbox(owner_engine, clinic.tenant.id, "core.deliver_event"):
        kwargs = {"tenant_id": str(clinic.tenant.id), "outbox_id": str(entry["id"]), **entry["kwargs"]}
        assert await deliver_event.coroutine(ctx, **kwargs) is True

    heard = dict((event, payload) for event, payload in biller.heard if payload["note_id"] == note["id"])
    assert heard[NOTE_SIGNED]["content_sha256"] == signed.json()["content_sha256"]
    assert heard[NOTE_SIGNED]["patient_id"] == str(clinic.patient_id)
    assert heard[SERVICES_READY_TO_BILL]["lines"] == [{**line(clinic), "minutes": None}]
    assert [e for e, p in biller.heard if p["note_id"] == plain["id"]] == [NOTE_SIGNED]  # no lines, no bill
    assert all("content" not in p for _, p in biller.heard)  # ids and codes travel, not the note
