"""The notes contract plugins build on (exported from ``core.plugin_api``).

* ``NoteTemplate``: what a plugin contributes with ``tessera_note_templates``. A template
  is identified by ``(key, version)``; a version in use is never changed: a plugin that
  needs other fields adds a new version and keeps the old one installed.
* ``ServiceLine``: one billable service a note of a ``billable`` template carries; on
  signing, the lines are published with the durable event ``core.services_ready_to_bill``.
* ``canonical_json`` / ``content_sha256``: how a signed note's content is hashed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

#: the durable events core publishes when a note is signed (``publish_event``)
NOTE_SIGNED = "core.note_signed"
SERVICES_READY_TO_BILL = "core.services_ready_to_bill"

_TEMPLATE_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]{1,62}$")


@dataclass(frozen=True)
class NoteTemplate:
    """A kind of clinical note a plugin contributes.

    ``key`` is ``"<plugin>.<name>"`` (``"core.progress_note"``) and ``version`` a positive
    whole number; ``schema`` is the JSON Schema (draft 2020-12) of the note's content;
    ``permission`` is the permission object whose ``write`` a user needs to write such a
    note (besides ``core:notes``); ``billable`` says whether its notes may carry service
    lines.
    """

    key: str
    version: int
    title: str
    schema: dict[str, Any]
    permission: str = "core:notes"
    billable: bool = False
    description: str = ""

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the template's definition: a note remembers the one it was started
        with, and refuses to be saved or signed once an installed version differs."""
        return content_sha256(
            {
                "key": self.key,
                "version": self.version,
                "schema": self.schema,
                "permission": self.permission,
                "billable": self.billable,
            }
        )


CODE_SYSTEMS = ("CPT", "HCPCS")
_CODES = {
    "CPT": re.compile(r"^[0-9]{4}[0-9FTU]$"),
    "HCPCS": re.compile(r"^[A-V][0-9]{4}$"),
}
_MODIFIER = re.compile(r"^[0-9A-Z]{2}$")
_ICD10 = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")
_POS = re.compile(r"^[0-9]{2}$")
LINE_FIELDS = {
    "code_system",
    "code",
    "modifiers",
    "minutes",
    "units",
    "diagnosis_codes",
    "rendering_provider_id",
    "service_date",
    "place_of_service",
}


@dataclass(frozen=True)
class ServiceLine:
    """One billable service of a signed note.

    ``minutes`` for a timed code, ``units`` for an untimed one (exactly one of them);
    ``diagnosis_codes`` are ICD-10-CM codes in the order they point to the service;
    ``rendering_provider_id`` is a ``Provider`` of the clinic; ``place_of_service`` a CMS
    place-of-service code.
    """

    code_system: str
    code: str
    diagnosis_codes: tuple[str, ...]
    rendering_provider_id: uuid.UUID
    service_date: dt.date
    place_of_service: str
    modifiers: tuple[str, ...] = ()
    minutes: int | None = None
    units: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "code_system": self.code_system,
            "code": self.code,
            "modifiers": list(self.modifiers),
            "minutes": self.minutes,
            "units": self.units,
            "diagnosis_codes": list(self.diagnosis_codes),
            "rendering_provider_id": str(self.rendering_provider_id),
            "service_date": self.service_date.isoformat(),
            "place_of_service": self.place_of_service,
        }


def _whole(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def read_service_line(data: Any, where: str) -> tuple[ServiceLine | None, list[dict[str, str]]]:
    """A ``ServiceLine`` from JSON, or the problems, each naming its field
    (``service_lines[0].code``)."""
    errors: list[dict[str, str]] = []

    def bad(name: str, reason: str) -> None:
        errors.append({"field": f"{where}.{name}", "reason": reason})

    if not isinstance(data, dict):
        return None, [{"field": where, "reason": "send a JSON object"}]
    for key in sorted(set(data) - LINE_FIELDS):
        bad(str(key), f"unknown field; the fields are {', '.join(sorted(LINE_FIELDS))}")
    system = data.get("code_system")
    if system not in CODE_SYSTEMS:
        bad("code_system", "must be CPT or HCPCS")
    code = data.get("code")
    if not isinstance(code, str) or (system in _CODES and not _CODES[system].match(code)):
        bad("code", "must be a CPT code (5 characters, e.g. 97110) or an HCPCS code (e.g. G0283)")
    modifiers = data.get("modifiers") or []
    if not isinstance(modifiers, list) or len(modifiers) > 4:
        bad("modifiers", "must be a list of at most 4 modifiers")
        modifiers = []
    elif not all(isinstance(m, str) and _MODIFIER.match(m) for m in modifiers):
        bad("modifiers", "each modifier is 2 capital letters or digits (e.g. GP, 59)")
    minutes, units = data.get("minutes"), data.get("units")
    if (minutes is None) == (units is None):
        bad("minutes", "give minutes (a timed code) or units (an untimed code), not both")
    elif minutes is not None and _whole(minutes, 1, 1440) is None:
        bad("minutes", "must be a whole number from 1 to 1440")
    elif units is not None and _whole(units, 1, 999) is None:
        bad("units", "must be a whole number from 1 to 999")
    diagnoses = data.get("diagnosis_codes")
    if not isinstance(diagnoses, list) or not 1 <= len(diagnoses) <= 12:
        bad("diagnosis_codes", "must list 1 to 12 ICD-10-CM codes, in order")
        diagnoses = []
    elif not all(isinstance(c, str) and _ICD10.match(c) for c in diagnoses):
        bad("diagnosis_codes", "each must be an ICD-10-CM code (e.g. M25.561)")
    elif len(set(diagnoses)) != len(diagnoses):
        bad("diagnosis_codes", "lists a code twice")
    provider = data.get("rendering_provider_id")
    try:
        provider_id = uuid.UUID(provider) if isinstance(provider, str) else None
    except ValueError:
        provider_id = None
    if provider_id is None:
        bad("rendering_provider_id", "must be the id of a provider of this clinic")
    service_date = None
    try:
        service_date = dt.date.fromisoformat(data["service_date"])
    except (KeyError, TypeError, ValueError):
        bad("service_date", "must be a date (YYYY-MM-DD)")
    pos = data.get("place_of_service")
    if not isinstance(pos, str) or not _POS.match(pos):
        bad("place_of_service", "must be a 2-digit place-of-service code (e.g. 11)")
    if errors:
        return None, errors
    return (
        ServiceLine(
            code_system=system,
            code=code,
            modifiers=tuple(modifiers),
            minutes=minutes,
            units=units,
            diagnosis_codes=tuple(diagnoses),
            rendering_provider_id=provider_id,
            service_date=service_date,
            place_of_service=pos,
        ),
        [],
    )


def canonical_json(value: Any) -> bytes:
    """The canonical form a signature covers: JSON with sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_sha256(value: Any) -> str:
    """Hex SHA-256 of ``canonical_json(value)``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def valid_template_key(key: str) -> bool:
    return isinstance(key, str) and bool(_TEMPLATE_KEY.match(key))


__all__ = [
    "CODE_SYSTEMS",
    "NOTE_SIGNED",
    "SERVICES_READY_TO_BILL",
    "NoteTemplate",
    "ServiceLine",
    "canonical_json",
    "content_sha256",
    "read_service_line",
]
