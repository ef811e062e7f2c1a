"""Every hook the kernel calls. This module is the plugin contract.

Each hook is documented by its docstring here and, with an example, under a heading that
is exactly its signature in ``docs/plugins.md``; ``tests/test_hookspecs.py`` fails when a
hook lacks either, or lacks a ``test_hook_<name>`` test.

Rules shared by all hooks:

* Implementations may take fewer arguments than the spec names (pluggy matches by name),
  so a new argument never breaks an existing plugin.
* An implementation may return its value or an awaitable of it; the kernel awaits,
  installation hooks included (they are called, and awaited, once at boot).
* *Installation hooks* (routes, migrations, templates, static files, permissions, roles,
  encounter types, note templates, instruments, jobs, event consumers, audit actions) are
  called once at boot for every installed plugin.
  *Tenant hooks* (navigation, panels, demo data, enable/disable...) reach only the plugins
  the current tenant enabled.
* Each tenant hook is one of three kinds, named first in its docstring:
  *Contribution* (``@hookspec(robust=True)``): adds to a page; one plugin's exception is
  logged with its name and the request id, counted for the platform operator and
  skipped, and the page renders with the others' contributions.
  *In transaction*: runs inside the change's transaction; raising aborts the change (a
  veto, or work that must commit together with it).
  *Durable events* are not hooks: ``publish_event`` in the change's transaction, consumed
  later as a tenant job per consuming plugin (``tessera_event_consumers``), retried on
  failure, never undoing the change.
* Order: implementations run in pluggy's order: ``@hookimpl(tryfirst=True)`` first,
  ``trylast=True`` last, otherwise the plugin registered last first. Lists are
  concatenated; pages sort contributions by their ``order``. None of the kernel's hooks
  asks a question with one answer today; a hook that does is declared
  ``@hookspec(firstresult=True)`` and stops at the first answer that is not ``None``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.plugins.markers import hookspec

if TYPE_CHECKING:
    import uuid
    from pathlib import Path

    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.principal import Principal
    from core.encounters.models import Encounter
    from core.instruments.types import Instrument
    from core.notes.contract import NoteTemplate
    from core.plugins.events import EventConsumer
    from core.plugins.registry import TenantHooks
    from core.plugins.types import (
        ChartPanel,
        EncounterType,
        HeaderItem,
        NavItem,
        Permission,
        Role,
        WorkItem,
    )
    from core.tenancy.models import Tenant


# ---------------------------------------------------------------------------------------
# Installation hooks: called once at boot for every installed plugin
# ---------------------------------------------------------------------------------------


@hookspec
def tessera_routes() -> list[Any]:
    """Return the Litestar route handlers, controllers or routers this plugin serves.

    Mounted once at boot. Each is wrapped in a guard that answers 404 on the host of a
    tenant that has not enabled the plugin, and on the platform-operator host. Paths are
    the plugin's own business; by convention HTML under ``/<plugin>/`` and JSON under
    ``/api/<plugin>/``.
    """


@hookspec
def tessera_migration_dirs() -> list[Path]:
    """Return the folders holding this plugin's Alembic revisions.

    The plugin's first revision carries ``branch_labels = ("<plugin>",)`` and
    ``depends_on = "core"``; ``tessera db upgrade`` applies core and every installed
    plugin's branch. Import the plugin's models in its package so they register on
    ``core.db.Base.metadata``.
    """


@hookspec
def tessera_template_dirs() -> list[Path]:
    """Return folders of Jinja2 templates. Keep them under ``<folder>/<plugin>/`` so names
    never collide: a template is then referred to as ``"<plugin>/page.html"``."""


@hookspec
def tessera_static_dirs() -> list[Path]:
    """Return folders of static files, served at ``/static/<plugin>/<file>``."""


@hookspec
def tessera_permissions() -> list[Permission]:
    """Return the permissions this plugin defines, each ``"<plugin>:<resource>"`` with its
    actions and the default roles granted them. The kernel refuses a permission outside
    the plugin's namespace."""


@hookspec
def tessera_roles() -> list[Role]:
    """Return the roles this plugin adds to the clinics' vocabulary, each with its
    permission template (``grants``: permission object -> actions).

    Core's own roles (owner, clinician, front desk, biller, auditor) are the built-in
    entries of the same registry. A plugin's role is named ``<plugin>_<role>``; a name
    that another plugin (or core) already uses, or a grant of an unknown permission or
    action, stops the boot with an error naming the plugin.
    """


@hookspec
def tessera_encounter_types() -> list[EncounterType]:
    """Return the kinds of visit this plugin adds (``encounters.type``), e.g. a rehab
    plugin's daily treatment note visit.

    Core's five kinds (office visit, evaluation, re-evaluation, telehealth, group) are the
    built-in entries. A code another plugin already uses stops the boot. The encounter
    API accepts every installed type; ``encounter_types(request)`` in ``core.plugin_api``
    returns them (code -> title) for forms.
    """


@hookspec
def tessera_jobs() -> list[Any]:
    """Return the background jobs this plugin runs on the arq worker.

    Each item is an ``arq.worker.func(...)`` or a coroutine function decorated with
    ``core.plugin_api.tenant_job("<plugin>.<job>")``. Names must start with
    ``"<plugin>."``. Jobs receive ``tenant_id`` and run inside that tenant's scope.
    """


@hookspec
def tessera_event_consumers() -> list[EventConsumer]:
    """Return the durable events this plugin consumes, each an ``EventConsumer(event,
    handler)``.

    ``handler(session, payload)`` runs as a tenant job for every event ``event`` that a
    plugin (or core) published with ``publish_event`` in a tenant that has this plugin
    enabled: after the publishing transaction committed, in the tenant's scope, in a
    transaction of its own, retried with back-off when it raises. A failing consumer never
    undoes the change that published the event.
    """


@hookspec
def tessera_note_templates() -> list[NoteTemplate]:
    """Return the clinical note templates this plugin contributes, each a
    ``NoteTemplate(key, version, title, schema, permission, billable)``.

    ``key`` is ``"<plugin>.<name>"``; ``schema`` is the JSON Schema of the note's content,
    which the notes API validates on every save (422 naming the field); ``permission`` is
    the permission object whose ``write`` a user needs to write such a note; ``billable``
    lets its notes carry service lines. A version in use is never changed: return the old
    version and a new one side by side (a note started on a template whose definition
    changed since can no longer be saved or signed). Core contributes
    ``core.progress_note`` v1 (SOAP).
    """


@hookspec
def tessera_audit_actions() -> list[str]:
    """Return the audit actions this plugin records besides core's (``read``,
    ``create``...), each ``"<plugin>.<action>"`` (``"billing.claim_submitted"``).

    ``record(session, action=...)`` refuses an action nobody declared; the audit log's
    filter offers the declared actions of every installed plugin.
    """


@hookspec
def tessera_instruments() -> list[Instrument]:
    """Return the standardized instruments (questionnaires) this plugin contributes, each a
    ``core.plugin_api.Instrument``: key, version, title, items with their answer options,
    scoring (``"sum"`` or a pure function of the answers), completeness rule
    (``min_answered``), interpretation bands, MCID and direction, alert rules, and the
    observation code (LOINC where one exists) and unit its score is stored as.

    Core validates the answers (a 422 naming each missing or wrong item), scores them on
    the server and stores the response and an observation
    (``POST /api/patients/{id}/instruments/{key}``); the chart shows the trend. An
    instrument is offered in the clinics that enabled its plugin. A malformed definition
    or a key another plugin (or core) already uses stops the boot. A version in use is
    never changed: publish a new ``version``.
    """


# ---------------------------------------------------------------------------------------
# Tenant hooks: called only for the plugins the current tenant enabled
# ---------------------------------------------------------------------------------------


@hookspec(robust=True)
def tessera_navigation(request: Request) -> list[NavItem]:
    """*Contribution.* Return entries for the main navigation of the current tenant's pages.
    Every enabled plugin's entries are shown, sorted by ``order`` then label.

    :param request: the current request (its ``tenant`` state is set).
    """


@hookspec(robust=True)
def tessera_chart_panels(patient: Any, request: Request) -> list[ChartPanel]:
    """*Contribution.* Return panels to show on a patient's chart, in ``order``.
    Every enabled plugin's panels are shown, sorted by ``order`` then title.

    :param patient: the patient whose chart is open.
    :param request: the current request.
    """


@hookspec(robust=True)
def tessera_patient_header_items(patient: Any, request: Request) -> list[HeaderItem]:
    """*Contribution.* Return short items for the patient header of the chart: alerts,
    flags, a balance due. Keep them cheap: the header shows on every chart view.
    Every enabled plugin's items are shown, sorted by ``order`` then text.

    :param patient: the patient whose chart is open (``core.patients.schemas.PatientOut``).
    :param request: the current request.
    """


@hookspec(robust=True)
def tessera_encounter_panels(encounter: Encounter, request: Request) -> list[ChartPanel]:
    """*Contribution.* Return panels for an encounter's page (``/encounters/{id}``): a
    note, vitals, charges. Rendered like chart panels, in ``order``.
    Every enabled plugin's panels are shown, sorted by ``order`` then title.

    :param encounter: the ``core.encounters.models.Encounter`` shown; read-only.
    :param request: the current request.
    """


@hookspec(robust=True)
def tessera_worklist_items(principal: Principal, session: AsyncSession, request: Request) -> list[WorkItem]:
    """*Contribution.* Return the signed-in user's open work for the "My work" page
    (``/my-work``): notes to sign, co-signatures asked of them, tasks.
    Every enabled plugin's entries are listed, grouped by ``kind``, sorted by ``due``.

    :param principal: the signed-in user (``principal.user_id``, ``principal.roles``).
    :param session: the request's session in the tenant's scope; read through it, and
        ``record`` an audit event there if the entries show patient data (the page
        commits it).
    :param request: the current request.
    """


@hookspec
def tessera_tenant_plugin_enabled(
    tenant_id: uuid.UUID, session: AsyncSession, config: dict[str, Any]
) -> None:
    """*In transaction.* Called for one plugin when a tenant enables it: seed its roles, templates, settings.

    Runs inside the tenant's scope and in the same transaction that records the enabling,
    so a failure leaves the plugin disabled. Must be idempotent: enabling again after a
    disable calls it again.

    :param tenant_id: the tenant enabling the plugin.
    :param session: the open transaction; write through it.
    :param config: the tenant's configuration of the plugin, already validated against the
        manifest's ``config_schema``.
    """


@hookspec
def tessera_tenant_plugin_disabled(tenant_id: uuid.UUID, session: AsyncSession) -> None:
    """*In transaction.* Called for one plugin when a tenant disables it. Data is kept; stop background work.

    :param tenant_id: the tenant disabling the plugin.
    :param session: the open transaction.
    """


@hookspec
def tessera_demo_data(tenant: Tenant, session: AsyncSession, hooks: TenantHooks) -> None:
    """Add demonstration data for a tenant that enabled this plugin (``make run`` seeds
    the demo tenants). Must be idempotent: it runs on every start.

    :param tenant: the demo tenant.
    :param session: an open transaction in the tenant's scope.
    :param hooks: the tenant's hook caller (``await hooks.collect(name, **kwargs)``), so
        demo data written through a plugin's own services calls the hooks a real change
        would (scheduling books through the booking checks of the tenant's plugins).
    """


@hookspec
def tessera_encounter_status_changed(
    encounter: Encounter, old_status: str, new_status: str, session: AsyncSession, hooks: TenantHooks
) -> None:
    """*In transaction.* Called when an encounter's status changes (e.g. ``arrived`` -> ``in-progress``), for
    the plugins the encounter's tenant enabled: billing queues a charge, charting opens a
    note. The allowed transitions are in ``core.encounters.status``.

    Runs inside the tenant's scope and in the same transaction as the change, after the
    new status and its history row are flushed: write through ``session`` and your rows
    commit with the change. Raising aborts the change (nothing is committed); raise a
    ``litestar.exceptions.ClientException`` with a message to refuse it with a 400, any
    other exception is a server error.
    Plugins are called in pluggy's order (``@hookimpl(tryfirst=True)`` to check before the
    others); the first to raise ends the call. For reactions that may fail or be slow,
    publish or consume a durable event instead (``publish_event``).

    :param encounter: the ``core.encounters.models.Encounter``, already showing
        ``new_status``; treat it as read-only.
    :param old_status: the status it had before.
    :param new_status: the status it has now.
    :param session: the open transaction of the change.
    :param hooks: the tenant's hook callers (``TenantHooks``), for a plugin whose reaction
        is itself news to other plugins (scheduling completes the visit's appointment and
        announces that through its own hook).
    """
