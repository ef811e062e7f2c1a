"""``tessera messages list [--tenant SLUG]``: read the messages recorded in development.

With ``TESSERA_SMTP_URL`` / ``TESSERA_SMS_URL`` unset, e-mails and texts are recorded under
``<TESSERA_DATA_DIR>/messages/`` instead of sent (``core.messaging.recorded``); this prints
them, newest first, so a developer can follow an invitation or unlock link.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid


def _fail(message: str) -> None:
    print(f"tessera: {message}", file=sys.stderr)
    raise SystemExit(1)


async def _tenants(settings, slug: str | None) -> dict[uuid.UUID, str]:
    """Slug by tenant id: the one asked for, or every tenant (read from the registry)."""
    from sqlalchemy import select

    from core.db.session import Database
    from core.tenancy.models import Tenant

    db = Database(settings, pool_size=1)
    try:
        async with db.session() as session:
            query = select(Tenant.id, Tenant.slug)
            if slug:
                query = query.where(Tenant.slug == slug)
            return {row.id: row.slug for row in await session.execute(query)}
    finally:
        await db.dispose()


def format_message(slug: str, message: dict) -> str:
    head = f"{message.get('at', '')}  {slug}  {message.get('kind', '?')} to {message.get('to', '')}"
    lines = [head]
    if message.get("subject"):
        lines.append(f"Subject: {message['subject']}")
    lines.append("")
    lines.extend("    " + line for line in str(message.get("text", "")).splitlines())
    return "\n".join(lines)


def cmd_list(args, settings) -> None:
    from core.messaging.recorded import messages_folder, recorded_messages, recorded_tenants

    folder = messages_folder(settings)
    tenants = asyncio.run(_tenants(settings, args.tenant))
    if args.tenant and not tenants:
        _fail(f"there is no tenant {args.tenant!r}; `tessera tenants list` shows them")
    found: list[tuple[str, dict]] = []
    for tenant_id in recorded_tenants(folder):
        if tenant_id in tenants:
            found += [(tenants[tenant_id], m) for m in recorded_messages(folder, tenant_id, limit=args.limit)]
    found.sort(key=lambda item: item[1].get("at", ""), reverse=True)
    found = found[: args.limit]
    if args.json:
        print(json.dumps([{"tenant": slug, **message} for slug, message in found], indent=2))
        return
    if not found:
        where = f" for {args.tenant}" if args.tenant else ""
        print(f"no recorded messages{where} in {folder}")
        return
    print("\n\n".join(format_message(slug, message) for slug, message in found))


def register(sub) -> None:
    messages = sub.add_parser(
        "messages", help="messages recorded instead of sent (development)"
    ).add_subparsers(dest="cmd", required=True)
    lst = messages.add_parser("list", help="print recorded e-mails and texts, newest first")
    lst.add_argument("--tenant", metavar="SLUG", help="only this clinic's messages")
    lst.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(fn=cmd_list)
