"""Reading the audit log: filters from query parameters, the query, and how an event looks
in JSON and CSV. Used by the audit screen, its API and the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
import zoneinfo
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select

from core.audit.actions import all_actions, is_known
from core.audit.models import AuditEvent
from core.web.inputs import date_problem

SORTS = {"time": "occurred_at", "user": "actor_label", "action": "action"}
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200


class FilterError(ValueError):
    """A filter a person typed cannot be used; the message says which and why."""


@dataclass(frozen=True)
class AuditFilters:
    user: str = ""
    patient: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""
    sort: str = "time"
    dir: str = "desc"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    #: only break-the-glass events (action break_glass, or flagged emergency)
    emergency: bool = False
    # parsed
    user_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def query_args(self, **changes: Any) -> dict[str, str]:
        """The filters as query parameters (for links), without empty ones."""
        raw = {
            "user": self.user,
            "patient": self.patient,
            "action": self.action,
            "from": self.date_from,
            "to": self.date_to,
            "sort": self.sort,
            "dir": self.dir,
            "page": str(self.page),
            "per_page": str(self.per_page),
        }
        raw.update({k: str(v) for k, v in changes.items()})
        defaults = {"sort": "time", "dir": "desc", "page": "1", "per_page": str(DEFAULT_PER_PAGE)}
        return {k: v for k, v in raw.items() if v and defaults.get(k) != v}

    def describe(self) -> dict[str, str]:
        """What was asked for (recorded with an export)."""
        keys = ("user", "patient", "action", "date_from", "date_to")
        return {k: v for k, v in asdict(self).items() if k in keys and v}


def _date(value: str, name: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name} must be a date like 2026-03-31, got {value!r}") from None
    if problem := date_problem(day):  # the accepted years (core.web.inputs)
        raise FilterError(f"{name} {problem}, got {value!r}")
    return day


def _int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise FilterError(f"{name} must be a whole number, got {value!r}") from None
    if not lo <= number <= hi:
        raise FilterError(f"{name} must be between {lo} and {hi}, got {number}")
    return number


def parse_uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise FilterError(
            f"{name} must be an id like 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b, got {value!r}"
        ) from None


def parse_filters(
    params: Mapping[str, str | None], time_zone: str, *, emergency: bool = False
) -> AuditFilters:
    """Validate query parameters (``user``, ``patient``, ``action``, ``from``, ``to``,
    ``sort``, ``dir``, ``page``, ``per_page``). Dates are days in the tenant's time zone;
    ``to`` is inclusive. Raises FilterError with a message for people."""

    def get(name: str) -> str:
        return (params.get(name) or "").strip()

    user, patient, action = get("user"), get("patient"), get("action")
    user_id = patient_id = None
    if user and "@" not in user:
        user_id = parse_uuid(user, "user")  # an e-mail address or a user id
    if patient:
        patient_id = parse_uuid(patient, "patient")
    if action and not is_known(action):
        raise FilterError(f"action must be one of {', '.join(all_actions())}; got {action!r}")
    try:
        tz = zoneinfo.ZoneInfo(time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    date_from, date_to = get("from"), get("to")
    start = end = None
    if date_from:
        start = dt.datetime.combine(_date(date_from, "from"), dt.time(), tz)
    if date_to:
        end = dt.datetime.combine(_date(date_to, "to") + dt.timedelta(days=1), dt.time(), tz)
    if start and end and end <= start:
        raise FilterError("the 'from' date is after the 'to' date")
    sort, direction = get("sort") or "time", get("dir") or "desc"
    if sort not in SORTS:
        raise FilterError(f"sort must be one of {', '.join(SORTS)}; got {sort!r}")
    if direction not in ("asc", "desc"):
        raise FilterError(f"dir must be asc or desc; got {direction!r}")
    return AuditFilters(
        user=user,
        patient=patient,
        action=action,
        date_from=date_from,
        date_to=date_to,
        sort=sort,
        dir=direction,
        page=_int(params.get("page"), "page", 1, 1, 1_000_000),
        per_page=_int(params.get("per_page"), "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
        emergency=emergency,
        user_id=user_id,
        patient_id=patient_id,
        start=start,
        end=end,
    )


def filtered(filters: AuditFilters) -> Select:
    """``SELECT audit_events`` with the filters applied (the session adds the tenant)."""
    query = select(AuditEvent)
    if filters.user_id is not None:
        query = query.where(AuditEvent.actor_user_id == filters.user_id)
    elif filters.user:
        query = query.where(func.lower(AuditEvent.actor_label) == filters.user.lower())
    if filters.patient_id is not None:
        query = query.where(AuditEvent.patient_id == filters.patient_id)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.start is not None:
        query = query.where(AuditEvent.occurred_at >= filters.start)
    if filters.end is not None:
        query = query.where(AuditEvent.occurred_at < filters.end)
    if filters.emergency:
        query = query.where(or_(AuditEvent.action == "break_glass", AuditEvent.emergency.is_(True)))
    return query


def ordered(query: Select, filters: AuditFilters) -> Select:
    column = getattr(AuditEvent, SORTS[filters.sort])
    primary = column.asc() if filters.dir == "asc" else column.desc()
    if filters.sort == "time":
        return query.order_by(primary, AuditEvent.id.asc() if filters.dir == "asc" else AuditEvent.id.desc())
    return query.order_by(primary.nulls_last(), AuditEvent.occurred_at.desc(), AuditEvent.id.desc())


async def page_of(session, filters: AuditFilters) -> tuple[list[AuditEvent], int]:
    """One page of events and the total number matching."""
    base = filtered(filters)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    query = ordered(base, filters).limit(filters.per_page).offset((filters.page - 1) * filters.per_page)
    return list(await session.scalars(query)), int(total or 0)


def local_time(when: dt.datetime, time_zone: str) -> dt.datetime:
    try:
        return when.astimezone(zoneinfo.ZoneInfo(time_zone or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return when.astimezone(dt.UTC)


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def as_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(),
        "actor": {
            "type": event.actor_type,
            "user_id": _s(event.actor_user_id),
            "token_id": _s(event.actor_token_id),
            "label": event.actor_label,
        },
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "patient_id": _s(event.patient_id),
        "outcome": event.outcome,
        "emergency": event.emergency,
        "reason": event.reason,
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "detail": event.detail,
        "seal_seq": event.seal_seq,
    }


CSV_COLUMNS = (
    "occurred_at",
    "actor",
    "actor_type",
    "actor_user_id",
    "action",
    "resource_type",
    "resource_id",
    "patient_id",
    "outcome",
    "emergency",
    "reason",
    "client_ip",
    "user_agent",
    "event_id",
    "seal_seq",
)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet would run a cell starting with one of these as a formula.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def csv_row(event: AuditEvent, time_zone: str) -> list[str]:
    return [
        _cell(v)
        for v in (
            local_time(event.occurred_at, time_zone).isoformat(),
            event.actor_label,
            event.actor_type,
            event.actor_user_id,
            event.action,
            event.resource_type,
            event.resource_id,
            event.patient_id,
            event.outcome,
            "yes" if event.emergency else "no",
            event.reason,
            event.client_ip,
            event.user_agent,
            event.id,
            event.seal_seq,
        )
    ]


def csv_lines(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
