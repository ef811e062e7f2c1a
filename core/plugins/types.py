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


@dataclass(frozen=True)
class HeaderItem:
    """A short item in the patient header of the chart (an alert, a flag, a balance due).

    ``level`` is ``"info"``, ``"warning"`` or ``"alert"`` (shown in that style); ``href``
    makes it a link to details on the plugin's own page.
    """

    text: str
    level: str = "info"
    href: str | None = None
    order: int = 100


@dataclass(frozen=True)
class WorkItem:
    """One entry of a user's worklist ("My work"): a note to sign, a co-signature asked
    for, a task. ``kind`` groups entries (``"Notes to sign"``); ``due`` sorts them."""

    title: str
    href: str
    kind: str
    due: Any = None  # a timezone-aware datetime or a date, or None
    detail: str = ""


@dataclass(frozen=True)
class Action:
    """A control a plugin adds to another part's screen (a button or a link).

    ``method="get"`` renders a link to ``href``; ``"post"`` renders a small form posting
    to ``href`` with the CSRF token (the route must check its own permission).
    """

    label: str
    href: str
    method: str = "get"
    order: int = 100
