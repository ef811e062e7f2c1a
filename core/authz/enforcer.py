"""The casbin enforcer: shared role templates, per-tenant assignments kept in step with
the memberships table.

Role -> permission rules are built once at boot from every plugin's ``tessera_permissions``
(default grants; the owner holds every permission). A user's roles in a tenant come from
their membership row, which the authentication middleware reads on every request; the
enforcer's assignments for that (user, tenant) are brought in line before each check. So a
role change made by any process takes effect on the next request everywhere, with no
cache to invalidate.

Speed: casbin's matcher walks the policy on every ``enforce``. Because the role templates
never change after boot, casbin's answer depends only on the set of roles held, the object
and the action; it is asked once per such triple and remembered. Assignments are synced
only when a user's roles differ from what the enforcer last saw (a dict lookup otherwise).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import casbin

from core.auth.models import ROLE_NAMES
from core.auth.principal import Principal
from core.plugins.types import Permission, Role

MODEL = Path(__file__).with_name("model.conf")
OWNER = "owner"
#: results of :meth:`Authorizer.check`
ALLOW, EMERGENCY, DENY = "allow", "emergency", "deny"
#: how long an emergency-access grant lasts (seconds)
BREAK_GLASS_SECONDS = 60 * 60
#: action an emergency-access grant covers
BREAK_GLASS_ACTION = "read"


# casbin logs every decision it makes (denials at WARNING); a refusal that matters is
# already in the audit log, so keep the process log for real problems.
logging.getLogger("casbin").setLevel(logging.ERROR)


def _scans(name: str):
    """A casbin model method that may change rules in other ways than adding one: it runs
    with casbin's own list scans, and the rule set is rebuilt after it."""
    base = getattr(casbin.Model, name)

    def method(self, *args, **kwargs):
        self._present.clear()
        self._scanning += 1
        try:
            return base(self, *args, **kwargs)
        finally:
            self._scanning -= 1
            self._present.clear()

    method.__name__ = name
    return method


class _IndexedModel(casbin.Model):
    """casbin's model with a set of its rules beside each rule list.

    casbin answers "is this rule there?" by scanning the list, and asks it twice for every
    rule added: with 1,000 clinics x 10 users the first check of each user in a worker
    scanned ~10,000 assignments (docs/benchmarks.md). Here the question is a set lookup.
    Adding one rule keeps the set in step; every other change runs as casbin wrote it
    (scanning the list) and the set is rebuilt from the list when next needed.
    """

    def __init__(self) -> None:
        super().__init__()
        self._present: dict[tuple[str, str], set[tuple[str, ...]]] = {}
        self._scanning = 0

    def _index(self, sec: str, ptype: str) -> set[tuple[str, ...]]:
        present = self._present.get((sec, ptype))
        if present is None:
            present = self._present[(sec, ptype)] = {tuple(rule) for rule in self[sec][ptype].policy}
        return present

    def has_policy(self, sec, ptype, rule):
        if self._scanning:
            return super().has_policy(sec, ptype, rule)
        if sec not in self.keys() or ptype not in self[sec]:
            return False
        return tuple(rule) in self._index(sec, ptype)

    def add_policy(self, sec, ptype, rule):
        added = super().add_policy(sec, ptype, rule)
        if added and not self._scanning:
            self._index(sec, ptype).add(tuple(rule))
        return added

    clear_policy = _scans("clear_policy")
    update_policy = _scans("update_policy")
    update_policies = _scans("update_policies")
    remove_policy = _scans("remove_policy")
    remove_policies = _scans("remove_policies")
    remove_policies_with_effected = _scans("remove_policies_with_effected")
    remove_filtered_policy = _scans("remove_filtered_policy")
    remove_filtered_policy_returns_effects = _scans("remove_filtered_policy_returns_effects")


class Authorizer:
    def __init__(self, permissions: Iterable[Permission], roles: Iterable[tuple[str, Role]] = ()) -> None:
        model = _IndexedModel()
        model.load_model(str(MODEL))
        self.enforcer = casbin.Enforcer(model)
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
        roles = list(roles)
        #: role name -> the plugin that defines it ("core" for the built-in roles)
        self.role_plugins: dict[str, str] = {role.name: plugin for plugin, role in roles}
        #: role name -> its title, for screens
        self.role_titles: dict[str, str] = {role.name: role.title for _, role in roles}
        for _, role in roles:  # each role's permission template (checked by the registry)
            for obj, actions in role.grants.items():
                rules.update((role.name, obj, action) for action in actions)
        if rules:
            self.enforcer.add_policies(sorted(rules))
        #: every role a membership may hold: the registry's roles (core's built-in ones
        #: first) and any other a permission's default grants name
        declared = [*ROLE_NAMES, *(role.name for _, role in roles)]
        self.roles: tuple[str, ...] = tuple(
            dict.fromkeys([*declared, *sorted({rule[0] for rule in rules} - set(declared))])
        )
        #: a role no default: the plugins whose permissions grant it (it exists where they do)
        self._role_sources: dict[str, set[str]] = {}
        for role, obj, _ in rules:
            if role not in ROLE_NAMES:
                self._role_sources.setdefault(role, set()).add(obj.partition(":")[0])
        #: (user, tenant) -> the roles the enforcer holds for it
        self._assigned: dict[tuple[str, str], frozenset[str]] = {}
        #: (roles, object, action) -> casbin's decision
        self._decisions: dict[tuple[frozenset[str], str, str], bool] = {}
        #: roles allowed to break the glass: those holding the read of a breakable object
        self.emergency_roles: frozenset[str] = frozenset(
            role
            for role, obj, act in rules
            if act == BREAK_GLASS_ACTION and self._is_breakable(obj) and role != OWNER
        )

    def _is_breakable(self, obj: str) -> bool:
        permission = self.permissions.get(obj)
        return permission is not None and permission.breakable

    def _sync_roles(self, user: str, tenant: str, roles: frozenset[str]) -> None:
        if self._assigned.get((user, tenant)) == roles:
            return
        current = set(self.enforcer.get_roles_for_user_in_domain(user, tenant))
        if current != roles:
            for role in current - roles:
                self.enforcer.delete_roles_for_user_in_domain(user, role, tenant)
            for role in roles - current:
                self.enforcer.add_role_for_user_in_domain(user, role, tenant)
        self._assigned[(user, tenant)] = roles

    def assign_many(self, assignments: Iterable[tuple[str, str, frozenset[str]]]) -> None:
        """Load many (user, tenant, roles) assignments at once (warm-up, benchmarks); the
        per-request sync does the same one user at a time."""
        rules, seen = [], {}
        for user, tenant, roles in assignments:
            if (user, tenant) in self._assigned:
                self._sync_roles(user, tenant, roles)
                continue
            rules.extend([user, role, tenant] for role in sorted(roles))
            seen[(user, tenant)] = roles
        if rules:
            self.enforcer.add_grouping_policies(rules)
        self._assigned.update(seen)

    def roles_for(self, enabled_plugins: Iterable[str]) -> tuple[str, ...]:
        """The roles a clinic offers: the default roles, and a plugin's roles only where the
        plugin (or core) is enabled."""
        enabled = {"core", *enabled_plugins}
        return tuple(r for r in self.roles if r in ROLE_NAMES or self._role_sources.get(r, set()) & enabled)

    def allowed(self, principal: Principal, tenant_id: uuid.UUID, obj: str, action: str) -> bool:
        """May ``principal`` do ``action`` on ``obj`` in ``tenant_id`` by its roles (and,
        for a token, its scopes)? Emergency grants are not counted: see :meth:`check`."""
        if principal.tenant_id != tenant_id:
            return False
        if principal.token_scopes and obj not in principal.token_scopes:
            return False
        user, tenant = str(principal.user_id), str(tenant_id)
        roles = principal.roles
        self._sync_roles(user, tenant, roles)
        key = (roles, obj, action)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = self.enforcer.enforce(user, tenant, obj, action)
        return decision

    def check(self, principal: Principal, tenant_id: uuid.UUID, obj: str, action: str) -> str:
        """ALLOW by the principal's rights, EMERGENCY by a live break-the-glass grant of its
        session, else DENY."""
        if self.allowed(principal, tenant_id, obj, action):
            return ALLOW
        if self.emergency_grant_live(principal, tenant_id, obj, action):
            return EMERGENCY
        return DENY

    def emergency_grant_live(self, principal: Principal, tenant_id: uuid.UUID, obj: str, action: str) -> bool:
        if principal.tenant_id != tenant_id or principal.via != "session":
            return False
        if action != BREAK_GLASS_ACTION or not self._is_breakable(obj):
            return False
        if not self.may_break_glass(principal, obj, action):
            return False  # e.g. the clinician role was removed since the grant
        return principal.break_glass.get(obj, 0) > time.time()

    def may_break_glass(self, principal: Principal, obj: str, action: str) -> bool:
        """Could ``principal`` be given emergency access to ``action`` on ``obj``?"""
        return (
            principal.via == "session"
            and action == BREAK_GLASS_ACTION
            and self._is_breakable(obj)
            and bool(principal.roles & self.emergency_roles)
        )

    # -- the escalation rule: nobody grants what they do not hold ------------------------

    def all_permissions(self) -> list[tuple[str, str]]:
        """Every (object, action) the installed plugins define."""
        return sorted((p.object, a) for p in self.permissions.values() for a in p.actions)

    def role_permissions(self, role: str) -> frozenset[tuple[str, str]]:
        """What holding ``role`` allows, from the policy (the owner: everything)."""
        if role == OWNER:
            return frozenset(self.all_permissions())
        return frozenset((obj, act) for r, obj, act in self.enforcer.get_policy() if r == role)

    def held_permissions(self, principal: Principal, tenant_id: uuid.UUID) -> frozenset[tuple[str, str]]:
        """What ``principal`` itself may do in ``tenant_id``: its roles' permissions, cut
        down to its scopes for a token (emergency grants are not held: they are reads
        of one object for one session, and grant nothing)."""
        return frozenset(
            (obj, act) for obj, act in self.all_permissions() if self.allowed(principal, tenant_id, obj, act)
        )

    def ungrantable(self, principal: Principal, tenant_id: uuid.UUID, roles) -> list[str]:
        """The roles of ``roles`` that carry a permission ``principal`` does not hold: it
        may not give them to anyone (itself included)."""
        held = self.held_permissions(principal, tenant_id)
        return sorted({role for role in roles if not self.role_permissions(role) <= held})

    def roles_with(self, obj: str, action: str) -> list[str]:
        return sorted(
            {rule[0] for rule in self.enforcer.get_policy() if rule[1] == obj and rule[2] == action}
        )
