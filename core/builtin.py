"""Core's own behaviours, registered as an ordinary plugin (core dogfoods its hooks)."""

from __future__ import annotations

from pathlib import Path

from core import __version__
from core.auth.models import ROLE_NAMES
from core.encounters.models import ENCOUNTER_TYPES
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
    from core.patients import routes as patients
    from core.patients import screens as patient_screens
    from core.platform import routes as platform
    from core.practice import routes as practice
    from core.tenant_settings import routes as tenant_settings
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
        *tenant_settings.ROUTES,
        *platform.ROUTES,
    ]


@hookimpl
def tessera_template_dirs():
    return [HERE / "web" / "templates"]


@hookimpl
def tessera_static_dirs():
    return [HERE / "web" / "static" / "core"]


@hookimpl
def tessera_navigation(request):
    return [
        NavItem(label="Home", href="/", order=0),
        NavItem(label="Patients", href="/patients", order=10, permission="core:patients"),
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
        Permission(
            "core:patients",
            ("read", "write"),
            "Patient records: demographics, coverage, allergies, problems, medications",
            default_grants={
                "clinician": ("read", "write"),
                "front_desk": ("read", "write"),
                "biller": ("read",),
            },
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
            "core:practice",
            ("read", "write"),
            "Locations and providers",
            default_grants={"clinician": ("read",), "front_desk": ("read",), "biller": ("read",)},
        ),
        Permission(
            "core:audit",
            ("read", "export"),
            "Read and export the audit log",
            default_grants={"auditor": ("read", "export")},
        ),
    ]
