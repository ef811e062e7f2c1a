"""The role matrix: which default role holds which permission, derived from the same
``Permission`` declarations (``tessera_permissions``) that build casbin's role templates.

docs/security.md shows it as a table; ``tests/test_role_matrix.py`` fails when that table
differs from :func:`markdown_table` of the running app, and ``tests/test_route_probe.py``
calls every route as every role and checks the answer against :meth:`RoleMatrix.allows`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.auth.models import ROLE_NAMES
from core.plugins.types import Permission

OWNER = "owner"


@dataclass(frozen=True)
class RoleMatrix:
    permissions: tuple[Permission, ...]
    roles: tuple[str, ...]

    def actions(self, role: str, obj: str) -> tuple[str, ...]:
        """The actions ``role`` holds on ``obj`` by default (the owner holds all)."""
        for permission in self.permissions:
            if permission.object == obj:
                if role == OWNER:
                    return permission.actions
                granted = permission.default_grants.get(role, ())
                return tuple(a for a in permission.actions if a in granted)
        return ()

    def allows(self, roles: Iterable[str], obj: str, action: str) -> bool:
        """Whether a member holding ``roles`` may do ``action`` on ``obj``."""
        return any(action in self.actions(role, obj) for role in roles)


def role_matrix(permissions: Iterable[Permission]) -> RoleMatrix:
    ordered = tuple(sorted(permissions, key=lambda p: p.object))
    extra = sorted({r for p in ordered for r in p.default_grants} - set(ROLE_NAMES))
    return RoleMatrix(ordered, (*ROLE_NAMES, *extra))


def markdown_table(matrix: RoleMatrix) -> str:
    """The matrix as the Markdown table kept in docs/security.md (one row per permission,
    one column per role; a cell lists the actions held, "—" none)."""
    lines = [
        "| permission | " + " | ".join(matrix.roles) + " |",
        "|---|" + "---|" * len(matrix.roles),
    ]
    for permission in matrix.permissions:
        cells = [", ".join(matrix.actions(role, permission.object)) or "—" for role in matrix.roles]
        lines.append(f"| `{permission.object}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
