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
class Role:
    """A role a clinic's users may hold. ``grants`` is its permission template: permission
    object -> the actions this role has on it in every tenant that enables the plugin
    (core's roles are the built-in entries; a plugin names its own ``<plugin>_<role>``)."""

    name: str
    title: str
    description: str = ""
    grants: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class EncounterType:
    """A kind of visit (``encounters.type``): ``code`` is 2-32 of a-z 0-9 and ``-``, starting
    with a letter; ``title`` is what screens show."""

    code: str
    title: str


@dataclass(frozen=True)
class ChartPanel:
    """A panel on the patient chart: ``template`` is rendered with ``context``."""

    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 100
