"""The role matrix in docs/security.md is the one the code declares, and the matrix module
agrees with the enforcer that the routes' guards ask."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from core.app import build_registry
from core.auth.principal import Principal
from core.authz.enforcer import Authorizer
from core.authz.matrix import markdown_table, role_matrix
from core.plugins.types import Permission

DOC = Path(__file__).parent.parent / "docs" / "security.md"
MARKERS = re.compile(r"<!-- role-matrix:start -->\n(.*?)\n<!-- role-matrix:end -->", re.S)


def installed_permissions(settings) -> list[Permission]:
    """Core's and the installed plugins' permissions, without the tests' sample plugin."""
    return build_registry(settings.with_(plugin_modules=())).permissions()


def test_docs_role_matrix_is_the_apps(settings):
    documented = MARKERS.search(DOC.read_text(encoding="utf-8"))
    assert documented, "docs/security.md lost its role-matrix markers"
    expected = markdown_table(role_matrix(installed_permissions(settings)))
    assert documented.group(1).strip() == expected, (
        "docs/security.md's role matrix differs from the code; paste this between the markers:\n" + expected
    )


def test_matrix_agrees_with_the_enforcer(settings):
    permissions = installed_permissions(settings)
    matrix = role_matrix(permissions)
    authz = Authorizer(permissions)
    tenant = uuid.uuid4()
    checked = 0
    for role in (*matrix.roles, None):
        roles = frozenset({role} if role else ())
        principal = Principal(
            user_id=uuid.uuid4(), email="x@y", display_name="x", tenant_id=tenant, roles=roles, via="token"
        )
        for permission in permissions:
            for action in permission.actions:
                assert matrix.allows(roles, permission.object, action) == authz.allowed(
                    principal, tenant, permission.object, action
                ), (role, permission.object, action)
                checked += 1
    assert checked > 100


def test_the_doc_check_bites():
    """A grant added in code but not in the docs changes the table."""
    base = [Permission("x:things", ("read", "write"), default_grants={"clinician": ("read",)})]
    wider = [Permission("x:things", ("read", "write"), default_grants={"clinician": ("read", "write")})]
    assert markdown_table(role_matrix(base)) != markdown_table(role_matrix(wider))
    assert "| `x:things` | read, write | read | — | — | — |" in markdown_table(role_matrix(base))
