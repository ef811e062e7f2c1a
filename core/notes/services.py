"""Writing, signing and amending notes: input reading, template lookup and content
validation, optimistic locking, the hash and the durable events of signing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import jsonschema
from litestar.exceptions import ClientException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.encounters.models import Encounter
from core.notes.contract import (
    NOTE_SIGNED,
    SERVICES_READY_TO_BILL,
    NoteTemplate,
    content_sha256,
    read_service_line,
)
from core.notes.models import DRAFT, LATE_AFTER, SIGNED, ClinicalNote, NoteAddendum
from core.plugins.events import publish_event
from core.practice.models import Provider
from core.web.inputs import InputErrors, Reader, field_error, raise_errors

CREATE_FIELDS = {"patient_id", "encounter_id", "template", "template_version", "content", "service_lines"}
UPDATE_FIELDS = {"version", "content", "service_lines"}
MAX_LINES = 50
MAX_ADDENDUM = 20_000


class Conflict(ClientException):
    status_code = 409


class Invalid(InputErrors):
    """Bad input: 422, ``extra`` listing each field and what is wrong with it."""

    status_code = 422


class NoteReader(Reader):
    failure = Invalid


def invalid(field: str, reason: str) -> Invalid:
    return field_error(field, reason, Invalid)


def refuse(errors: list[dict[str, str]]) -> None:
    raise_errors(errors, Invalid)


def _content_path(error: jsonschema.ValidationError) -> str:
    path = "content"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def content_errors(template: NoteTemplate, content: Any) -> list[dict[str, str]]:
    """The content's problems against the template's schema, each naming its field
    (``content.assessment``; a missing property is named itself, with "required")."""
    if not isinstance(content, dict):
        return [{"field": "content", "reason": "send a JSON object"}]
    validator = jsonschema.Draft202012Validator(template.schema)
    errors = []
    for error in sorted(validator.iter_errors(content), key=lambda e: list(map(str, e.absolute_path))):
        field = _content_path(error)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [name for name in error.validator_value if name not in error.instance]
            errors += [{"field": f"{field}.{name}", "reason": "required"} for name in missing]
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            extra = sorted(name for name in error.instance if name not in allowed)
            errors += [
                {"field": f"{field}.{name}", "reason": "not a field of this template"} for name in extra
            ]
            continue
        errors.append({"field": field, "reason": error.message})
    return errors


def find_template(
    templates: dict[tuple[str, int], NoteTemplate], key: str, version: int | None
) -> NoteTemplate:
    """The installed template ``key`` at ``version`` (the newest when ``None``), or a 422."""
    versions = sorted(v for k, v in templates if k == key)
    if not versions:
        known = ", ".join(sorted({k for k, _ in templates})) or "none"
        raise invalid("template", f"unknown template; the installed ones are {known}")
    if version is None:
        version = versions[-1]
    if version not in versions:
        raise invalid("template_version", f"{key} has versions {', '.join(str(v) for v in versions)}")
    return templates[(key, version)]


async def read_service_lines(
    session: AsyncSession, template: NoteTemplate, data: Any
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The note's service lines as stored (JSON), or the problems, each naming its field."""
    if data is None:
        return [], []
    if not template.billable:
        return [], [{"field": "service_lines", "reason": f"{template.key} notes carry no billable services"}]
    if not isinstance(data, list) or len(data) > MAX_LINES:
        return [], [{"field": "service_lines", "reason": f"must be a list of at most {MAX_LINES} lines"}]
    lines, errors = [], []
    for index, item in enumerate(data):
        line, problems = read_service_line(item, f"service_lines[{index}]")
        errors += problems
        if line is not None:
            lines.append(line)
    if errors:
        return [], errors
    wanted = {line.rendering_provider_id for line in lines}
    if wanted:
        known = set(await session.scalars(select(Provider.id).where(Provider.id.in_(wanted))))
        for index, line in enumerate(lines):
            if line.rendering_provider_id not in known:
                errors.append(
                    {
                        "field": f"service_lines[{index}].rendering_provider_id",
                        "reason": "no such provider in this clinic",
                    }
                )
    return [line.as_json() for line in lines], errors


def read_create(data: Any) -> dict[str, Any]:
    reader = NoteReader(data, allowed=CREATE_FIELDS)
    values = {
        "patient_id": reader.uuid("patient_id", required=True),
        "encounter_id": reader.uuid("encounter_id"),
        "template": reader.text("template", required=True, max_length=64),
        "template_version": reader.integer("template_version", low=1, high=10_000),
    }
    if not reader.has("content"):
        reader.error("content", "required")
    reader.raise_if_any()
    values["content"] = reader.data["content"]
    values["service_lines"] = reader.data.get("service_lines")
    return values


def read_update(data: Any) -> dict[str, Any]:
    reader = NoteReader(data, allowed=UPDATE_FIELDS)
    version = reader.integer("version", low=1, high=2**31 - 1, required=True)
    if not reader.has("content") and not reader.has("service_lines"):
        reader.error("content", "send the content, the service lines or both")
    reader.raise_if_any()
    values: dict[str, Any] = {"version": version}
    if reader.has("content"):
        values["content"] = reader.data["content"]
    if reader.has("service_lines"):
        values["service_lines"] = reader.data["service_lines"]
    return values


def installed_template(templates: dict[tuple[str, int], NoteTemplate], note: ClinicalNote) -> NoteTemplate:
    """The note's template as installed now; 409 when it is gone or was changed in place."""
    template = templates.get((note.template_key, note.template_version))
    if template is None:
        raise Conflict(
            detail=f"The template {note.template_key} v{note.template_version} of this note is not "
            "installed any more; the note cannot be changed or signed."
        )
    if template.fingerprint != note.template_sha256:
        raise Conflict(
            detail=f"The template {note.template_key} v{note.template_version} changed since this note "
            "was started; a template version in use must not change (its plugin adds a new version)."
        )
    return template


def check_editable(note: ClinicalNote, version: int | None) -> None:
    if note.status == SIGNED:
        raise Conflict(detail="This note is signed and can no longer be changed; add an addendum instead.")
    if version is not None and version != note.version:
        raise Conflict(
            detail=f"This note was saved elsewhere since you loaded it (you have version {version}, "
            f"the saved one is version {note.version}); reload it and make your change again."
        )


async def check_encounter(session: AsyncSession, patient_id: uuid.UUID, encounter_id: uuid.UUID) -> None:
    """422 unless the encounter is this clinic's and the patient's (the tenant scope hides
    another clinic's, so it reads as unknown)."""
    encounter = await session.scalar(select(Encounter).where(Encounter.id == encounter_id))
    if encounter is None:
        raise invalid("encounter_id", "no such encounter in this clinic")
    if encounter.patient_id != patient_id:
        raise invalid("encounter_id", "this encounter is another patient's")


async def create_note(
    session: AsyncSession, template: NoteTemplate, values: dict[str, Any], author_id: uuid.UUID
) -> ClinicalNote:
    errors = content_errors(template, values["content"])
    lines, line_errors = await read_service_lines(session, template, values["service_lines"])
    refuse(errors + line_errors)
    note = ClinicalNote(
        patient_id=values["patient_id"],
        encounter_id=values["encounter_id"],
        template_key=template.key,
        template_version=template.version,
        template_sha256=template.fingerprint,
        author_user_id=author_id,
        status=DRAFT,
        content=values["content"],
        service_lines=lines,
        version=1,
    )
    session.add(note)
    await session.flush()
    return note


async def update_note(
    session: AsyncSession, template: NoteTemplate, note: ClinicalNote, values: dict[str, Any]
) -> list[str]:
    """Apply a checked save; returns the fields that changed."""
    errors = content_errors(template, values["content"]) if "content" in values else []
    lines, line_errors = (
        await read_service_lines(session, template, values["service_lines"])
        if "service_lines" in values
        else (note.service_lines, [])
    )
    refuse(errors + line_errors)
    changed = []
    if "content" in values and values["content"] != note.content:
        note.content = values["content"]
        changed.append("content")
    if "service_lines" in values and lines != note.service_lines:
        note.service_lines = lines
        changed.append("service_lines")
    note.version += 1
    await session.flush()
    return changed


async def visit_time(session: AsyncSession, note: ClinicalNote) -> dt.datetime:
    """When the documented visit ended (the note's start without an encounter)."""
    if note.encounter_id is not None:
        ends = await session.scalar(select(Encounter.ends_at).where(Encounter.id == note.encounter_id))
        if ends is not None:
            return ends
    return note.created_at


async def sign_note(
    session: AsyncSession, template: NoteTemplate, note: ClinicalNote, signer_id: uuid.UUID
) -> None:
    """Sign ``note``: the hash of its canonical content, the signer, the late-entry mark,
    and the durable events (published in this transaction, consumed after it commits)."""
    refuse(content_errors(template, note.content))
    visited = await visit_time(session, note)  # before any change: one UPDATE signs the row
    now = dt.datetime.now(dt.UTC)
    note.status = SIGNED
    note.signed_at = now
    note.signed_by_user_id = signer_id
    note.content_sha256 = content_sha256(note.content)
    note.late_entry = now - visited > LATE_AFTER
    note.version += 1
    await session.flush()
    common = {
        "note_id": str(note.id),
        "patient_id": str(note.patient_id),
        "encounter_id": str(note.encounter_id) if note.encounter_id else None,
    }
    await publish_event(
        session,
        NOTE_SIGNED,
        {
            **common,
            "template": note.template_key,
            "template_version": note.template_version,
            "signed_by_user_id": str(signer_id),
            "content_sha256": note.content_sha256,
            "late_entry": note.late_entry,
        },
    )
    if template.billable and note.service_lines:
        await publish_event(session, SERVICES_READY_TO_BILL, {**common, "lines": note.service_lines})


async def add_addendum(
    session: AsyncSession, note: ClinicalNote, data: Any, signer_id: uuid.UUID
) -> NoteAddendum:
    reader = NoteReader(data, allowed={"text"})
    body = reader.text("text", required=True, max_length=MAX_ADDENDUM)
    reader.raise_if_any()
    if note.status != SIGNED:
        raise Conflict(detail="Only a signed note takes addenda; change the draft itself instead.")
    content = {"text": body}
    addendum = NoteAddendum(
        note_id=note.id,
        content=content,
        content_sha256=content_sha256(content),
        signed_by_user_id=signer_id,
        signed_at=dt.datetime.now(dt.UTC),
    )
    session.add(addendum)
    await session.flush()
    return addendum


async def addenda_of(session: AsyncSession, note_id: uuid.UUID) -> list[NoteAddendum]:
    rows = await session.scalars(
        select(NoteAddendum).where(NoteAddendum.note_id == note_id).order_by(NoteAddendum.signed_at)
    )
    return list(rows)


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def addendum_json(addendum: NoteAddendum) -> dict[str, Any]:
    return {
        "id": str(addendum.id),
        "note_id": str(addendum.note_id),
        "text": addendum.content.get("text"),
        "content_sha256": addendum.content_sha256,
        "signed_by_user_id": str(addendum.signed_by_user_id),
        "signed_at": _when(addendum.signed_at),
    }


def note_json(
    note: ClinicalNote,
    templates: dict[tuple[str, int], NoteTemplate],
    addenda: list[NoteAddendum] | None = None,
) -> dict[str, Any]:
    template = templates.get((note.template_key, note.template_version))
    out = {
        "id": str(note.id),
        "patient_id": str(note.patient_id),
        "encounter_id": str(note.encounter_id) if note.encounter_id else None,
        "template": {
            "key": note.template_key,
            "version": note.template_version,
            "title": template.title if template else note.template_key,
        },
        "author_user_id": str(note.author_user_id),
        "status": note.status,
        "content": note.content,
        "service_lines": note.service_lines,
        "version": note.version,
        "signed_at": _when(note.signed_at),
        "signed_by_user_id": str(note.signed_by_user_id) if note.signed_by_user_id else None,
        "content_sha256": note.content_sha256,
        "late_entry": note.late_entry,
        "created_at": _when(note.created_at),
        "updated_at": _when(note.updated_at),
    }
    if addenda is not None:
        out["addenda"] = [addendum_json(a) for a in addenda]
    return out
