"""Tenant context: the first of the four layers that keep one clinic's data from another."""

from core.tenancy.context import (
    TenantScopeError,
    current_tenant_id,
    is_unscoped,
    require_tenant_id,
    tenant_scope,
    unscoped,
)

__all__ = [
    "TenantScopeError",
    "current_tenant_id",
    "is_unscoped",
    "require_tenant_id",
    "tenant_scope",
    "unscoped",
]
