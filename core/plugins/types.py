"""Values that hooks return. Plain frozen dataclasses: easy to build, easy to test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NavItem:
    """One entry of the main navigation of a tenant's pages."""

    label: str
    href: str
    order: int = 100
    #: ``"<plugin>:<resource>"`` the user needs to see the entry (enforced with RBAC).
    permission: str | None = None


@dataclass(frozen=True)
class Permission:
    """A permission a plugin defines: ``object`` is ``"<plugin>:<resource>"``."""

    object: str
    actions: tuple[str, ...] = ("read", "write")
    description: str = ""
    #: role name -> actions granted to that role by default in every tenant.
    default_grants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: a clinical record that a clinician may open in an emergency ("break the glass")
    #: when their role does not grant its ``read``; such access is flagged and reported.
    breakable: bool = False


@dataclass(frozen=True)
class ChartPanel:
    """A panel on the patient chart: ``template`` is rendered with ``context``."""

    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 100
