"""The patient screens (HTML + htmx) over ``core.patients.services``.

    GET  /patients                           list and search (htmx: the results fragment)
    GET  /patients/new                       the new-patient form
    POST /patients                           create (422 inline errors, 409 duplicate warning)
    GET  /patients/codes?q=                  ICD-10-CM suggestions for the problem form
    GET  /patients/{id}                      the chart
    POST /patients/{id}/allergies            add an allergy      (htmx: the panel, and the
    POST /patients/{id}/coverages            add a coverage       header badges out of band)
    POST /patients/{id}/problems             add a problem
    POST /patients/{id}/inactivate           inactivate the record (after a confirmation)

Every route that touches a patient is ``@phi_route``; the services record the audit event
in the transaction of the access. Forms work without JavaScript (a full page with the
errors, or a 303 to the chart); with htmx they answer the fragment they replace, 422/409
carrying the inline errors (``base.html`` lets htmx swap those).
"""

from __future__ import annotations

import datetime as dt
import logging
import typing
import uuid
import zoneinfo
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from markupsafe import Markup
from sqlalchemy import select

from core.audit.phi import phi_route
from core.audit.record import record
from core.authz.guards import requires
from core.encounters.models import Encounter
from core.patients import icd10, services
from core.patients import schemas as s
from core.patients.services import NotFoundError, PatientError
from core.plugin_api import DbSession
from core.practice.models import Location
from core.web.context import site_of
from core.web.extensions import header_items
from core.web.htmx import go_to, render_fragment, wants_fragment
from core.web.render import page

log = logging.getLogger("tessera.patients")

READ = [requires("core:patients", "read")]
WRITE = [requires("core:patients", "write")]
PAGE_SIZE = 20
CHART_ENCOUNTERS = 10
SEX_LABELS = {"F": "Female", "M": "Male", "X": "Another sex or intersex", "unknown": "Unknown"}
PRIORITY_ORDER = {"primary": 0, "secondary": 1, "tertiary": 2}

# -- forms ----------------------------------------------------------------------------------

LABELS = {
    "given_name": "Given name",
    "middle_name": "Middle name",
    "family_name": "Family name",
    "preferred_name": "Preferred name",
    "birth_date": "Birth date",
    "sex_at_birth": "Sex at birth",
    "gender_identity": "Gender identity",
    "pronouns": "Pronouns",
    "phone": "Phone",
    "email": "E-mail",
    "preferred_language": "Preferred language",
    "address_line1": "Address",
    "address_line2": "Address, line 2",
    "city": "City",
    "state": "State",
    "postal_code": "Postal code",
    "country": "Country",
    "substance": "Substance",
    "reaction": "Reaction",
    "severity": "Severity",
    "payer_name": "Payer",
    "member_id": "Member ID",
    "plan_name": "Plan",
    "group_number": "Group number",
    "subscriber_name": "Subscriber name",
    "subscriber_birth_date": "Subscriber birth date",
    "relationship": "Subscriber relationship",
    "priority": "Priority",
    "effective_start": "Effective from",
    "effective_end": "Effective until",
    "code": "ICD-10-CM code",
    "onset_date": "Onset date",
    "note": "Note",
    "reason": "Reason",
    "confirm": "Confirmation",
}

#: what a pattern-checked field expects, said for a person
FORMAT_HINTS = {
    "phone": "Use digits, spaces and + ( ) - . x only.",
    "email": "Enter an e-mail address such as name@example.com.",
    "country": "Use the two-letter country code, such as US.",
}

PATIENT_FIELDS = (
    "given_name",
    "middle_name",
    "family_name",
    "preferred_name",
    "birth_date",
    "sex_at_birth",
    "gender_identity",
    "pronouns",
    "phone",
    "email",
    "preferred_language",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
)


@dataclass
class FormState:
    """A form as the templates draw it: what was typed, what is wrong, what happened."""

    prefix: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: a problem not tied to one field
    message: str | None = None
    #: what the last submission did (shown in the form's live region)
    notice: str | None = None
    data: Any = None
    status_code: int = 200

    @property
    def problems(self) -> list[tuple[str, str, str]]:
        """(field id, label, message) of each error, for the summary above the form."""
        return [
            (f"{self.prefix}-{name.replace('_', '-')}", LABELS.get(name, name.replace("_", " ")), text)
            for name, text in self.errors.items()
        ]

    def fail(self, exc: PatientError) -> None:
        """Put a service error next to its field (or above the form)."""
        name = exc.extra.get("field") if exc.extra else None
        name = getattr(exc, "field", None) or name
        text = exc.message
        if name and text.startswith(f"{name}: "):
            text = text[len(name) + 2 :]
        if name and name in self.values:
            self.errors[name] = text[:1].upper() + text[1:]
        else:
            self.message = exc.message
        self.status_code = exc.status_code


def _is_date(annotation: Any) -> bool:
    return annotation is dt.date or dt.date in typing.get_args(annotation)


def _problem(name: str, info: msgspec.structs.FieldInfo, exc: msgspec.ValidationError) -> str:
    text = str(exc)
    if _is_date(info.type):
        return "Enter a date as YYYY-MM-DD, for example 1984-03-07."
    if "length <=" in text:
        return f"Use at most {text.split('length <=')[1].split()[0].strip('`')} characters."
    if "matching regex" in text:
        return FORMAT_HINTS.get(name, "This is not in the expected format.")
    if "Invalid enum value" in text:
        return "Choose one of the listed options."
    return "This value is not accepted."


def read_form(form: Any, struct_type: type[msgspec.Struct], names: tuple[str, ...], prefix: str) -> FormState:
    """Check each field of ``names`` against ``struct_type`` and collect every problem at
    once (a person fixes them all in one go); ``state.data`` is the struct when none."""
    state = FormState(prefix=prefix)
    fields = {f.name: f for f in msgspec.structs.fields(struct_type)}
    values: dict[str, Any] = {}
    for name in names:
        raw = (form.get(name) or "").strip()
        state.values[name] = raw
        info = fields[name]
        if not raw:
            if info.required:
                state.errors[name] = f"Enter the {LABELS.get(name, name).lower()}."
            continue
        try:
            values[name] = msgspec.convert(raw, info.type)
        except msgspec.ValidationError as exc:
            state.errors[name] = _problem(name, info, exc)
    for name, info in fields.items():
        if info.type is bool and name in form:
            values[name] = (form.get(name) or "").lower() in ("1", "on", "true", "yes")
    if state.errors:
        state.status_code = 422
    else:
        state.data = msgspec.convert(values, struct_type)
    return state


# -- helpers --------------------------------------------------------------------------------


def _may(request: Request, obj: str, action: str) -> bool:
    principal = request.scope["state"].get("principal")
    site = site_of(request)
    return principal is not None and request.app.state.authz.allowed(principal, site.tenant.id, obj, action)


def _today(request: Request) -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(_time_zone(request))).date()


def _time_zone(request: Request) -> str:
    return site_of(request).tenant.time_zone or "UTC"


def age(birth: dt.date, today: dt.date) -> str:
    """A person's age as a clinic says it: years from 2, months under 2, days under 1 month."""
    months = (today.year - birth.year) * 12 + today.month - birth.month - (today.day < birth.day)
    if months >= 24:
        years = months // 12
        return f"{years} years"
    if months >= 1:
        return f"{months} month{'s' if months != 1 else ''}"
    days = max((today - birth).days, 0)
    return f"{days} day{'s' if days != 1 else ''}"


def _not_found(exc: NotFoundError) -> NotFoundException:
    return NotFoundException(detail=exc.message)


def _status(template: Template, status_code: int) -> Template:
    template.status_code = status_code
    return template


# -- list and search ------------------------------------------------------------------------


@phi_route
@get("/patients", name="patients:screen:list", guards=READ, include_in_schema=False)
async def patient_list(
    request: Request,
    db_session: DbSession,
    q: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    page_number: Annotated[str | None, QueryParameter(name="page")] = None,
) -> Template:
    """Patients by name, birth date or MRN; the search is audited with its result count."""
    query = (q or "").strip()
    status = status if status in ("active", "inactive", "any") else "active"
    error = None
    number = 1
    if page_number:
        try:
            number = max(int(page_number), 1)
        except ValueError:
            error = "The page number must be a whole number."
    result = None
    if error is None:
        try:
            result = await services.search_patients(
                db_session, q=query or None, status=status, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
            )
        except PatientError as exc:
            error = exc.message.removeprefix("q: ")
            error = error[:1].upper() + error[1:]
        await db_session.commit()

    def link(to_page: int) -> str:
        args = {"q": query, "status": status, "page": to_page}
        return "/patients?" + urlencode({k: v for k, v in args.items() if v not in ("", None)})

    context = {
        "q": query,
        "status": status,
        "result": result,
        "error": error,
        "page_number": number,
        "pages": max(1, -(-result.total // PAGE_SIZE)) if result else 1,
        "link": link,
        "today": _today(request),
        "age": age,
        "can_write": _may(request, "core:patients", "write"),
    }
    code = 422 if error else 200
    if wants_fragment(request, target="patient-results"):
        return _status(
            render_fragment(request, "core/patients/_results.html", oob_status=True, **context), code
        )
    return _status(await page(request, "core/patients/list.html", page_title="Patients", **context), code)


# -- create ---------------------------------------------------------------------------------


@get("/patients/new", name="patients:screen:new", guards=WRITE, include_in_schema=False)
async def new_patient(request: Request) -> Template:
    """The empty form (no patient data is read, so nothing is audited)."""
    form = FormState(prefix="patient", values={"sex_at_birth": "unknown"})
    return await page(request, "core/patients/new.html", page_title="New patient", form=form)


@phi_route
@post("/patients", name="patients:screen:create", guards=WRITE, include_in_schema=False, status_code=200)
async def create_patient(request: Request, db_session: DbSession) -> Response:
    """Create from the form: inline errors (422), a duplicate warning (409) with a way to
    create anyway, else to the new chart."""
    submitted = await request.form()
    form = read_form(submitted, s.PatientCreate, PATIENT_FIELDS, "patient")
    form.values["confirm_duplicate"] = "1" if form.data and form.data.confirm_duplicate else ""
    duplicates: list[dict[str, Any]] = []
    if form.data is not None:
        try:
            patient = await services.create_patient(db_session, form.data)
            await db_session.commit()
        except services.ConflictError as exc:
            await db_session.rollback()
            duplicates = exc.extra.get("duplicates", [])
            form.message = "A patient with this name and birth date is already registered."
            form.status_code = 409
        except PatientError as exc:
            await db_session.rollback()
            form.fail(exc)
        else:
            return go_to(request, f"/patients/{patient.id}")
    context = {"form": form, "duplicates": duplicates}
    if wants_fragment(request):
        return _status(
            render_fragment(request, "core/patients/_patient_form.html", **context), form.status_code
        )
    return _status(
        await page(request, "core/patients/new.html", page_title="New patient", **context), form.status_code
    )


# -- ICD-10-CM suggestions ------------------------------------------------------------------


@get("/patients/codes", name="patients:screen:codes", guards=READ, include_in_schema=False)
async def code_options(
    request: Request, q: FromQuery[str | None] = None, code: FromQuery[str | None] = None
) -> Template:
    """``<option>``s of billable ICD-10-CM codes for the problem form's code field (htmx
    sends the field itself, ``code``; ``q`` is the same for other callers)."""
    query = (q or code or "").strip()[:100]
    codes = await icd10.search(query) if query else []
    return render_fragment(request, "core/patients/_code_options.html", codes=codes, q=query)


# -- the chart ------------------------------------------------------------------------------

#: the record kinds the chart lists, and the panels that can add them
CHART_KINDS = ("allergies", "coverages", "problems", "medications")


@dataclass(frozen=True)
class AddForm:
    kind: str
    struct: type[msgspec.Struct]
    fields: tuple[str, ...]
    prefix: str
    panel: str
    header: str | None
    added: str


ADD_FORMS = {
    form.kind: form
    for form in (
        AddForm(
            "allergies",
            s.AllergyIn,
            ("substance", "reaction", "severity"),
            "allergy",
            "core/patients/_allergies.html",
            "core/patients/_header_allergies.html",
            "Allergy to {substance} added.",
        ),
        AddForm(
            "coverages",
            s.CoverageIn,
            (
                "payer_name",
                "member_id",
                "plan_name",
                "group_number",
                "priority",
                "relationship",
                "subscriber_name",
                "subscriber_birth_date",
                "effective_start",
                "effective_end",
            ),
            "coverage",
            "core/patients/_coverages.html",
            "core/patients/_header_coverages.html",
            "Coverage {payer_name} ({priority}) added.",
        ),
        AddForm(
            "problems",
            s.ProblemIn,
            ("code", "onset_date", "note"),
            "problem",
            "core/patients/_problems.html",
            None,
            "Problem {code} {description} added.",
        ),
    )
}


def _blank_forms() -> dict[str, FormState]:
    forms = {kind: FormState(prefix=spec.prefix) for kind, spec in ADD_FORMS.items()}
    forms["coverages"].values.update(priority="primary", relationship="self")
    forms["inactivate"] = FormState(prefix="inactivate")
    return forms


async def _records(session, patient_id: uuid.UUID, kind: str, *, patient_known: bool = False) -> list:
    spec = services.KINDS[kind]
    rows = await services.list_records(session, spec, patient_id, patient_known=patient_known)
    return [s.to_out(spec.out, row) for row in rows]


async def _encounters(request: Request, session, patient_id: uuid.UUID) -> list[dict[str, Any]]:
    """This patient's latest visits (audited like the encounters API's list)."""
    tenant_zone = _time_zone(request)
    rows = (
        await session.execute(
            select(Encounter, Location.name, Location.time_zone)
            .join(Location, Location.id == Encounter.location_id)
            .where(Encounter.patient_id == patient_id)
            .order_by(Encounter.starts_at.desc(), Encounter.id)
            .limit(CHART_ENCOUNTERS)
        )
    ).all()
    if rows:
        await record(
            session,
            action="read",
            resource_type="core:encounters",
            patient_id=patient_id,
            detail={"encounter_ids": [str(e.id) for e, _, _ in rows], "via": "chart"},
        )
    visits = []
    for encounter, location, zone in rows:
        local = encounter.starts_at.astimezone(zoneinfo.ZoneInfo(zone or tenant_zone))
        visits.append(
            {
                "id": encounter.id,
                "start": local,
                "type": request.app.state.encounter_types.get(encounter.type, encounter.type),
                "status": encounter.status,
                "location": location,
            }
        )
    return visits


def _header_context(records: dict[str, list]) -> dict[str, Any]:
    allergies = [a for a in records.get("allergies", []) if a.status == "active"]
    coverages = sorted(
        (c for c in records.get("coverages", []) if c.status == "active"),
        key=lambda c: PRIORITY_ORDER.get(c.priority, 9),
    )
    return {"active_allergies": allergies, "active_coverages": coverages}


async def _plugin_panels(request: Request, patient: s.PatientOut) -> list[dict[str, Any]]:
    """Panels of the clinic's plugins, each rendered on its own: one plugin's broken panel
    is shown as unavailable (and logged, without patient data) instead of failing the chart."""
    hooks = site_of(request).hooks
    if hooks is None:
        return []
    try:
        panels = await hooks.collect("tessera_chart_panels", patient=patient, request=request)
    except Exception as exc:
        log.error("tessera_chart_panels failed: %s", type(exc).__name__)
        return [{"title": "Plugin panels", "html": None}]
    engine = request.app.template_engine
    held = request.scope["state"].get("session")
    rendered = []
    for panel in sorted(panels, key=lambda p: (p.order, p.title)):
        try:
            html = engine.get_template(panel.template).render(
                panel=panel,
                patient=patient,
                request=request,
                csrf_token=held[1].csrf_token if held else "",
            )
        except Exception as exc:
            log.error("chart panel %r could not be shown: %s", panel.title, type(exc).__name__)
            html = None
        # already escaped: rendered by the app's autoescaping Jinja environment
        rendered.append({"title": panel.title, "html": Markup(html) if html is not None else None})  # noqa: S704
    return rendered


async def _chart(
    request: Request, session, patient_id: uuid.UUID, forms: dict[str, FormState] | None = None
) -> Template:
    """The whole chart page; every section read here is audited by the services. A section
    the caller's roles do not read is neither read nor shown (minimum necessary)."""
    can_read = _chart_reads(request)
    try:
        patient = await services.read_patient(session, patient_id)
        records = {
            kind: await _records(session, patient_id, kind, patient_known=True)
            for kind in CHART_KINDS
            if can_read[kind]
        }
    except NotFoundError as exc:
        raise _not_found(exc) from None
    encounters = await _encounters(request, session, patient_id) if can_read["encounters"] else []
    await session.commit()
    panels = await _plugin_panels(request, patient)
    alerts = await header_items(request, patient)
    all_forms = _blank_forms()
    all_forms.update(forms or {})
    return await page(
        request,
        "core/patients/chart.html",
        page_title=f"{patient.family_name}, {patient.given_name}",
        patient=patient,
        patient_id=patient.id,
        records=records,
        encounters=encounters,
        panels=panels,
        header_items=alerts,
        forms=all_forms,
        age=age(patient.birth_date, _today(request)),
        sex=SEX_LABELS.get(patient.sex_at_birth, patient.sex_at_birth),
        can_write=_may(request, "core:patients", "write"),
        can_audit=_may(request, "core:audit", "read"),
        can_read=can_read,
        can_add=_chart_adds(request),
        **_header_context(records),
    )


def _chart_reads(request: Request) -> dict[str, bool]:
    """Which of the chart's sections the caller may read."""
    reads = {kind: _may(request, services.KINDS[kind].permission, "read") for kind in CHART_KINDS}
    reads["encounters"] = _may(request, "core:encounters", "read")
    return reads


def _chart_adds(request: Request) -> dict[str, bool]:
    """Which of the chart's add forms the caller may use."""
    return {
        kind: _may(request, services.KINDS[kind].permission, services.KINDS[kind].add_action)
        for kind in ADD_FORMS
    }


@phi_route
@get("/patients/{patient_id:uuid}", name="patients:screen:chart", guards=READ, include_in_schema=False)
async def chart(request: Request, db_session: DbSession, patient_id: FromPath[uuid.UUID]) -> Template:
    """The patient's chart: header, core's panels, plugins' panels, who accessed it."""
    return await _chart(request, db_session, patient_id)


async def _add(request: Request, session, patient_id: uuid.UUID, kind: str) -> Response:
    spec = ADD_FORMS[kind]
    permission = services.KINDS[kind].permission
    # the front desk reports an allergy (stored as patient-reported) and reads no list back
    reported_only = not _may(request, permission, "write")
    form = read_form(await request.form(), spec.struct, spec.fields, spec.prefix)
    added = None
    if form.data is not None:
        try:
            row = await services.add_record(
                session, services.KINDS[kind], patient_id, form.data, reported_only=reported_only
            )
            added = s.to_out(services.KINDS[kind].out, row)
            await session.commit()
        except NotFoundError as exc:
            raise _not_found(exc) from None
        except PatientError as exc:
            await session.rollback()
            form.fail(exc)
    if not wants_fragment(request):
        if added is not None:
            return Redirect(f"/patients/{patient_id}#{kind}", status_code=303)
        return _status(await _chart(request, session, patient_id, {kind: form}), form.status_code)
    if added is not None:
        form = _blank_forms()[kind]
        form.notice = spec.added.format(**msgspec.structs.asdict(added))
    readable = _may(request, permission, "read")
    try:
        if readable:
            records = {kind: await _records(session, patient_id, kind)}
        else:
            await services.get_patient(session, patient_id)
            records = {kind: [added] if added is not None else []}
    except NotFoundError as exc:
        raise _not_found(exc) from None
    await session.commit()
    context = {
        "patient_id": patient_id,
        "records": records,
        "forms": {kind: form},
        "can_write": True,
        "can_read": {kind: readable},
        "can_add": {kind: True},
        "panel": spec.panel,
        # on success the header's badges change too: sent out of band
        "oob": readable and added is not None and spec.header is not None,
        "oob_template": spec.header,
        **_header_context(records),
    }
    return _status(
        render_fragment(request, "core/patients/_panel_response.html", **context), form.status_code
    )


@phi_route
@post(
    "/patients/{patient_id:uuid}/allergies",
    name="patients:screen:add-allergy",
    guards=[requires("core:allergies", "report")],
    include_in_schema=False,
    status_code=200,
)
async def add_allergy(request: Request, db_session: DbSession, patient_id: FromPath[uuid.UUID]) -> Response:
    return await _add(request, db_session, patient_id, "allergies")


@phi_route
@post(
    "/patients/{patient_id:uuid}/coverages",
    name="patients:screen:add-coverage",
    guards=[requires("core:coverage", "write")],
    include_in_schema=False,
    status_code=200,
)
async def add_coverage(request: Request, db_session: DbSession, patient_id: FromPath[uuid.UUID]) -> Response:
    return await _add(request, db_session, patient_id, "coverages")


@phi_route
@post(
    "/patients/{patient_id:uuid}/problems",
    name="patients:screen:add-problem",
    guards=[requires("core:problems", "write")],
    include_in_schema=False,
    status_code=200,
)
async def add_problem(request: Request, db_session: DbSession, patient_id: FromPath[uuid.UUID]) -> Response:
    return await _add(request, db_session, patient_id, "problems")


@phi_route
@post(
    "/patients/{patient_id:uuid}/inactivate",
    name="patients:screen:inactivate",
    guards=WRITE,
    include_in_schema=False,
    status_code=200,
)
async def inactivate(request: Request, db_session: DbSession, patient_id: FromPath[uuid.UUID]) -> Response:
    """Inactivate the record once the confirmation box is ticked (nothing is deleted)."""
    try:
        await services.get_patient(db_session, patient_id, attempted="update")
    except NotFoundError as exc:
        raise _not_found(exc) from None
    submitted = await request.form()
    form = FormState(prefix="inactivate", values={"reason": (submitted.get("reason") or "").strip()})
    if (submitted.get("confirm") or "") not in ("1", "on", "yes", "true"):
        form.errors["confirm"] = "Tick the box to confirm that this record should be inactivated."
        form.status_code = 422
    elif len(form.values["reason"]) > 2000:
        form.errors["reason"] = "Use at most 2000 characters."
        form.status_code = 422
    else:
        try:
            await services.inactivate_patient(db_session, patient_id, form.values["reason"] or None)
            await db_session.commit()
        except NotFoundError as exc:
            raise _not_found(exc) from None
        except PatientError as exc:
            await db_session.rollback()
            form.fail(exc)
        else:
            return go_to(request, f"/patients/{patient_id}")
    if wants_fragment(request):
        return _status(
            render_fragment(
                request, "core/patients/_inactivate.html", patient_id=patient_id, forms={"inactivate": form}
            ),
            form.status_code,
        )
    return _status(await _chart(request, db_session, patient_id, {"inactivate": form}), form.status_code)


ROUTES: list = [
    patient_list,
    new_patient,
    create_patient,
    code_options,
    chart,
    add_allergy,
    add_coverage,
    add_problem,
    inactivate,
]
