"""Core's own behaviours, registered as an ordinary plugin (core dogfoods its hooks)."""

from __future__ import annotations

from pathlib import Path

from core import __version__
from core.auth.models import ROLE_NAMES
from core.encounters.models import ENCOUNTER_TYPES
from core.notes.contract import NoteTemplate
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.types import EncounterType, NavItem, Permission, Role

HERE = Path(__file__).parent

manifest = Manifest(
    name="core",
    version=__version__,
    title="Tessera core",
    description="The kernel's own pages, templates and static files.",
    core=f"=={__version__}",
)


@hookimpl
def tessera_routes():
    from core.audit import routes as audit
    from core.auth import routes as auth
    from core.authz import routes as authz
    from core.encounters import routes as encounters
    from core.encounters import screens as encounter_screens
    from core.instruments import routes as instruments
    from core.notes import routes as notes
    from core.patients import routes as patients
    from core.patients import screens as patient_screens
    from core.platform import plugins_page
    from core.platform import routes as platform
    from core.practice import routes as practice
    from core.tenant_settings import routes as tenant_settings
    from core.web import my_work
    from core.web.pages import health, home

    return [
        home,
        health,
        *auth.ROUTES,
        *authz.ROUTES,
        *audit.ROUTES,
        *patients.ROUTES,
        *patient_screens.ROUTES,
        *practice.ROUTES,
        *encounters.ROUTES,
        *encounter_screens.ROUTES,
        *notes.ROUTES,
        *instruments.ROUTES,
        *my_work.ROUTES,
        *tenant_settings.ROUTES,
        *platform.ROUTES,
        *plugins_page.ROUTES,
    ]


@hookimpl
def tessera_template_dirs():
    return [HERE / "web" / "templates"]


@hookimpl
def tessera_static_dirs():
    return [HERE / "web" / "static" / "core"]


def _my_work_entry(request) -> list[NavItem]:
    """ "My work" appears for a user who writes notes (core lists their drafts to sign)
    and once a plugin of the clinic contributes worklist entries."""
    from core.authz.guards import may
    from core.web.context import site_of

    hooks = site_of(request).hooks if request is not None else None
    if hooks is None:
        return []
    by_plugins = [name for name, _ in hooks.implementations("tessera_worklist_items") if name != "core"]
    if not by_plugins and not may(request, "core:notes", "write"):
        return []
    return [NavItem(label="My work", href="/my-work", order=20)]


@hookimpl
def tessera_navigation(request):
    return [
        NavItem(label="Home", href="/", order=0),
        NavItem(label="Patients", href="/patients", order=10, permission="core:patients"),
        *_my_work_entry(request),
        NavItem(label="Users", href="/users", order=900, permission="core:users"),
        NavItem(label="Audit log", href="/audit", order=910, permission="core:audit"),
        NavItem(label="Settings", href="/settings", order=920, permission="core:settings"),
        NavItem(label="My account", href="/account/sessions", order=990),
    ]


@hookimpl(tryfirst=True)  # before the plugins' demo data, which builds on core's
async def tessera_demo_data(tenant, session):
    """Core's demo data for the demo clinics of ``make run`` (``core/demo.py``)."""
    from core.demo import add_demo_data

    await add_demo_data(tenant, session)


@hookimpl
def tessera_instruments():
    """Core's own instrument: the numeric pain rating scale (specialty plugins add theirs)."""
    from core.instruments.nprs import NPRS

    return [NPRS]


@hookimpl
async def tessera_chart_panels(patient, request):
    """The "Measures" panel: a trend chart per measure the patient has values of."""
    from core.instruments.panel import measures_panel

    return await measures_panel(patient, request)


@hookimpl
async def tessera_patient_header_items(patient, request):
    """The alerts of the patient's latest instrument responses (e.g. a safety item answered)."""
    from core.instruments.panel import alert_items

    return await alert_items(patient, request)


@hookimpl
def tessera_jobs():
    from core.messaging.sending import send_message
    from core.plugins.events import JOBS

    return [*JOBS, send_message]


@hookimpl
def tessera_roles():
    """Core's roles, the built-in entries of the role vocabulary (their grants come from
    each permission's ``default_grants``; the owner holds every permission)."""
    titles = {
        "owner": ("Owner", "Runs the clinic: every permission, including users and settings"),
        "clinician": ("Clinician", "Sees patients and charts their visits"),
        "front_desk": ("Front desk", "Registers patients and books and checks in visits"),
        "biller": ("Biller", "Reads what is needed to bill"),
        "auditor": ("Auditor", "Reads and exports the audit log"),
    }
    return [Role(name, *titles[name]) for name in ROLE_NAMES]


@hookimpl
def tessera_encounter_types():
    """Core's kinds of visit, the built-in entries of the encounter-type vocabulary."""
    return [EncounterType(code, title) for code, title in ENCOUNTER_TYPES.items()]


@hookimpl
def tessera_permissions():
    return [
        Permission("core:users", ("read", "write"), "See and manage the clinic's users and roles"),
        Permission("core:settings", ("read", "write"), "Clinic settings: profile, session and MFA policy"),
        # Minimum necessary (docs/security.md, "Role matrix"): the record is split by who
        # needs which part. The front desk keeps demographics and coverage and may only
        # *report* an allergy the patient states at intake; the biller sees demographics,
        # coverage and diagnoses (the problem list), not allergies or medications.
        Permission(
            "core:patients",
            ("read", "write"),
            "Patient demographics and contacts; merge and inactivate records",
            default_grants={
                "clinician": ("read", "write"),
                "front_desk": ("read", "write"),
                "biller": ("read",),
            },
        ),
        Permission(
            "core:coverage",
            ("read", "write"),
            "Insurance coverage of a patient",
            default_grants={"clinician": ("read",), "front_desk": ("read", "write"), "biller": ("read",)},
        ),
        Permission(
            "core:problems",
            ("read", "write"),
            "Problem list (diagnoses, ICD-10-CM)",
            default_grants={"clinician": ("read", "write"), "biller": ("read",)},
        ),
        Permission(
            "core:allergies",
            ("read", "write", "report"),
            "Allergies; 'report' adds one the patient states, marked patient-reported for a clinician to confirm",
            default_grants={"clinician": ("read", "write", "report"), "front_desk": ("report",)},
        ),
        Permission(
            "core:medications",
            ("read", "write"),
            "Medication list",
            default_grants={"clinician": ("read", "write")},
        ),
        Permission(
            "core:encounters",
            ("read", "write"),
            "Visits and their status",
            default_grants={
                "clinician": ("read", "write"),
                "front_desk": ("read", "write"),
                "biller": ("read",),
            },
        ),
        Permission(
            "core:notes",
            ("read", "write", "sign"),
            "Clinical notes: read, write drafts, sign them and add addenda",
            default_grants={"clinician": ("read", "write", "sign")},
        ),
        Permission(
            "core:practice",
            ("read", "write"),
            "Locations and providers",
            default_grants={"clinician": ("read",), "front_desk": ("read",), "biller": ("read",)},
        ),
        Permission(
            "core:observations",
            ("read", "write"),
            "Instrument responses (questionnaires) and measured values (observations)",
            default_grants={"clinician": ("read", "write")},
        ),
        Permission(
            "core:audit",
            ("read", "export"),
            "Read and export the audit log",
            default_grants={"auditor": ("read", "export")},
        ),
    ]


_TEXT = {"type": "string", "maxLength": 20000}

#: core's general note, so a clinic can document without a specialty plugin
PROGRESS_NOTE = NoteTemplate(
    key="core.progress_note",
    version=1,
    title="Progress note",
    description="A general SOAP note: subjective, objective, assessment, plan.",
    schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "subjective": {**_TEXT, "title": "Subjective"},
            "objective": {**_TEXT, "title": "Objective"},
            "assessment": {**_TEXT, "title": "Assessment"},
            "plan": {**_TEXT, "title": "Plan"},
        },
        "required": ["assessment", "plan"],
        "additionalProperties": False,
    },
    permission="core:notes",
    billable=True,
)


@hookimpl
def tessera_note_templates():
    """Core's general progress note (SOAP)."""
    return [PROGRESS_NOTE]


@hookimpl
async def tessera_worklist_items(principal, session, request):
    """The user's own drafts, as "Notes to sign"."""
    from core.authz.guards import may
    from core.notes.worklist import drafts_to_sign

    if request is None or not may(request, "core:notes", "write"):
        return []
    return await drafts_to_sign(principal, session, request)
