"""RBAC decisions: casbin decides, the memo only remembers; roles, scopes, tenants, cost."""

from __future__ import annotations

import itertools
import uuid

import casbin
import pytest

from core.auth.principal import Principal
from core.authz.enforcer import MODEL, Authorizer


def principal(tenant_id, roles, **kw) -> Principal:
    return Principal(
        user_id=kw.pop("user_id", None) or uuid.uuid4(),
        email="someone@example.test",
        display_name="Someone",
        tenant_id=tenant_id,
        roles=frozenset(roles),
        **kw,
    )


def test_decisions_follow_the_casbin_policy(app):
    """For every role set, object and action the memoized answer is what a plain casbin
    enforcer with the same policy and assignment answers."""
    authz: Authorizer = app.state.authz
    plain = casbin.Enforcer(str(MODEL))
    plain.add_policies(authz.enforcer.get_policy())
    tenant = uuid.uuid4()
    objects = sorted(authz.permissions)
    actions = sorted({a for p in authz.permissions.values() for a in p.actions})
    role_sets = [set(c) for n in (1, 2) for c in itertools.combinations(authz.roles, n)]
    for roles in role_sets:
        who = principal(tenant, roles)
        for role in roles:
            plain.add_role_for_user_in_domain(str(who.user_id), role, str(tenant))
        for obj, action in itertools.product(objects, actions):
            for _ in range(2):  # the second answer comes from the memo
                assert authz.allowed(who, tenant, obj, action) == plain.enforce(
                    str(who.user_id), str(tenant), obj, action
                ), (roles, obj, action)
    # spot checks of the shipped defaults
    owner, desk = principal(tenant, {"owner"}), principal(tenant, {"front_desk"})
    assert all(authz.allowed(owner, tenant, o, a) for o in objects for a in authz.permissions[o].actions)
    assert not authz.allowed(desk, tenant, "core:users", "read")
    assert authz.allowed(principal(tenant, {"auditor"}), tenant, "core:audit", "export")
    assert authz.allowed(principal(tenant, {"clinician"}), tenant, "sample:notes", "write")
    assert not authz.allowed(principal(tenant, {"clinician"}), tenant, "core:users", "read")


def test_a_role_change_takes_effect_and_assignments_stay_in_step(app):
    authz: Authorizer = app.state.authz
    tenant, user = uuid.uuid4(), uuid.uuid4()

    def check(roles):
        who = principal(tenant, roles, user_id=user)
        answer = authz.allowed(who, tenant, "sample:notes", "read")
        assert set(authz.enforcer.get_roles_for_user_in_domain(str(user), str(tenant))) == set(roles)
        return answer

    assert check({"clinician"}) is True
    assert check({"front_desk"}) is False
    assert check({"front_desk", "clinician"}) is True
    assert check(set()) is False
    assert check({"owner"}) is True


def test_token_scopes_and_other_tenants_limit_even_an_owner(app):
    authz: Authorizer = app.state.authz
    tenant = uuid.uuid4()
    scoped = principal(tenant, {"owner"}, via="token", token_scopes=frozenset({"core:audit"}))
    assert authz.allowed(scoped, tenant, "core:audit", "read")
    assert not authz.allowed(scoped, tenant, "sample:notes", "read")
    assert not authz.allowed(principal(tenant, {"owner"}), uuid.uuid4(), "sample:notes", "read")


def test_unknown_grant_action_is_refused_at_boot():
    from core.plugins.types import Permission

    with pytest.raises(ValueError, match="not one of its actions"):
        Authorizer([Permission("x:y", ("read",), default_grants={"clinician": ("delete",)})])


class _CountedRules(list):
    """A rule list that counts how often it is scanned for a rule."""

    scans = 0

    def __contains__(self, rule) -> bool:
        type(self).scans += 1
        return super().__contains__(rule)


def test_a_new_users_first_check_does_not_scan_every_assignment(app):
    """With 1,000 clinics x 10 users assigned, assigning the next user's roles (its first
    check in a worker) asks casbin's model about rules without scanning the rule lists.
    The cost per check itself is measured by ``make bench`` (docs/benchmarks.md)."""
    authz = Authorizer(app.state.permissions)
    role_sets = [{"clinician"}, {"front_desk"}, {"biller"}, {"owner"}, {"auditor"}, {"clinician", "biller"}]
    people = [
        principal(tenant, role_sets[(t + u) % len(role_sets)])
        for t, tenant in enumerate(uuid.uuid4() for _ in range(1000))
        for u in range(10)
    ]
    for p in people[:2000]:  # one at a time, as requests do
        assert authz.allowed(p, p.tenant_id, "sample:notes", "read") == bool(p.roles & {"clinician", "owner"})
    authz.assign_many((str(p.user_id), str(p.tenant_id), p.roles) for p in people[2000:])
    for assertion in authz.enforcer.model["g"].values():
        assertion.policy = _CountedRules(assertion.policy)
    newcomer = principal(uuid.uuid4(), {"clinician", "biller"})
    assert authz.allowed(newcomer, newcomer.tenant_id, "sample:notes", "read")
    assert _CountedRules.scans == 0
    assert len(authz.enforcer.get_grouping_policy()) == sum(len(p.roles) for p in people) + 2


def test_the_rule_index_follows_every_change(app):
    """Adds, role changes and removals leave the indexed model answering as casbin's own."""
    authz = Authorizer(app.state.permissions)
    plain = casbin.Enforcer(str(MODEL))
    plain.add_policies(authz.enforcer.get_policy())
    tenant = str(uuid.uuid4())
    users = [str(uuid.uuid4()) for _ in range(6)]
    steps = [
        ("add", users[0], "clinician"), ("add", users[1], "owner"), ("add", users[0], "biller"),
        ("del", users[0], "clinician"), ("add", users[0], "clinician"), ("del", users[1], "owner"),
        ("add", users[2], "front_desk"), ("del", users[5], "owner"), ("add", users[3], "auditor"),
    ]  # fmt: skip
    for op, user, role in steps:
        for enforcer in (authz.enforcer, plain):
            if op == "add":
                enforcer.add_role_for_user_in_domain(user, role, tenant)
            else:
                enforcer.delete_roles_for_user_in_domain(user, role, tenant)
        assert sorted(authz.enforcer.get_grouping_policy()) == sorted(plain.get_grouping_policy())
        for u in users:
            for r in authz.roles:
                rule = [u, r, tenant]
                assert authz.enforcer.has_grouping_policy(*rule) == plain.has_grouping_policy(*rule), rule
    authz.enforcer.remove_filtered_grouping_policy(0, users[0])
    plain.remove_filtered_grouping_policy(0, users[0])
    assert sorted(authz.enforcer.get_grouping_policy()) == sorted(plain.get_grouping_policy())
    assert not authz.enforcer.has_grouping_policy(users[0], "biller", tenant)
    authz.enforcer.add_grouping_policy(users[0], "biller", tenant)
    assert authz.enforcer.has_grouping_policy(users[0], "biller", tenant)
