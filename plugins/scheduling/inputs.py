"""Reading JSON bodies and query strings for the scheduling API: core's reader
(``core.plugin_api.InputReader``), answering 422 instead of core's 400.

Every problem is collected as ``{"field", "reason"}`` and answered together as one 422
(``extra.errors`` in the JSON error), so a client can show each next to its input.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar.exceptions import ValidationException

from core.plugin_api import (
    InputReader,
    date_problem,
    errors_by_field,
    parse_date,
    parse_instant,
    parse_time,
)
from core.plugin_api import field_error as _field_error
from core.plugin_api import parse_uuid as _parse_uuid
from core.plugin_api import raise_errors as _raise_errors

__all__ = [
    "FieldErrors",
    "Reader",
    "date_problem",
    "errors_by_field",
    "field_error",
    "parse_date",
    "parse_instant",
    "parse_time",
    "parse_uuid",
    "raise_errors",
]


class FieldErrors(ValidationException):
    """Well-formed request, unacceptable values: 422 listing each field and what is wrong."""

    status_code = 422


def field_error(field: str, reason: str) -> FieldErrors:
    return _field_error(field, reason, FieldErrors)


def raise_errors(errors: list[dict[str, str]]) -> None:
    _raise_errors(errors, FieldErrors)


def parse_uuid(value: Any) -> uuid.UUID | None:
    """An id, tolerating spaces around it (ids pasted into forms and query strings)."""
    return _parse_uuid(value.strip() if isinstance(value, str) else value)


class Reader(InputReader):
    """Reads the fields of one JSON object, remembering every problem; 422 when any."""

    failure = FieldErrors
    parse_id = staticmethod(parse_uuid)
