"""The tenant scope: a ContextVar that every query, job and request runs inside.

There is no "no tenant means all tenants". Code that truly spans tenants says so with
``unscoped(reason)``; the reason is logged, and the database session switches to the
platform role, which only a few platform tables grant cross-tenant access to.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

log = logging.getLogger("tessera.tenancy")


@dataclass(frozen=True)
class _Unscoped:
    reason: str


_scope: ContextVar[uuid.UUID | _Unscoped | None] = ContextVar("tessera_tenant", default=None)


class TenantScopeError(RuntimeError):
    """Raised when tenant data is touched without a tenant scope, or across scopes."""


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise TenantScopeError(f"not a tenant id: {value!r}") from exc


@contextmanager
def tenant_scope(tenant_id: uuid.UUID | str) -> Iterator[uuid.UUID]:
    """Run the block as ``tenant_id``: queries see only its rows, new rows get its id."""
    if tenant_id is None:
        raise TenantScopeError("tenant_scope() needs a tenant id; None never means 'all'")
    tid = _as_uuid(tenant_id)
    token = _scope.set(tid)
    try:
        yield tid
    finally:
        _scope.reset(token)


@contextmanager
def unscoped(reason: str) -> Iterator[None]:
    """Run platform code that spans tenants. ``reason`` is required and logged."""
    if not reason or not reason.strip():
        raise TenantScopeError("unscoped() needs a reason")
    log.info("unscoped access: %s", reason)
    token = _scope.set(_Unscoped(reason))
    try:
        yield
    finally:
        _scope.reset(token)


def current_tenant_id() -> uuid.UUID | None:
    """The tenant of the current scope, or None (no scope, or unscoped)."""
    value = _scope.get()
    return value if isinstance(value, uuid.UUID) else None


def is_unscoped() -> bool:
    return isinstance(_scope.get(), _Unscoped)


def unscoped_reason() -> str | None:
    value = _scope.get()
    return value.reason if isinstance(value, _Unscoped) else None


def require_tenant_id() -> uuid.UUID:
    """The current tenant; raises TenantScopeError outside a tenant scope."""
    tid = current_tenant_id()
    if tid is None:
        raise TenantScopeError(
            "no tenant scope is active: wrap the code in tenant_scope(tenant_id) "
            "(requests and jobs do this for you)"
        )
    return tid
