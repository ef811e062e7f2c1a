"""The audit chain: the sealer, verify, and what each database role may do to audit rows.

Tampering is done as the database superuser (``owner_engine``), the one actor who can.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import subprocess
import sys
import time
import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.audit import record
from core.audit.seal import GENESIS, AuditSealer, chain_hash, seal_all, seal_tenant, sealer_engine
from core.audit.verify import verify_chain
from core.tenancy import tenant_scope


@pytest.fixture
async def sealer(settings):
    engine = sealer_engine(settings)
    yield engine
    await engine.dispose()


async def _record_many(db, tenant, n: int, **extra) -> None:
    with tenant_scope(tenant.id):
        async with db.session() as session:
            for i in range(n):
                await record(
                    session,
                    action="read",
                    resource_type="patient",
                    resource_id=f"r{i}",
                    patient_id=uuid.uuid4(),
                    actor_label="system-test",
                    detail={"i": i, "nested": {"b": 1, "a": [1, 2]}},
                    **extra,
                )
            await session.commit()


async def _chain(owner_engine, tenant):
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, seal_seq, prev_hash, hash FROM audit_events WHERE tenant_id = :t "
                "ORDER BY seal_seq NULLS LAST"
            ),
            {"t": tenant.id},
        )
        return rows.all()


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def test_sealer_chains_committed_events_in_order(db, make_tenant, sealer, owner_engine):
    tenant, other = await make_tenant(), await make_tenant()
    await _record_many(db, tenant, 5)
    await _record_many(db, other, 2)
    result = await seal_all(sealer)
    assert result.sealed >= 7  # other tests' tenants may have pending events too
    rows = await _chain(owner_engine, tenant)
    assert [r.seal_seq for r in rows] == [1, 2, 3, 4, 5]
    assert bytes(rows[0].prev_hash) == GENESIS
    for before, after in itertools.pairwise(rows):
        assert bytes(after.prev_hash) == bytes(before.hash)
    # each tenant has its own chain, starting at 1
    assert [r.seal_seq for r in await _chain(owner_engine, other)] == [1, 2]

    # more events continue the chain; a second pass with nothing to do changes nothing
    await _record_many(db, tenant, 3)
    assert await seal_tenant(sealer, tenant.id) == 3
    assert await seal_tenant(sealer, tenant.id) == 0
    rows = await _chain(owner_engine, tenant)
    assert [r.seal_seq for r in rows] == list(range(1, 9))
    assert bytes(rows[5].prev_hash) == bytes(rows[4].hash)
    report = await verify_chain(sealer, tenant.id)
    assert report.ok and report.sealed == 8 and report.unsealed == 0
    assert report.head_hash == bytes(rows[-1].hash)


async def test_the_hash_covers_the_canonical_content(db, make_tenant, sealer, owner_engine):
    tenant = await make_tenant()
    await _record_many(db, tenant, 1)
    await seal_tenant(sealer, tenant.id)
    async with owner_engine.connect() as conn:
        row = (
            (await conn.execute(text("SELECT * FROM audit_events WHERE tenant_id = :t"), {"t": tenant.id}))
            .mappings()
            .one()
        )
    assert bytes(row["hash"]) == chain_hash(GENESIS, row, 1)
    assert chain_hash(GENESIS, row, 2) != bytes(row["hash"])  # the position is covered too
    changed = dict(row, occurred_at=row["occurred_at"] + dt.timedelta(microseconds=1))
    assert chain_hash(GENESIS, changed, 1) != bytes(row["hash"])


async def test_a_late_commit_gets_the_next_position(db, make_tenant, sealer, owner_engine):
    """An event whose transaction began first but committed after others were sealed is
    chained after them: requests never wait for the chain."""
    tenant = await make_tenant()
    with tenant_scope(tenant.id):
        async with db.session() as slow:
            early = await record(slow, action="read", resource_type="patient", actor_label="slow")
            await _record_many(db, tenant, 2)  # other requests commit meanwhile
            assert await seal_tenant(sealer, tenant.id) == 2  # the uncommitted one is invisible
            await slow.commit()
    assert await seal_tenant(sealer, tenant.id) == 1
    rows = await _chain(owner_engine, tenant)
    assert rows[-1].id == early.id and rows[-1].seal_seq == 3
    assert (await verify_chain(sealer, tenant.id)).ok


async def test_two_sealers_at_once_never_interleave(db, make_tenant, settings, owner_engine):
    tenant = await make_tenant()
    await _record_many(db, tenant, 300)
    engines = [sealer_engine(settings) for _ in range(3)]
    try:
        counts = await asyncio.gather(*(seal_tenant(e, tenant.id, batch_size=25) for e in engines))
        assert sum(counts) == 300
        report = await verify_chain(engines[0], tenant.id)
        assert report.ok and report.sealed == 300, report.summary()
        # non-blocking mode skips a tenant that another sealer holds
        await _record_many(db, tenant, 1)
        async with engines[0].begin() as conn:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:c, hashtext(:t))"),
                {"c": 0x7E55E1, "t": str(tenant.id)},
            )
            assert await seal_tenant(engines[1], tenant.id, wait=False) == 0
        assert await seal_tenant(engines[1], tenant.id, wait=False) == 1
    finally:
        for engine in engines:
            await engine.dispose()


async def test_sealing_rate(db, make_tenant, sealer, owner_engine):
    """Throughput of the sealer (printed, not asserted: machines differ)."""
    tenant = await make_tenant()
    n = 20000
    async with owner_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_events (tenant_id, id, actor_type, actor_label, action, resource_type, "
                "resource_id, patient_id, outcome, client_ip, user_agent, detail) "
                "SELECT :t, gen_random_uuid(), 'user', 'clinician@example.test', 'read', 'patient', "
                "g::text, gen_random_uuid(), 'success', '10.0.0.1', 'Mozilla/5.0 (test)', "
                "jsonb_build_object('i', g) FROM generate_series(1, :n) g"
            ),
            {"t": tenant.id, "n": n},
        )
    started = time.perf_counter()
    sealed = await seal_tenant(sealer, tenant.id)
    seconds = time.perf_counter() - started
    assert sealed == n
    print(f"\nsealed {n} audit events in {seconds:.2f} s: {n / seconds:,.0f} events/s")
    started = time.perf_counter()
    report = await verify_chain(sealer, tenant.id)
    print(f"verified {report.sealed} events in {time.perf_counter() - started:.2f} s")
    assert report.ok and report.sealed == n


async def test_the_worker_loop_seals_in_the_background(db, make_tenant, settings, owner_engine):
    tenant = await make_tenant()
    loop = AuditSealer(settings, interval=0.05)
    loop.start()
    try:
        await _record_many(db, tenant, 4)
        for _ in range(100):
            rows = await _chain(owner_engine, tenant)
            if all(r.seal_seq is not None for r in rows):
                break
            await asyncio.sleep(0.05)
        assert [r.seal_seq for r in rows] == [1, 2, 3, 4]
    finally:
        await loop.stop()


def test_the_worker_starts_and_stops_the_sealer(settings, registry):
    from core.jobs.worker import build_worker_settings

    worker = build_worker_settings(settings.with_(audit_seal_interval=0.05), registry)

    async def cycle():
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
        ctx = {"redis": redis}
        try:
            await worker["on_startup"](ctx)
            sealer = ctx["audit_sealer"]
            assert sealer._task is not None and not sealer._task.done()
            await worker["on_shutdown"](ctx)
            assert "audit_sealer" not in ctx and sealer._task is None
        finally:
            await redis.aclose()

    asyncio.run(cycle())


# -- tampering, as the superuser --------------------------------------------------------


async def _sealed_tenant(db, make_tenant, sealer, owner_engine, n=6):
    tenant = await make_tenant()
    await _record_many(db, tenant, n)
    await seal_tenant(sealer, tenant.id)
    return tenant, await _chain(owner_engine, tenant)


async def test_verify_names_an_altered_event(db, make_tenant, sealer, owner_engine):
    tenant, rows = await _sealed_tenant(db, make_tenant, sealer, owner_engine)
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE audit_events SET actor_label = 'someone-else' WHERE tenant_id = :t AND id = :id"),
            {"t": tenant.id, "id": rows[2].id},
        )
    report = await verify_chain(sealer, tenant.id)
    assert not report.ok
    assert (report.problem.kind, report.problem.event_id, report.problem.seal_seq) == (
        "altered",
        rows[2].id,
        3,
    )
    assert str(rows[2].id) in report.summary() and "content" in report.summary()


async def test_verify_names_a_deleted_event(db, make_tenant, sealer, owner_engine):
    tenant, rows = await _sealed_tenant(db, make_tenant, sealer, owner_engine)
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM audit_events WHERE tenant_id = :t AND id = :id"),
            {"t": tenant.id, "id": rows[3].id},
        )
    report = await verify_chain(sealer, tenant.id)
    assert (report.problem.kind, report.problem.event_id, report.problem.seal_seq) == (
        "deleted",
        rows[4].id,
        5,
    )
    assert "seq 4" in report.summary()


async def test_verify_names_a_deletion_hidden_by_renumbering(db, make_tenant, sealer, owner_engine):
    tenant, rows = await _sealed_tenant(db, make_tenant, sealer, owner_engine)
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM audit_events WHERE tenant_id = :t AND id = :id"),
            {"t": tenant.id, "id": rows[1].id},
        )
        for seq in range(3, 7):
            await conn.execute(
                text(
                    "UPDATE audit_events SET seal_seq = seal_seq - 1 WHERE tenant_id = :t AND seal_seq = :s"
                ),
                {"t": tenant.id, "s": seq},
            )
    report = await verify_chain(sealer, tenant.id)
    assert (report.problem.kind, report.problem.event_id, report.problem.seal_seq) == (
        "deleted",
        rows[2].id,
        2,
    )


async def test_verify_names_reordered_events(db, make_tenant, sealer, owner_engine):
    tenant, rows = await _sealed_tenant(db, make_tenant, sealer, owner_engine)
    async with owner_engine.begin() as conn:
        swap = "UPDATE audit_events SET seal_seq = :new WHERE tenant_id = :t AND id = :id"
        await conn.execute(text(swap), {"t": tenant.id, "id": rows[2].id, "new": -1})
        await conn.execute(text(swap), {"t": tenant.id, "id": rows[3].id, "new": 3})
        await conn.execute(text(swap), {"t": tenant.id, "id": rows[2].id, "new": 4})
    report = await verify_chain(sealer, tenant.id)
    assert (report.problem.kind, report.problem.event_id, report.problem.seal_seq) == (
        "reordered",
        rows[3].id,
        3,
    )
    assert str(rows[2].id) in report.problem.reason


async def test_verify_detects_swapped_chain_columns(db, make_tenant, sealer, owner_engine):
    """Swapping whole chain positions (seq, prev_hash and hash) of two events."""
    tenant, rows = await _sealed_tenant(db, make_tenant, sealer, owner_engine)
    a, b = rows[1], rows[2]
    async with owner_engine.begin() as conn:
        move = (
            "UPDATE audit_events SET seal_seq = :seq, prev_hash = :prev, hash = :hash "
            "WHERE tenant_id = :t AND id = :id"
        )
        await conn.execute(text(move), {"t": tenant.id, "id": a.id, "seq": -1, "prev": None, "hash": None})
        await conn.execute(
            text(move), {"t": tenant.id, "id": b.id, "seq": 2, "prev": a.prev_hash, "hash": a.hash}
        )
        await conn.execute(
            text(move), {"t": tenant.id, "id": a.id, "seq": 3, "prev": b.prev_hash, "hash": b.hash}
        )
    report = await verify_chain(sealer, tenant.id)
    assert not report.ok and report.problem.event_id == b.id and report.problem.seal_seq == 2


async def test_verify_with_a_recorded_head_sees_deleted_newest_events(db, make_tenant, sealer, owner_engine):
    tenant, rows = await _sealed_tenant(db, make_tenant, sealer, owner_engine)
    head = (await verify_chain(sealer, tenant.id)).head_hash
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM audit_events WHERE tenant_id = :t AND id = :id"),
            {"t": tenant.id, "id": rows[-1].id},
        )
    assert (await verify_chain(sealer, tenant.id)).ok  # undetectable without an anchor ...
    report = await verify_chain(sealer, tenant.id, expect_head=(6, head))
    assert not report.ok and report.problem.kind == "head"  # ... detected with one


# -- the CLI ---------------------------------------------------------------------------


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "audit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


async def test_cli_seal_and_verify(db, make_tenant, owner_engine):
    tenant = await make_tenant()
    await _record_many(db, tenant, 3)
    out = await asyncio.to_thread(_cli, "verify", "--tenant", tenant.slug)
    assert out.returncode == 0, out.stderr
    assert "0 events sealed, 3 awaiting sealing" in out.stdout
    out = await asyncio.to_thread(_cli, "seal", "--tenant", tenant.slug)
    assert out.returncode == 0 and "sealed 3 audit event(s) of 1 tenant(s)" in out.stdout, out.stderr
    out = await asyncio.to_thread(_cli, "verify", "--tenant", tenant.slug)
    assert out.returncode == 0 and "3 events sealed, 0 awaiting sealing" in out.stdout, out.stderr
    head = out.stdout.strip().rsplit("hash ", 1)[1]
    out = await asyncio.to_thread(_cli, "verify", "--tenant", tenant.slug, "--expect-head", f"3:{head}")
    assert out.returncode == 0, out.stderr

    rows = await _chain(owner_engine, tenant)
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE audit_events SET outcome = 'failure' WHERE tenant_id = :t AND id = :id"),
            {"t": tenant.id, "id": rows[1].id},
        )
    out = await asyncio.to_thread(_cli, "verify", "--tenant", tenant.slug)
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0
    assert str(rows[1].id) in out.stderr and "seq 2" in out.stderr and "altered" in out.stderr
    out = await asyncio.to_thread(_cli, "verify", "--tenant", "no-such-clinic")
    assert out.returncode == 1 and "no tenant with slug" in out.stderr
    out = await asyncio.to_thread(_cli, "verify", "--tenant", tenant.slug, "--expect-head", "nonsense")
    assert out.returncode == 1 and "--expect-head" in out.stderr


# -- what each role may do -------------------------------------------------------------


async def test_the_app_role_cannot_update_or_delete_audit_rows(db, make_tenant, settings, sealer):
    tenant = await make_tenant()
    await _record_many(db, tenant, 1)
    conn = await asyncpg.connect(_dsn(settings.app_url()))
    try:
        for statement in (
            "UPDATE audit_events SET actor_label = 'x'",
            "UPDATE audit_events SET seal_seq = 99",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant.id))
                    await conn.execute(statement)
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant.id))
            assert await conn.fetchval("SELECT count(*) FROM audit_events") == 1
    finally:
        await conn.close()


async def test_the_sealer_role_cannot_change_content(db, make_tenant, settings):
    tenant = await make_tenant()
    await _record_many(db, tenant, 1)
    conn = await asyncpg.connect(_dsn(settings.sealer_url()))
    try:
        for statement in (
            "UPDATE audit_events SET actor_label = 'x' WHERE tenant_id = $1",
            "UPDATE audit_events SET occurred_at = now() WHERE tenant_id = $1",
            "UPDATE audit_events SET detail = '{}' WHERE tenant_id = $1",
            "DELETE FROM audit_events WHERE tenant_id = $1",
            "INSERT INTO audit_events (tenant_id, id, actor_type, action, resource_type, outcome) "
            "VALUES ($1, gen_random_uuid(), 'user', 'read', 'x', 'success')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement, tenant.id)
        # it sees every tenant's rows (no app.tenant_id needed) and may fill the chain columns
        assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE tenant_id = $1", tenant.id) == 1
        transaction = conn.transaction()
        await transaction.start()
        status = await conn.execute(
            "UPDATE audit_events SET sealed_at = now() WHERE tenant_id = $1", tenant.id
        )
        assert status == "UPDATE 1"
        await transaction.rollback()
    finally:
        await conn.close()


# -- the chain columns belong to the sealer ---------------------------------------------

_FORGED_INSERT = (
    "INSERT INTO audit_events (tenant_id, id, actor_type, action, resource_type, outcome, {column}) "
    "VALUES ($1, $2, 'user', 'read', 'patient', 'success', {value})"
)
_CHAIN_VALUES = {
    "seal_seq": "1",
    "prev_hash": "'\\x00'::bytea",
    "hash": "sha256('forged'::bytea)",
    "sealed_at": "now()",
}


async def test_the_app_role_cannot_insert_an_audit_row_with_chain_columns(make_tenant, settings):
    """A forged link (seal_seq/hash set by the inserter) would be chained onto by the
    sealer: the app role may name only content columns in an INSERT."""
    tenant = await make_tenant()
    conn = await asyncpg.connect(_dsn(settings.app_url()))
    try:
        for column, value in _CHAIN_VALUES.items():
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant.id))
                    await conn.execute(
                        _FORGED_INSERT.format(column=column, value=value), tenant.id, uuid.uuid4()
                    )
        # an ordinary, unsealed event still goes in
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant.id))
            await conn.execute(
                "INSERT INTO audit_events (tenant_id, id, actor_type, action, resource_type, outcome) "
                "VALUES ($1, $2, 'user', 'read', 'patient', 'success')",
                tenant.id,
                uuid.uuid4(),
            )
    finally:
        await conn.close()


async def test_no_role_can_insert_an_audit_row_already_sealed(make_tenant, owner_engine):
    """Column privileges stop the app role; the trigger stops everyone else too (the
    schema owner here), so an INSERT can never carry a chain position."""
    tenant = await make_tenant()
    for column, value in _CHAIN_VALUES.items():
        with pytest.raises(Exception, match="inserted unsealed"):
            async with owner_engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO audit_events (tenant_id, id, actor_type, action, resource_type, "
                        f"outcome, {column}) VALUES (:t, :id, 'user', 'read', 'patient', 'success', {value})"
                    ),
                    {"t": tenant.id, "id": uuid.uuid4()},
                )


async def test_verify_names_a_row_inserted_with_forged_chain_columns(db, make_tenant, sealer, owner_engine):
    """A row forged before the guards existed (or by a superuser with triggers off): it
    claims the next position; the sealer chains the next event onto it; verify names it."""
    tenant, _ = await _sealed_tenant(db, make_tenant, sealer, owner_engine, n=3)
    forged = uuid.uuid4()
    async with owner_engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))  # triggers off
        await conn.execute(
            text(
                "INSERT INTO audit_events (tenant_id, id, actor_type, action, resource_type, outcome, "
                "seal_seq, prev_hash, hash, sealed_at) VALUES (:t, :id, 'user', 'read', 'patient', "
                "'success', 4, sha256('elsewhere'::bytea), sha256('forged'::bytea), now())"
            ),
            {"t": tenant.id, "id": forged},
        )
    await _record_many(db, tenant, 1)
    await seal_tenant(sealer, tenant.id)
    report = await verify_chain(sealer, tenant.id)
    assert not report.ok
    assert (report.problem.event_id, report.problem.seal_seq) == (forged, 4)
    assert "forged" in report.summary()
