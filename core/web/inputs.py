"""Reading JSON request bodies and query strings into checked values.

Every problem is collected as ``(field, reason)`` and answered together as one error whose
``extra`` lists ``{"field", "reason"}`` pairs, so a client can show each next to its
input. Core answers 400 (``InputErrors``); a caller may choose its own
``ValidationException`` subclass (``failure``), e.g. one answering 422.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any, TypeVar

from litestar.exceptions import ValidationException

from core.db.types import EARLIEST_DATE, EARLIEST_INSTANT, LATEST_DATE, LATEST_INSTANT


class InputErrors(ValidationException):
    """Values that were read but are not acceptable (a date outside the accepted years, a
    missing field, an unknown id): 422, with ``extra.errors`` naming each field. A body or
    parameter the framework cannot even parse stays a 400."""

    status_code = 422


#: The dates and instants the API accepts: a clinic's records (birth dates of the living,
#: visits, appointments, coverage periods) all fall inside these years. Anything outside
#: is a typing slip or a probe, and the extremes (year 1, 9999) overflow as soon as they
#: are shifted into a time zone or a day is added; PostgreSQL even stores the instant
#: 0001-01-01T00:00Z as ``-infinity`` through asyncpg. ``core.db.types`` reads stored values
#: outside this range as its nearest end, so a row written around the API cannot break a
#: page either.
DATE_RANGE = f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"

#: The largest ``offset`` a list accepts (PostgreSQL's OFFSET is a 64-bit integer; a page
#: that far out is never a real request).
MAX_OFFSET = 1_000_000_000


Failure = TypeVar("Failure", bound=ValidationException)


def field_error(field: str, reason: str, failure: type[Failure] = InputErrors) -> Failure:
    return failure(detail=f"{field}: {reason}", extra=[{"field": field, "reason": reason}])


def raise_errors(errors: list[dict[str, str]], failure: type[ValidationException] = InputErrors) -> None:
    if errors:
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        raise failure(detail=detail, extra=errors)


def errors_by_field(exc: ValidationException) -> dict[str, str]:
    """The first reason for each field of a failure, to show next to a form's inputs."""
    errors: dict[str, str] = {}
    for item in exc.extra if isinstance(exc.extra, list) else []:
        errors.setdefault(str(item.get("field")), str(item.get("reason")))
    return errors


def parse_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
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
    if not EARLIEST_DATE.year <= parsed.year <= LATEST_DATE.year:
        return None, DATE_RANGE  # checked before converting: year 1 or 9999 may overflow
    instant = parsed.astimezone(dt.UTC)
    if not EARLIEST_INSTANT <= instant <= LATEST_INSTANT:
        return None, DATE_RANGE
    return instant, None


def date_problem(value: dt.date | None) -> str | None:
    """Why a parsed date is outside the accepted range (None when it is inside)."""
    if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
        return DATE_RANGE
    return None


def parse_date(value: Any) -> tuple[dt.date | None, str | None]:
    if not isinstance(value, str):
        return None, "must be a date, YYYY-MM-DD"
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        return None, "must be a date, YYYY-MM-DD"
    if problem := date_problem(day):
        return None, problem
    return day, None


_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_time(value: Any) -> tuple[dt.time | None, str | None]:
    """A wall-clock time ``HH:MM`` (24-hour)."""
    if not isinstance(value, str) or not _TIME.match(value.strip()):
        return None, "must be a time HH:MM (24-hour), e.g. 08:30"
    hours, minutes = value.strip().split(":")
    return dt.time(int(hours), int(minutes)), None


def parse_bound(value: str, time_zone: str, *, end: bool) -> tuple[dt.datetime | None, str | None]:
    """A range bound from a query string: a date-time with offset, or a date meaning the
    start of that day (``end``: the start of the next day) in ``time_zone``."""
    value = value.strip()
    if len(value) == 10:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return None, "must be a date (YYYY-MM-DD) or a date-time with offset"
        if problem := date_problem(day):
            return None, problem
        if end:
            day += dt.timedelta(days=1)
        local = dt.datetime.combine(day, dt.time(), tzinfo=zoneinfo.ZoneInfo(time_zone))
        return local.astimezone(dt.UTC), None
    return parse_instant(value)


def parse_limit(value: str | None, *, default: int = 50, maximum: int = 200) -> tuple[int, str | None]:
    if value is None:
        return default, None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= maximum:
        return default, f"must be a whole number from 1 to {maximum}"
    return int(value), None


def parse_offset(value: str | None) -> tuple[int, str | None]:
    if value is None:
        return 0, None
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_OFFSET:
        return 0, f"must be a whole number from 0 to {MAX_OFFSET}"
    return int(value), None


class Reader:
    """Reads fields of one JSON object, remembering every problem.

    Subclasses may set ``failure`` (the exception ``raise_if_any`` raises) and
    ``parse_id`` (how ``uuid`` reads an id).
    """

    failure: type[ValidationException] = InputErrors
    parse_id: Callable[[Any], uuid.UUID | None] = staticmethod(parse_uuid)

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

    def text(self, key: str, *, required: bool = False, max_length: int = 500) -> Any:
        """A trimmed string, or ``None`` when absent, null or blank (an error if required)."""
        if key not in self.data or self.data[key] is None:
            if required:
                self.error(key, "required")
            return None
        value = self.data[key]
        if not isinstance(value, str):
            self.error(key, "must be a string")
            return None
        value = value.strip()
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
        parsed = self.parse_id(value)
        if parsed is None:
            self.error(key, "must be an id (a UUID)")
        return parsed

    def uuid_list(self, key: str) -> list[uuid.UUID] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.error(key, "must be a list of ids")
            return None
        out = []
        for item in value:
            parsed = self.parse_id(item)
            if parsed is None:
                self.error(key, f"{item!r} is not an id (a UUID)")
                return None
            if parsed not in out:
                out.append(parsed)
        return out

    def _parsed(self, key: str, parse: Callable[[Any], tuple[Any, str | None]], required: bool) -> Any:
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
        raise_errors(self.errors, self.failure)
