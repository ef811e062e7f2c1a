"""The hook machinery: optional collaboration, robust calls, async installation hooks,
first answers and ordering, and plugins that are broken at boot."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import types
import uuid
from pathlib import Path

import pytest
from arq.worker import Retry
from litestar.exceptions import ClientException
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text

from core.app import build_registry, create_app
from core.auth.models import PlatformOperator as Operator
from core.auth.models import User as UserRow
from core.auth.sessions import COOKIE_NAME
from core.encounters.models import Encounter
from core.jobs.models import OutboxEntry
from core.lifecycle.plugins import enable_plugin
from core.lifecycle.registry import get_tenant
from core.plugins.events import EventConsumer, deliver_event, fan_out_event, publish_event
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl, hookspec
from core.plugins.registry import PluginError, PluginRegistry
from core.plugins.types import NavItem, Permission
from core.tenancy import tenant_scope
from tests.sample_plugin.hooks import default_notebook
from tests.sample_plugin.models import Note
from tests.test_encounters_api import make_clinic

ROOT = Path(__file__).resolve().parent.parent


def load(*plugins, strict=True) -> PluginRegistry:
    registry = PluginRegistry()
    registry.load(objects=plugins, use_entry_points=False, strict=strict)
    return registry


# -- a publisher and a plugin that answers its hook without requiring it -----------------


def _publisher_specs() -> types.ModuleType:
    module = types.ModuleType("pub_hookspecs")

    @hookspec
    def tessera_pub_offer(request):
        """What a plugin offers on the publisher's page.

        :param request: the request.
        """

    @hookspec(firstresult=True)
    def tessera_pub_price(item):
        """The one price of an item: the first plugin that knows it answers.

        :param item: the item.
        """

    module.tessera_pub_offer = tessera_pub_offer
    module.tessera_pub_price = tessera_pub_price
    return module


class Publisher:
    def __init__(self):
        self.manifest = Manifest(name="pub", version="1.0", title="Publisher")
        self.tessera_hookspecs = _publisher_specs()


class Answerer:
    """Implements the publisher's hook without listing it in ``requires``."""

    def __init__(self, name="ans", price=None, **marks):
        self.manifest = Manifest(name=name, version="1.0", title=name.title())
        self.price = price

    @hookimpl(optionalhook=True)
    def tessera_pub_offer(self, request):
        return [f"offer from {self.manifest.name}"]

    @hookimpl(optionalhook=True)
    def tessera_pub_price(self, item):
        return self.price


async def test_an_optional_hook_is_called_only_where_its_publisher_is_installed_and_enabled():
    # publisher absent: the answering plugin loads (strictly) and nothing calls it
    alone = load(Answerer())
    assert "ans" in alone.plugins and not alone.broken
    assert await alone.for_tenant({"ans"}).collect("tessera_pub_offer", request=None) == []

    both = load(Publisher(), Answerer())
    # publisher installed and enabled for the tenant: the answer arrives
    assert await both.for_tenant({"pub", "ans"}).collect("tessera_pub_offer", request=None) == [
        "offer from ans"
    ]
    # publisher installed but not enabled for this tenant: not called
    assert await both.for_tenant({"ans"}).collect("tessera_pub_offer", request=None) == []
    # the answering plugin not enabled: not called either
    assert await both.for_tenant({"pub"}).collect("tessera_pub_offer", request=None) == []


def test_optional_marks_do_not_hide_misspellings():
    class MisspeltCore:
        manifest = Manifest(name="typo", version="1.0", title="Typo")

        @hookimpl(optionalhook=True)
        def tessera_navigaton(self, request):  # the typo is the point
            return []

    with pytest.raises(PluginError, match=r"misspelling of the kernel's hook .*'tessera_navigation'"):
        load(MisspeltCore())

    class MisspeltPublished:
        manifest = Manifest(name="typo2", version="1.0", title="Typo")

        @hookimpl(optionalhook=True)
        def tessera_pub_ofer(self, request):
            return []

    with pytest.raises(PluginError, match="plugin 'pub' publishes no such hook"):
        load(Publisher(), MisspeltPublished())

    class Unmarked:
        manifest = Manifest(name="unmarked", version="1.0", title="Unmarked")

        @hookimpl
        def tessera_absent_thing(self):
            return []

    with pytest.raises(PluginError, match="optionalhook=True"):
        load(Unmarked())


async def test_first_answer_wins_and_tryfirst_trylast_order_the_calls():
    class Late(Answerer):
        @hookimpl(optionalhook=True, trylast=True)
        def tessera_pub_price(self, item):
            return self.price

    class Early(Answerer):
        @hookimpl(optionalhook=True, tryfirst=True)
        async def tessera_pub_price(self, item):  # awaited like any hook
            return self.price

    registry = load(
        Publisher(), Early("early", price=None), Answerer("middle", price=7), Late("late", price=9)
    )
    hooks = registry.for_tenant({"pub", "early", "middle", "late"})
    order = [plugin for plugin, _ in hooks.implementations("tessera_pub_price")]
    assert order[0] == "early" and order[-1] == "late"
    # the early one has no answer (None), so the next one's answer is the answer
    assert await hooks.first("tessera_pub_price", item="x") == 7
    assert await hooks.collect("tessera_pub_price", item="x") == [7]
    assert await registry.for_tenant({"pub", "late"}).first("tessera_pub_price", item="x") == 9
    assert await registry.for_tenant({"pub"}).first("tessera_pub_price", item="x") is None


# -- async installation hooks ---------------------------------------------------------------


class AsyncInstaller:
    manifest = Manifest(name="asyncer", version="1.0", title="Async")

    @hookimpl
    async def tessera_permissions(self):
        return [Permission("asyncer:things", ("read",), "Things", default_grants={"clinician": ("read",)})]

    @hookimpl
    async def tessera_routes(self):
        return []

    @hookimpl
    async def tessera_jobs(self):
        return []


async def test_async_installation_hooks_are_awaited_at_boot(settings):
    """``async def tessera_permissions`` used to break boot (a coroutine has no ``object``)."""
    registry = build_registry(settings, extra_plugins=[AsyncInstaller()])
    assert not registry.broken
    assert "asyncer:things" in {p.object for p in registry.permissions()}
    app = create_app(settings, registry=registry)  # inside a running event loop
    assert "asyncer:things" in {p.object for p in app.state.permissions}
    from core.jobs.worker import collect_jobs

    assert "core.deliver_event" in {f.name for f in collect_jobs(registry)}


class Lines(logging.Handler):
    """The formatted lines a logger emitted (the app's logging may not propagate to caplog)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


# -- robust calls ----------------------------------------------------------------------------


class Broken:
    """Raises in every contribution hook; its message carries patient data on purpose."""

    manifest = Manifest(name="broken", version="1.0", title="Broken")

    @hookimpl
    def tessera_navigation(self, request):
        raise RuntimeError("patient Jane Q. Example")

    @hookimpl
    async def tessera_chart_panels(self, patient, request):
        raise KeyError("Jane Q. Example")

    @hookimpl
    def tessera_patient_header_items(self, patient, request):
        raise ValueError("Jane Q. Example")

    @hookimpl
    def tessera_encounter_panels(self, encounter, request):
        raise ValueError("Jane Q. Example")

    @hookimpl
    def tessera_worklist_items(self, principal, session, request):
        raise ValueError("Jane Q. Example")

    @hookimpl
    def tessera_encounter_status_changed(self, encounter, old_status, new_status):
        raise ClientException("broken refuses every change")

    @hookimpl
    def tessera_event_consumers(self):
        async def on_note(session, payload):
            raise RuntimeError("Jane Q. Example")

        return [EventConsumer("sample.note_added", on_note)]


async def test_a_broken_plugin_is_skipped_in_contributions_and_still_vetoes():
    class Fine:
        manifest = Manifest(name="fine", version="1.0", title="Fine")

        @hookimpl
        def tessera_navigation(self, request):
            return [NavItem(label="Fine", href="/fine")]

    registry = load(Broken(), Fine())
    hooks = registry.for_tenant({"broken", "fine"})
    assert [i.label for i in await hooks.collect("tessera_navigation", request=None)] == ["Fine"]
    assert await hooks.collect("tessera_chart_panels", patient=None, request=None) == []
    assert registry.is_robust("tessera_navigation") and not registry.is_robust(
        "tessera_encounter_status_changed"
    )
    with pytest.raises(ClientException, match="refuses every change"):  # a veto fails closed
        await hooks.collect(
            "tessera_encounter_status_changed",
            encounter=None,
            old_status="a",
            new_status="b",
            session=None,
            hooks=None,
        )


async def test_every_page_of_a_clinic_with_a_broken_plugin_works(
    settings, db, make_tenant, make_user, session_store, owner_engine
):
    """Navigation, chart panels, header, encounter panels and worklist all raise in one
    plugin: the pages render with the other plugins' parts, the log names the plugin and
    the request id (not the message), and the failures are counted for the operator."""
    registry = build_registry(settings, extra_plugins=[Broken()])
    app = create_app(settings, registry=registry)
    clinic = await make_clinic(db, make_tenant, make_user, owner_engine)
    tenant = clinic.tenant
    async with db.session() as session:
        fresh = await get_tenant(session, tenant.slug)
        await enable_plugin(session, registry, fresh, "sample")
        await enable_plugin(session, registry, fresh, "broken")
        await session.commit()
    with tenant_scope(tenant.id):
        async with db.session() as session:
            encounter = Encounter(
                patient_id=clinic.patient_id,
                provider_id=clinic.provider_id,
                location_id=clinic.location_id,
                starts_at=dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC),
                ends_at=dt.datetime(2026, 3, 2, 16, 15, tzinfo=dt.UTC),
                type="evaluation",
                place_of_service="11",
            )
            session.add(encounter)
            await session.commit()
    user = await make_user(tenant, roles=("clinician",))
    session_id, _ = await session_store.create(user_id=user.id, tenant_id=tenant.id, mfa_verified=True)
    logged = Lines()
    logging.getLogger("tessera.plugins").addHandler(logged)
    async with AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost") as c:
        c.cookies.set(COOKIE_NAME, session_id)
        pages = {
            path: await c.get(path, headers={"X-Request-ID": f"req-{i}"})
            for i, path in enumerate(
                [
                    "/",
                    "/patients",
                    f"/patients/{clinic.patient_id}",
                    f"/encounters/{encounter.id}",
                    "/my-work",
                    "/sample/notes",
                ]
            )
        }
    for path, response in pages.items():
        assert response.status_code == 200, (path, response.status_code)
        assert 'href="/sample/notes"' in response.text, path  # the other plugin's navigation
    assert "<h2>Notes</h2>" in pages[f"/patients/{clinic.patient_id}"].text  # its chart panel
    lines = list(logged.lines)
    assert any(
        "plugin broken failed in tessera_navigation (RuntimeError at" in m and "request req-0" in m
        for m in lines
    )
    assert any("plugin broken failed in tessera_chart_panels (KeyError" in m for m in lines)
    assert not any("Jane" in m for m in lines)
    async with owner_engine.connect() as conn:
        rows = {
            hook: (failures, error)
            for hook, failures, error in await conn.execute(
                text(
                    "SELECT hook, failures, last_error FROM core_plugin_failures "
                    "WHERE tenant_id = :t AND plugin = 'broken'"
                ),
                {"t": tenant.id},
            )
        }
    assert rows["tessera_navigation"][0] == len(pages)  # every page's navigation
    assert set(rows) >= {
        "tessera_navigation",
        "tessera_chart_panels",
        "tessera_patient_header_items",
        "tessera_encounter_panels",
        "tessera_worklist_items",
    }
    assert all("Jane" not in error for _, error in rows.values())

    # an event it consumes: the change stays, its delivery fails, is counted and retried
    with tenant_scope(tenant.id):
        async with db.session() as session:
            notebook = await default_notebook(session)
            session.add(Note(notebook_id=notebook.id, body="kept"))
            await publish_event(session, "sample.note_added", {"notebook": notebook.id})
            await session.commit()
            (published,) = await session.scalars(
                select(OutboxEntry).where(OutboxEntry.job == "core.fan_out_event")
            )
    ctx = {"db": db, "settings": settings, "registry": registry, "job_try": 1}
    fan_out = {"tenant_id": str(tenant.id), "outbox_id": str(published.id), **published.kwargs}
    assert await fan_out_event.coroutine(ctx, **fan_out) == 1
    with tenant_scope(tenant.id):
        async with db.session() as session:
            (delivery,) = await session.scalars(
                select(OutboxEntry).where(OutboxEntry.job == "core.deliver_event")
            )
    with pytest.raises(Retry):
        await deliver_event.coroutine(
            ctx, tenant_id=str(tenant.id), outbox_id=str(delivery.id), **delivery.kwargs
        )
    async with owner_engine.connect() as conn:
        assert (
            await conn.scalar(
                text("SELECT count(*) FROM sample_notes WHERE tenant_id = :t AND body = 'kept'"),
                {"t": tenant.id},
            )
            == 1
        )
        assert (
            await conn.scalar(
                text(
                    "SELECT failures FROM core_plugin_failures WHERE tenant_id = :t AND plugin = 'broken' "
                    "AND hook = 'event sample.note_added'"
                ),
                {"t": tenant.id},
            )
            == 1
        )
    assert any("plugin broken failed in event sample.note_added (RuntimeError at" in m for m in logged.lines)
    assert not any("Jane" in m for m in logged.lines)
    logging.getLogger("tessera.plugins").removeHandler(logged)


async def test_the_platform_operator_sees_plugin_failures_and_plugins_left_out(
    settings, db, make_tenant, make_user, session_store, owner_engine
):
    registry = build_registry(settings, extra_plugins=[Broken(), FutureOnly()])
    assert "future" in registry.broken and "requires tessera core >=99" in registry.broken["future"]
    app = create_app(settings, registry=registry)
    tenant = await make_tenant(plugins=("sample",))
    async with db.session() as session:
        await enable_plugin(session, registry, await get_tenant(session, tenant.slug), "broken")
        await session.commit()
    member = await make_user(tenant)
    async with db.session() as session:
        op = UserRow(email=f"op-{uuid.uuid4().hex[:8]}@example.test", display_name="Olga Operator")
        session.add(op)
        await session.flush()
        session.add(Operator(user_id=op.id))
        await session.commit()
    member_session, _ = await session_store.create(user_id=member.id, tenant_id=tenant.id, mfa_verified=True)
    async with AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost") as c:
        c.cookies.set(COOKIE_NAME, member_session)
        assert (await c.get("/")).status_code == 200
    op_session, _ = await session_store.create(user_id=op.id, tenant_id="platform", mfa_verified=True)
    async with AsyncTestClient(app=app, base_url="http://localhost") as c:
        c.cookies.set(COOKIE_NAME, op_session)
        listing = await c.get("/api/platform/plugins")
        html = await c.get("/platform/plugins")
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert {"name": "future", "reason": registry.broken["future"]} in body["broken"]
    mine = [f for f in body["failures"] if f["tenant"] == tenant.slug]
    assert [(f["plugin"], f["hook"]) for f in mine] == [("broken", "tessera_navigation")]
    assert mine[0]["failures"] >= 1 and mine[0]["last_error"].startswith("RuntimeError at")
    assert html.status_code == 200 and "future" in html.text and tenant.slug in html.text


# -- plugins broken at boot --------------------------------------------------------------------


class FutureOnly:
    manifest = Manifest(name="future", version="2.0", title="Future", core=">=99")


class RaisesAtBoot:
    manifest = Manifest(name="raiser", version="1.0", title="Raiser")

    @hookimpl
    def tessera_routes(self):
        raise RuntimeError("cannot build routes")


class NeedsRaiser:
    manifest = Manifest(name="needy", version="1.0", title="Needy", requires=("raiser",))

    @hookimpl
    def tessera_navigation(self, request):
        return [NavItem(label="Needy", href="/needy")]


class Typo:
    manifest = Manifest(name="typo", version="1.0", title="Typo")

    @hookimpl
    def tessera_chart_panel(self, patient, request):
        return []


def test_broken_plugins_are_left_out_and_the_rest_loads(settings):
    registry = build_registry(settings, extra_plugins=[FutureOnly(), RaisesAtBoot(), NeedsRaiser(), Typo()])
    assert set(registry.broken) == {"future", "raiser", "needy", "typo"}
    assert (
        registry.broken["raiser"]
        == "plugin 'raiser': tessera_routes raised RuntimeError at test_hook_machinery.py:"
        + (registry.broken["raiser"].rsplit(":", 1)[1])
    )
    assert "which could not be loaded" in registry.broken["needy"]
    assert "did you mean 'tessera_chart_panels'" in registry.broken["typo"]
    assert {"core", "sample"} <= set(registry.plugins) and not set(registry.broken) & set(registry.plugins)
    app = create_app(settings, registry=registry)
    assert "/sample/notes" in {r.path for r in app.routes}
    # strict loading (scripts, tests) still stops at the first one
    with pytest.raises(PluginError, match="tessera_routes raised RuntimeError"):
        load(RaisesAtBoot())


def test_the_cli_prints_one_line_for_a_broken_plugin(settings):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TESSERA_PLUGIN_MODULES": f"{os.environ['TESSERA_PLUGIN_MODULES']},tests.broken_plugin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "plugins", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    broken = [line for line in done.stderr.splitlines() if "broken_at_boot" in line]
    assert len(broken) == 1 and "left out" in broken[0] and "requires tessera core" in broken[0]
    assert "sample" in done.stdout


def test_a_misspelt_core_hook_still_fails_strict_loading():
    with pytest.raises(PluginError, match="did you mean 'tessera_chart_panels'"):
        load(Typo())


def test_hook_order_is_documented_per_kind():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    for phrase in (
        "Contribution",
        "In transaction",
        "Durable event",
        "tryfirst",
        "firstresult",
        "optionalhook",
    ):
        assert phrase in guide, phrase
