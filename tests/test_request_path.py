"""The request's database path (docs/benchmarks.md): one pool checkout and one transaction
per request on a clinic's site, the per-process tenant cache and its invalidation, and the
throttled ``last_used_at`` write of API tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from litestar import get
from litestar.exceptions import ClientException
from sqlalchemy import event, select, text

from core.app import build_registry, create_app
from core.audit.models import AuditEvent
from core.audit.record import record
from core.auth.guards import public
from core.auth.middleware import LAST_USED_RESOLUTION
from core.auth.models import ApiToken
from core.auth.tokens import create_token
from core.lifecycle.plugins import enable_plugin
from core.lifecycle.registry import get_tenant, set_status
from core.plugin_api import DbSession
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.tenancy import tenant_scope
from core.web.context import TENANT_CACHE_SECONDS, TenantDirectory


async def token_client(db, make_user, client_for, tenant, roles=("clinician",)):
    user = await make_user(tenant, roles=roles)
    with tenant_scope(tenant.id):
        async with db.session() as session:
            token, row = await create_token(session, user_id=user.id, name="tests")
            await session.commit()
    client = client_for(tenant.slug)
    client.headers["authorization"] = f"Bearer {token}"
    return client, row.id


class Counter:
    """Counts pool checkouts and transactions begun on an engine."""

    def __init__(self, engine) -> None:
        self.engine = engine.sync_engine
        self.checkouts = 0
        self.begins = 0
        self.backends: set[int] = set()

    def _checkout(self, dbapi_connection, record, proxy) -> None:
        self.checkouts += 1

    def _begin(self, connection) -> None:
        self.begins += 1

    def __enter__(self):
        event.listen(self.engine.pool, "checkout", self._checkout)
        event.listen(self.engine, "begin", self._begin)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine.pool, "checkout", self._checkout)
        event.remove(self.engine, "begin", self._begin)


async def audit_rows(db, tenant, **where) -> list[AuditEvent]:
    with tenant_scope(tenant.id):
        async with db.session() as session:
            statement = select(AuditEvent)
            for name, value in where.items():
                statement = statement.where(getattr(AuditEvent, name) == value)
            return list(await session.scalars(statement))


# -- one connection, one transaction -------------------------------------------------------


async def test_a_chart_read_uses_one_connection_and_one_transaction(
    app, db, make_tenant, make_user, client_for
):
    tenant = await make_tenant()
    client, _ = await token_client(db, make_user, client_for, tenant, roles=("front_desk",))
    async with client:
        created = await client.post(
            "/api/patients", json={"given_name": "Ona", "family_name": "Conn", "birth_date": "1990-01-02"}
        )
        assert created.status_code == 201, created.text
        patient_id = created.json()["id"]
        assert (await client.get(f"/api/patients/{patient_id}")).status_code == 200  # caches warm
        with Counter(app.state.db.engine) as counted:
            read = await client.get(f"/api/patients/{patient_id}")
    assert read.status_code == 200 and read.json()["family_name"] == "Conn"
    # token + membership look-up, patient, audit INSERT, contacts: one checkout, one BEGIN
    assert (counted.checkouts, counted.begins) == (1, 1)
    reads = await audit_rows(db, tenant, action="read", patient_id=uuid.UUID(patient_id))
    assert len(reads) == 2


async def test_a_request_whose_handler_takes_no_session_gives_the_connection_back(
    app, db, make_tenant, make_user, client_as
):
    """Authentication's transaction ends before such a handler runs, as it did when
    authentication had a session of its own: no connection is held while it works."""
    tenant = await make_tenant()
    async with await client_as(tenant, await make_user(tenant)) as client:
        assert (await client.get("/account/clinics")).status_code == 200
        pool = app.state.db.engine.sync_engine.pool
        in_use = []

        def note(*_):
            in_use.append(pool.checkedout())

        event.listen(pool, "checkout", note)
        try:
            assert (await client.get("/account/clinics")).status_code == 200
        finally:
            event.remove(pool, "checkout", note)
    # the membership look-up's connection went back before the handler checked out its own
    assert len(in_use) == 2 and max(in_use) == 1


# -- commit and rollback semantics of the shared session ------------------------------------


class Probe:
    """A plugin whose handlers write an audit event and then commit, or fail."""

    manifest = Manifest(name="probe", version="1.0", title="Probe", description="", core=">=0.1")

    @hookimpl
    def tessera_routes(self):
        @get("/api/probe/commit", name="probe:commit", guards=[public("test probe")])
        async def commits(db_session: DbSession) -> dict:
            await record(db_session, action="read", resource_type="probe", resource_id="committed")
            await db_session.commit()
            return {"ok": True}

        @get("/api/probe/fail", name="probe:fail", guards=[public("test probe")])
        async def fails(db_session: DbSession) -> dict:
            await record(db_session, action="read", resource_type="probe", resource_id="failed")
            raise ClientException(detail="refused after writing")

        @get("/api/probe/forget", name="probe:forget", guards=[public("test probe")])
        async def forgets(db_session: DbSession) -> dict:
            await record(db_session, action="read", resource_type="probe", resource_id="uncommitted")
            return {"ok": True}

        return [commits, fails, forgets]


async def test_the_request_session_commits_only_what_the_handler_commits(
    settings, db, make_tenant, make_user
):
    from litestar.testing import AsyncTestClient

    registry = build_registry(settings, extra_plugins=[Probe()])
    tenant = await make_tenant()
    async with db.session() as session:
        await enable_plugin(session, registry, tenant, "probe")
        await session.commit()
    app = create_app(settings, registry=registry)
    client, _ = await token_client(
        db, make_user, lambda slug: AsyncTestClient(app=app, base_url=f"http://{slug}.localhost"), tenant
    )
    async with client:
        assert (await client.get("/api/probe/commit")).status_code == 200
        failed = await client.get("/api/probe/fail")
        assert (await client.get("/api/probe/forget")).status_code == 200
    assert failed.status_code == 400 and failed.json()["detail"] == "refused after writing"
    kept = {e.resource_id for e in await audit_rows(db, tenant, resource_type="probe")}
    assert kept == {"committed"}


# -- the tenant cache -----------------------------------------------------------------------


async def test_a_suspension_by_another_process_takes_effect_within_the_cache_bound(
    app, db, make_tenant, client_for, owner_engine
):
    assert TENANT_CACHE_SECONDS <= 2  # the bound docs/security.md promises
    now = [1000.0]
    app.state.directory.clock = lambda: now[0]
    tenant = await make_tenant()
    async with client_for(tenant.slug) as client:
        assert (await client.get("/login")).status_code == 200
        # another process (the CLI, another worker) suspends it: no signal reaches us
        async with owner_engine.begin() as conn:
            await conn.execute(
                text("UPDATE tenants SET status = 'suspended' WHERE id = :t"), {"t": tenant.id}
            )
        now[0] += TENANT_CACHE_SECONDS - 0.1
        assert (await client.get("/login")).status_code == 200  # still inside the bound
        now[0] += 0.2
        assert (await client.get("/login")).status_code == 404  # past it: refused


async def test_a_change_committed_in_this_process_takes_effect_at_once(app, db, make_tenant, client_for):
    app.state.directory.clock = lambda: 0.0  # cached entries never expire on their own
    tenant = await make_tenant()
    async with client_for(tenant.slug) as client:
        assert (await client.get("/login")).status_code == 200
        async with db.session() as session:
            await set_status(session, await get_tenant(session, tenant.slug), "suspended")
            await session.rollback()  # not committed: nothing changes
        assert (await client.get("/login")).status_code == 200
        async with db.session() as session:
            await set_status(session, await get_tenant(session, tenant.slug), "suspended")
            await session.commit()
        assert (await client.get("/login")).status_code == 404
        async with db.session() as session:
            await set_status(session, await get_tenant(session, tenant.slug), "active")
            await session.commit()
        assert (await client.get("/login")).status_code == 200


async def test_an_unknown_clinic_is_not_cached(app, db, client_for, unique_slug):
    from core.lifecycle.registry import create_tenant

    slug = unique_slug()
    async with client_for(slug) as client:
        assert (await client.get("/login")).status_code == 404
        async with db.session() as session:
            await create_tenant(session, slug=slug, name="Brand New")
            await session.commit()
        assert (await client.get("/login")).status_code == 200


# -- API token last use ---------------------------------------------------------------------


async def last_used(db, tenant, token_id):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            return (await session.get(ApiToken, (tenant.id, token_id))).last_used_at


async def test_token_last_use_is_written_at_most_once_per_resolution(
    db, make_tenant, make_user, client_for, owner_engine
):
    tenant = await make_tenant()
    client, token_id = await token_client(db, make_user, client_for, tenant)
    async with client:
        assert (await client.get("/api/patients")).status_code == 200
        first = await last_used(db, tenant, token_id)
        assert first is not None
        assert (await client.get("/api/patients")).status_code == 200
        assert await last_used(db, tenant, token_id) == first  # within the resolution: not written

        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=LAST_USED_RESOLUTION + 60)
        async with owner_engine.begin() as conn:
            await conn.execute(
                text("UPDATE api_tokens SET last_used_at = :t WHERE id = :id"),
                {"t": long_ago, "id": token_id},
            )
        # written again, and kept although this request fails (404)
        missing = await client.get(f"/api/patients/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert await last_used(db, tenant, token_id) > long_ago + dt.timedelta(seconds=LAST_USED_RESOLUTION)


async def test_a_token_of_a_user_no_longer_in_the_clinic_is_refused(
    db, make_tenant, make_user, client_for, owner_engine
):
    tenant = await make_tenant()
    client, _ = await token_client(db, make_user, client_for, tenant)
    async with client:
        assert (await client.get("/api/patients")).status_code == 200
        # the membership row is gone altogether (deactivation is tested elsewhere)
        async with owner_engine.begin() as conn:
            await conn.execute(text("DELETE FROM memberships WHERE tenant_id = :t"), {"t": tenant.id})
        refused = await client.get("/api/patients")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "This account is not active here. Ask the clinic's owner."


async def test_requests_finding_the_snapshot_expired_share_one_registry_read(db, registry, make_tenant):
    """64 requests at once after the snapshot expired cost one read of the registry, not 64
    (at 1,000 clinics that was ~9 % of a worker's time); a read begun before a change this
    process committed is not joined, and a request that goes away does not cancel it."""
    tenant = await make_tenant()
    now = [1000.0]
    directory = TenantDirectory(db, registry, clock=lambda: now[0])
    reads, gate, original = [], asyncio.Event(), directory._read

    async def gated_read(slug=None):
        reads.append(slug)
        if slug is None:
            await gate.wait()
        return await original(slug)

    directory._read = gated_read
    waiting = [asyncio.ensure_future(directory.by_slug(tenant.slug)) for _ in range(20)]
    await asyncio.sleep(0.05)
    gate.set()
    assert {t.id for t in await asyncio.gather(*waiting)} == {tenant.id}
    assert reads == [None]

    now[0] += TENANT_CACHE_SECONDS + 1  # expired again
    gate.clear()
    gone = asyncio.ensure_future(directory.by_slug(tenant.slug))
    stays = asyncio.ensure_future(directory.by_slug(tenant.slug))
    await asyncio.sleep(0.05)
    gone.cancel()  # its client went away
    directory.forget()  # a tenant change committed here while the read is on its way
    fresh = asyncio.ensure_future(directory.by_slug(tenant.slug))
    await asyncio.sleep(0.05)
    gate.set()
    assert (await stays).id == tenant.id and (await fresh).id == tenant.id
    assert reads == [None, None, None]  # the second read was not cancelled; the third is new
