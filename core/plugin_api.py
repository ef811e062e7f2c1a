"""The public API for plugins. Import from here, never from core's internals or from
another plugin; anything not listed may change without notice.

The shared record's models (``Patient``, ``Provider``, ``Location``, ``Encounter``) are
exported for reading and for foreign keys; change them only through the services listed
here (``create_encounter``, ``change_encounter_status``) so history, audit hooks and
other plugins see the change.
"""

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.phi import phi_route
from core.audit.record import record
from core.auth.guards import public, requires_login
from core.auth.principal import current_principal
from core.authz.guards import may, requires
from core.db.base import Base, TenantModel, TenantScoped, new_id, utcnow
from core.db.rls import grant_global_table, protect_tenant_table
from core.encounters.models import ENCOUNTER_TYPES, Encounter
from core.encounters.services import change_status as change_encounter_status
from core.encounters.services import create_encounter
from core.jobs.outbox import enqueue_job, withdraw_job
from core.jobs.tenant_job import tenant_job
from core.patients.models import Patient
from core.patients.services import search_patients
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl, hookspec
from core.plugins.types import ChartPanel, NavItem, Permission
from core.practice.clinic import clinic_time_zone, location_time_zone, stored_plugin_config
from core.practice.models import Location, Provider, ProviderLocation
from core.practice.services import provider_names
from core.tenancy.context import current_tenant_id, require_tenant_id, tenant_scope
from core.tenancy.sites import ClinicSite, clinic_site
from core.web.context import SiteContext, plugin_config, site_of
from core.web.inputs import (
    InputErrors,
    date_problem,
    errors_by_field,
    field_error,
    parse_bound,
    parse_date,
    parse_instant,
    parse_limit,
    parse_offset,
    parse_time,
    parse_uuid,
    raise_errors,
)
from core.web.inputs import Reader as InputReader
from core.web.listing import Listing, fetch_page, filter_listing
from core.web.render import page

#: Annotate a handler parameter ``db_session: DbSession`` to receive the request's
#: session, already in the tenant's scope. Commit what you change.
DbSession = NamedDependency[AsyncSession]

__all__ = [
    "ENCOUNTER_TYPES",
    "Base",
    "ChartPanel",
    "ClinicSite",
    "DbSession",
    "Encounter",
    "InputErrors",
    "InputReader",
    "Listing",
    "Location",
    "Manifest",
    "NavItem",
    "Patient",
    "Permission",
    "Provider",
    "ProviderLocation",
    "SiteContext",
    "TenantModel",
    "TenantScoped",
    "change_encounter_status",
    "clinic_site",
    "clinic_time_zone",
    "create_encounter",
    "current_principal",
    "current_tenant_id",
    "date_problem",
    "enqueue_job",
    "errors_by_field",
    "fetch_page",
    "field_error",
    "filter_listing",
    "grant_global_table",
    "hookimpl",
    "hookspec",
    "location_time_zone",
    "may",
    "new_id",
    "page",
    "parse_bound",
    "parse_date",
    "parse_instant",
    "parse_limit",
    "parse_offset",
    "parse_time",
    "parse_uuid",
    "phi_route",
    "plugin_config",
    "protect_tenant_table",
    "provider_names",
    "public",
    "raise_errors",
    "record",
    "require_tenant_id",
    "requires",
    "requires_login",
    "search_patients",
    "site_of",
    "stored_plugin_config",
    "tenant_job",
    "tenant_scope",
    "utcnow",
    "withdraw_job",
]
