"""Reading JSON bodies and query strings into checked values for the scheduling API.

Every problem is collected as ``{"field", "reason"}`` and answered together as one 422
(``extra.errors`` in the JSON error), so a client can show each next to its input.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from litestar.exceptions import ValidationException


class FieldErrors(ValidationException):
    """Well-formed request, unacceptable values: 422 listing each field and what is wrong."""

    status_code = 422


def field_error(field: str, reason: str) -> FieldErrors:
    return FieldErrors(detail=f"{field}: {reason}", extra=[{"field": field, "reason": reason}])


def raise_errors(errors: list[dict[str, str]]) -> None:
    if errors:
        raise FieldErrors(detail="; ".join(f"{e['field']}: {e['reason']}" for e in errors), extra=errors)


def parse_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


def parse_instant(value: Any) -> tuple[dt.datetime | None, str | None]:
    """An ISO 8601 date-time with a UTC offset (or Z) as an aware UTC datetime: a naive
    time would be ambiguous across zones and DST, so it is refused."""
    if not isinstance(value, str):
        return None, "must be an ISO 8601 date-time string, e.g. 2026-03-02T15:30:00Z"
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None, "must be an ISO 8601 date-time, e.g. 2026-03-02T15:30:00Z"
    if parsed.tzinfo is None:
        return None, "include a UTC offset or Z, e.g. 2026-03-02T09:30:00-06:00"
    return parsed.astimezone(dt.UTC), None


def parse_date(value: Any) -> tuple[dt.date | None, str | None]:
    if not isinstance(value, str):
        return None, "must be a date, YYYY-MM-DD"
    try:
        return dt.date.fromisoformat(value.strip()), None
    except ValueError:
        return None, "must be a date, YYYY-MM-DD"


_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_time(value: Any) -> tuple[dt.time | None, str | None]:
    """A wall-clock time ``HH:MM`` (24-hour)."""
    if not isinstance(value, str) or not _TIME.match(value.strip()):
        return None, "must be a time HH:MM (24-hour), e.g. 08:30"
    hours, minutes = value.strip().split(":")
    return dt.time(int(hours), int(minutes)), None


class Reader:
    """Reads the fields of one JSON object, remembering every problem."""

    def __init__(self, data: Any, *, allowed: set[str]) -> None:
        self.errors: list[dict[str, str]] = []
        if not isinstance(data, dict):
            self.data: dict[str, Any] = {}
            self.error("(body)", "send a JSON object")
            return
        self.data = data
        for key in sorted(set(data) - allowed):
            self.error(str(key), f"unknown field; the fields are {', '.join(sorted(allowed))}")

    def error(self, field: str, reason: str) -> None:
        self.errors.append({"field": field, "reason": reason})

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, *, required: bool = False, max_length: int = 500) -> str | None:
        """A trimmed string, or None when absent, null or blank (an error if required)."""
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            self.error(key, "must be a string")
            return None
        value = (value or "").strip()
        if not value:
            if required:
                self.error(key, "required")
            return None
        if len(value) > max_length:
            self.error(key, f"at most {max_length} characters")
            return None
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(key, "must be true or false")
            return default
        return value

    def integer(self, key: str, *, low: int, high: int, required: bool = False) -> int | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.error(key, "required")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(key, f"must be a whole number from {low} to {high}")
            return None
        return value

    def uuid(self, key: str, *, required: bool = False) -> uuid.UUID | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.error(key, "required")
            return None
        parsed = parse_uuid(value)
        if parsed is None:
            self.error(key, "must be an id (a UUID)")
        return parsed

    def _parsed(self, key: str, parse, required: bool):
        value = self.data.get(key)
        if value is None:
            if required:
                self.error(key, "required")
            return None
        parsed, problem = parse(value)
        if problem:
            self.error(key, problem)
        return parsed

    def instant(self, key: str, *, required: bool = False) -> dt.datetime | None:
        return self._parsed(key, parse_instant, required)

    def date(self, key: str, *, required: bool = False) -> dt.date | None:
        return self._parsed(key, parse_date, required)

    def time(self, key: str, *, required: bool = False) -> dt.time | None:
        return self._parsed(key, parse_time, required)

    def raise_if_any(self) -> None:
        raise_errors(self.errors)
