"""The public API for plugins. Import from here, never from core's internals or from
another plugin; anything not listed may change without notice.

The notes contract (``NoteTemplate``, ``ServiceLine``, the events ``NOTE_SIGNED`` and
``SERVICES_READY_TO_BILL``, ``content_sha256``) is in docs/plugins.md, "Clinical notes".

The shared record's models (``Patient``, ``Provider``, ``Location``, ``Encounter``) are
exported for reading and for foreign keys; change them only through the services listed
here (``create_encounter``, ``change_encounter_status``) so history, audit hooks and
other plugins see the change.
"""

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.lookup import find_or_404
from core.audit.phi import phi_route
from core.audit.record import record
from core.auth.guards import public, requires_login
from core.auth.principal import current_principal
from core.authz.guards import may, requires
from core.db.base import Base, TenantModel, TenantScoped, Timestamps, new_id, utcnow
from core.db.rls import grant_global_table, protect_tenant_table
from core.encounters.models import ENCOUNTER_TYPES, Encounter
from core.encounters.services import change_status as change_encounter_status
from core.encounters.services import create_encounter, encounter_types
from core.instruments.services import add_observation
from core.instruments.services import list_observations as patient_observations
from core.instruments.types import LOINC, AlertRule, Band, Instrument, Item, Option
from core.jobs.outbox import enqueue_job, withdraw_job
from core.jobs.tenant_job import tenant_job
from core.messaging.recorded import messages_folder, recorded_messages
from core.messaging.sending import Delivered, deliver, outgoing, send_email_later, send_text_later
from core.messaging.transports import (
    Email,
    TextMessage,
    TransportError,
    Transports,
    plausible_email,
    transports_for,
)
from core.notes.contract import (
    NOTE_SIGNED,
    SERVICES_READY_TO_BILL,
    NoteTemplate,
    ServiceLine,
    canonical_json,
    content_sha256,
)
from core.patients.models import Patient
from core.patients.services import search_patients
from core.plugins.events import EventConsumer, publish_event
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl, hookspec
from core.plugins.registry import TenantHooks
from core.plugins.settings import PluginSetting, plugin_settings
from core.plugins.types import (
    Action,
    ChartPanel,
    EncounterType,
    HeaderItem,
    NavItem,
    Permission,
    Role,
    WorkItem,
)
from core.practice.clinic import clinic_time_zone, location_time_zone, stored_plugin_config
from core.practice.models import Location, Provider, ProviderLocation
from core.practice.services import provider_names
from core.tenancy.context import current_tenant_id, require_tenant_id, tenant_scope
from core.tenancy.sites import ClinicSite, clinic_site
from core.web.accessors import (
    app_settings,
    csrf_token,
    job_database,
    job_settings,
    request_db_session,
    request_id,
    request_principal,
)
from core.web.context import SiteContext, plugin_config, site_of
from core.web.htmx import go_to, htmx_details, is_htmx, render_fragment, retarget, wants_fragment
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
from core.web.render import form_page, page
from core.web.signed import SignatureError, sign_token, unsign_token, urlsafe_b64

#: Annotate a handler parameter ``db_session: DbSession`` to receive the request's
#: session, already in the tenant's scope. Commit what you change.
DbSession = NamedDependency[AsyncSession]

__all__ = [
    "ENCOUNTER_TYPES",
    "LOINC",
    "NOTE_SIGNED",
    "SERVICES_READY_TO_BILL",
    "Action",
    "AlertRule",
    "Band",
    "Base",
    "ChartPanel",
    "ClinicSite",
    "DbSession",
    "Delivered",
    "Email",
    "Encounter",
    "EncounterType",
    "EventConsumer",
    "HeaderItem",
    "InputErrors",
    "InputReader",
    "Instrument",
    "Item",
    "Listing",
    "Location",
    "Manifest",
    "NavItem",
    "NoteTemplate",
    "Option",
    "Patient",
    "Permission",
    "PluginSetting",
    "Provider",
    "ProviderLocation",
    "Role",
    "ServiceLine",
    "SignatureError",
    "SiteContext",
    "TenantHooks",
    "TenantModel",
    "TenantScoped",
    "TextMessage",
    "Timestamps",
    "TransportError",
    "Transports",
    "WorkItem",
    "add_observation",
    "app_settings",
    "canonical_json",
    "change_encounter_status",
    "clinic_site",
    "clinic_time_zone",
    "content_sha256",
    "create_encounter",
    "csrf_token",
    "current_principal",
    "current_tenant_id",
    "date_problem",
    "deliver",
    "encounter_types",
    "enqueue_job",
    "errors_by_field",
    "fetch_page",
    "field_error",
    "filter_listing",
    "find_or_404",
    "form_page",
    "go_to",
    "grant_global_table",
    "hookimpl",
    "hookspec",
    "htmx_details",
    "is_htmx",
    "job_database",
    "job_settings",
    "location_time_zone",
    "may",
    "messages_folder",
    "new_id",
    "outgoing",
    "page",
    "parse_bound",
    "parse_date",
    "parse_instant",
    "parse_limit",
    "parse_offset",
    "parse_time",
    "parse_uuid",
    "patient_observations",
    "phi_route",
    "plausible_email",
    "plugin_config",
    "plugin_settings",
    "protect_tenant_table",
    "provider_names",
    "public",
    "publish_event",
    "raise_errors",
    "record",
    "recorded_messages",
    "render_fragment",
    "request_db_session",
    "request_id",
    "request_principal",
    "require_tenant_id",
    "requires",
    "requires_login",
    "retarget",
    "search_patients",
    "send_email_later",
    "send_text_later",
    "sign_token",
    "site_of",
    "stored_plugin_config",
    "tenant_job",
    "tenant_scope",
    "transports_for",
    "unsign_token",
    "urlsafe_b64",
    "utcnow",
    "wants_fragment",
    "withdraw_job",
]
