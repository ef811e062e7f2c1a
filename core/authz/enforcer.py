"""The casbin enforcer: shared role templates, per-tenant assignments kept in step with
the memberships table.

Role -> permission rules are built once at boot from every plugin's ``tessera_permissions``
(default grants; the owner holds every permission). A user's roles in a tenant come from
their membership row, which the authentication middleware reads on every request; the
enforcer's assignments for that (user, tenant) are brought in line before each check. So a
role change made by any process takes effect on the next request everywhere, with no
cache to invalidate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

import casbin

from core.auth.principal import Principal
from core.plugins.types import Permission

MODEL = Path(__file__).with_name("model.conf")
OWNER = "owner"


class Authorizer:
    def __init__(self, permissions: Iterable[Permission]) -> None:
        self.enforcer = casbin.Enforcer(str(MODEL))
        self.permissions: dict[str, Permission] = {}
        rules: set[tuple[str, str, str]] = set()
        for permission in permissions:
            self.permissions[permission.object] = permission
            for action in permission.actions:
                rules.add((OWNER, permission.object, action))
            for role, actions in permission.default_grants.items():
                for action in actions:
                    if action not in permission.actions:
                        raise ValueError(
                            f"{permission.object}: default grant of {action!r} to {role!r} "
                            f"is not one of its actions {permission.actions}"
                        )
                    rules.add((role, permission.object, action))
        if rules:
            self.enforcer.add_policies(sorted(rules))

    def _sync_roles(self, user: str, tenant: str, roles: frozenset[str]) -> None:
        current = set(self.enforcer.get_roles_for_user_in_domain(user, tenant))
        if current != roles:
            for role in current - roles:
                self.enforcer.delete_roles_for_user_in_domain(user, role, tenant)
            for role in roles - current:
                self.enforcer.add_role_for_user_in_domain(user, role, tenant)

    def allowed(self, principal: Principal, tenant_id: uuid.UUID, obj: str, action: str) -> bool:
        """May ``principal`` do ``action`` on ``obj`` in ``tenant_id``?"""
        if principal.tenant_id != tenant_id:
            return False
        if principal.token_scopes and obj not in principal.token_scopes:
            return False
        user, tenant = str(principal.user_id), str(tenant_id)
        self._sync_roles(user, tenant, principal.roles)
        return self.enforcer.enforce(user, tenant, obj, action)

    def roles_with(self, obj: str, action: str) -> list[str]:
        return sorted(
            {rule[0] for rule in self.enforcer.get_policy() if rule[1] == obj and rule[2] == action}
        )
