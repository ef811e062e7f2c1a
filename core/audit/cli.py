"""``tessera audit seal [--tenant S]`` and ``tessera audit verify --tenant S``."""

from __future__ import annotations

import asyncio
import sys
import uuid


def _fail(message: str) -> None:
    """One line on stderr and exit status 1 (like every ``tessera`` error)."""
    print(f"tessera: {message}", file=sys.stderr)
    raise SystemExit(1)


async def _tenant_id(settings, slug: str) -> uuid.UUID:
    """Resolve a slug through the app role (the sealer role reads audit rows only)."""
    from core.db.session import Database
    from core.lifecycle.registry import get_tenant

    db = Database(settings, pool_size=1)
    try:
        async with db.session() as session:
            return (await get_tenant(session, slug)).id
    finally:
        await db.dispose()


def cmd_seal(args, settings) -> None:
    from core.audit.seal import seal_all, sealer_engine

    async def run():
        tenant_id = await _tenant_id(settings, args.tenant) if args.tenant else None
        engine = sealer_engine(settings)
        try:
            return await seal_all(engine, tenant_id=tenant_id)
        finally:
            await engine.dispose()

    result = asyncio.run(run())
    print(f"sealed {result.sealed} audit event(s) of {result.tenants} tenant(s) in {result.seconds:.2f} s")


def cmd_verify(args, settings) -> None:
    from core.audit.seal import sealer_engine
    from core.audit.verify import parse_head, verify_chain

    try:
        head = parse_head(args.expect_head) if args.expect_head else None
    except ValueError as exc:
        _fail(f"--expect-head: {exc}")

    async def run():
        tenant_id = await _tenant_id(settings, args.tenant)
        engine = sealer_engine(settings, pool_size=1)
        try:
            return await verify_chain(engine, tenant_id, expect_head=head)
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    if not report.ok:
        _fail(f"{args.tenant}: {report.summary()}")
    print(f"{args.tenant}: {report.summary()}")


def register(sub) -> None:
    """Add this module's command groups to the ``tessera`` parser."""
    audit = sub.add_parser("audit", help="the audit log's hash chain").add_subparsers(
        dest="cmd", required=True
    )
    seal = audit.add_parser(
        "seal", help="chain committed audit events now (the worker does this every second)"
    )
    seal.add_argument("--tenant", metavar="SLUG", help="only this tenant (default: every tenant)")
    seal.set_defaults(fn=cmd_seal)
    verify = audit.add_parser("verify", help="check a tenant's audit chain; names the first bad event")
    verify.add_argument("--tenant", required=True, metavar="SLUG")
    verify.add_argument(
        "--expect-head",
        metavar="SEQ:HASH",
        help="a head printed by an earlier verify: also fail if that event is gone or differs",
    )
    verify.set_defaults(fn=cmd_verify)
