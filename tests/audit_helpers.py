"""Test helpers for the audit log: ``assert_audited`` and the PHI-route coverage check.

Every route marked ``@phi_route`` (``core.audit.phi``) needs a test that calls it and then
proves the access was recorded::

    from tests.audit_helpers import assert_audited

    async def test_reading_a_chart_is_audited(db, ...):
        response = await client.get(f"/api/patients/{patient.id}")
        await assert_audited(
            db, tenant, action="read", patient_id=patient.id, actor=user,
            route="GET /api/patients/{patient_id}",   # method and path, as declared
        )

``tests/test_audit_coverage.py`` reads every test module (core's, first-party plugins',
the examples') and fails for a PHI route that no ``assert_audited(..., route=...)`` names.
"""

from __future__ import annotations

import ast
import datetime as dt
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.audit.models import AuditEvent
from core.audit.phi import normalize_path, phi_routes
from core.tenancy import tenant_scope

#: (route) strings that assert_audited confirmed in this test session
COVERED: set[str] = set()

REPO = Path(__file__).resolve().parent.parent
TEST_ROOTS = (REPO / "tests", REPO / "plugins", REPO / "examples")


def _id(value: Any) -> Any:
    return getattr(value, "id", value)


async def assert_audited(
    db,
    tenant,
    *,
    action: str,
    resource_type: str | None = None,
    patient_id: uuid.UUID | None = None,
    actor: Any = None,
    since: dt.datetime | None = None,
    outcome: str | None = None,
    route: str | None = None,
) -> AuditEvent:
    """The newest audit event of ``tenant`` matching every given criterion; fails with a
    readable message (and the tenant's recent events) when there is none.

    ``actor`` is a user (or user id); ``since`` a timezone-aware lower bound on
    ``occurred_at``; ``route`` the PHI handler this assertion covers, as
    ``"METHOD /path"`` with the path as declared (a bare path means GET).
    """
    criteria: dict[str, Any] = {"action": action}
    query = select(AuditEvent).where(AuditEvent.action == action)
    if resource_type is not None:
        criteria["resource_type"] = resource_type
        query = query.where(AuditEvent.resource_type == resource_type)
    if patient_id is not None:
        criteria["patient_id"] = patient_id
        query = query.where(AuditEvent.patient_id == patient_id)
    if actor is not None:
        criteria["actor"] = _id(actor)
        query = query.where(AuditEvent.actor_user_id == _id(actor))
    if since is not None:
        criteria["since"] = since
        query = query.where(AuditEvent.occurred_at >= since)
    if outcome is not None:
        criteria["outcome"] = outcome
        query = query.where(AuditEvent.outcome == outcome)
    with tenant_scope(_id(tenant)):
        async with db.session() as session:
            found = await session.scalar(query.order_by(AuditEvent.occurred_at.desc()).limit(1))
            if found is None:
                recent = list(
                    await session.scalars(
                        select(AuditEvent).order_by(AuditEvent.occurred_at.desc()).limit(10)
                    )
                )
    if found is None:
        wanted = ", ".join(f"{k}={v}" for k, v in criteria.items())
        seen = (
            "\n".join(
                f"  {e.occurred_at:%H:%M:%S.%f} {e.action} {e.resource_type} patient={e.patient_id} "
                f"actor={e.actor_user_id} outcome={e.outcome}"
                for e in recent
            )
            or "  (none)"
        )
        raise AssertionError(
            f"no audit event with {wanted}{f' for {route}' if route else ''}; newest events:\n{seen}"
        )
    if route is not None:
        COVERED.add(route_key(route))
    return found


async def audit_rows(
    owner_engine, tenant, columns: str, where: str = "", order: str = "occurred_at"
) -> list[tuple]:
    """``columns`` of ``tenant``'s audit events, read as the owner (no RLS, nothing sealed
    hidden), optionally narrowed by an SQL ``where`` condition, in ``order``."""
    from sqlalchemy import text

    condition = f" AND ({where})" if where else ""
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT {columns} FROM audit_events WHERE tenant_id = :t{condition} ORDER BY {order}"),
            {"t": _id(tenant)},
        )
        return [tuple(r) for r in rows]


def route_key(route: str) -> str:
    """``"PATCH /api/patients/{patient_id:uuid}"`` -> ``"PATCH /api/patients/{patient_id}"``;
    a bare path means GET."""
    method, _, path = route.strip().partition(" ")
    if not path:
        method, path = "GET", method
    return f"{method.upper()} {normalize_path(path.strip())}"


# -- coverage --------------------------------------------------------------------------


def _literal_route(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "route":
            if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                return keyword.value.value
    return None


def routes_asserted_in(files: Iterable[Path]) -> set[str]:
    """Routes named by ``assert_audited(..., route="...")`` calls in these test files."""
    routes: set[str] = set()
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name == "assert_audited" and (route := _literal_route(node)):
                    routes.add(route_key(route))
    return routes


def test_files(roots: Iterable[Path] = TEST_ROOTS) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            files += [
                p
                for p in root.rglob("test_*.py")
                if ".venv" not in p.parts and "node_modules" not in p.parts and "build" not in p.parts
            ]
    return sorted(files)


test_files.__test__ = False  # type: ignore[attr-defined]  # not a test, despite the name


def uncovered_phi_routes(app, asserted: set[str]) -> list[str]:
    """PHI routes of ``app`` that no ``assert_audited(route=...)`` names, as ``"GET /path"``."""
    return [f"{method} {path}" for method, path in phi_routes(app) if f"{method} {path}" not in asserted]
