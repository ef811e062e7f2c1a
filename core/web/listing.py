"""The query-string filters list endpoints share: ids, a time window, statuses, a page.

``filter_listing`` narrows a ``select`` and collects every problem as
``{"field", "reason"}`` (the caller raises them, with its own status); ``fetch_page``
counts the matches and loads one page.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.web.inputs import parse_bound, parse_limit, parse_offset, parse_uuid


@dataclass
class Listing:
    """A filtered query, its page, and the problems found in the query string."""

    query: Select
    limit: int
    offset: int
    errors: list[dict[str, str]] = field(default_factory=list)


def filter_listing(
    query: Select,
    *,
    ids: Sequence[tuple[str, str | None, Any]],
    window: tuple[str | None, str | None],
    starts_at: Any,
    ends_at: Any,
    time_zone: str,
    status: str | None,
    status_column: Any,
    statuses: Sequence[str],
    limit: str | None,
    offset: str | None,
    default_limit: int = 50,
    max_limit: int = 200,
    parse_id: Callable[[Any], uuid.UUID | None] = parse_uuid,
    bound: Callable[..., tuple[dt.datetime | None, str | None]] = parse_bound,
) -> Listing:
    """``ids`` are ``(field, value, column)``: each given value must be an id and equal the
    column. ``window`` is ``(from, to)``: rows overlapping it, dates meaning whole days in
    ``time_zone``. ``status`` lists one or more of ``statuses``, comma-separated.
    ``limit`` 1 to ``max_limit`` (default ``default_limit``), ``offset`` 0 or more."""
    errors: list[dict[str, str]] = []
    for name, value, column in ids:
        if value is not None:
            parsed = parse_id(value)
            if parsed is None:
                errors.append({"field": name, "reason": "must be an id (a UUID)"})
            else:
                query = query.where(column == parsed)
    for name, value, end in (("from", window[0], False), ("to", window[1], True)):
        if value is not None:
            instant, problem = bound(value, time_zone, end=end)
            if problem:
                errors.append({"field": name, "reason": problem})
            elif end:
                query = query.where(starts_at < instant)
            else:
                query = query.where(ends_at > instant)
    if status is not None:
        wanted = [s.strip() for s in status.split(",") if s.strip()]
        if not wanted or any(s not in statuses for s in wanted):
            errors.append({"field": "status", "reason": f"must be among {', '.join(statuses)}"})
        else:
            query = query.where(status_column.in_(wanted))
    page_size, problem = parse_limit(limit, default=default_limit, maximum=max_limit)
    if problem:
        errors.append({"field": "limit", "reason": problem})
    skip, problem = parse_offset(offset)
    if problem:
        errors.append({"field": "offset", "reason": problem})
    return Listing(query, page_size, skip, errors)


async def fetch_page(db_session: AsyncSession, listing: Listing, *order_by: Any) -> tuple[list[Any], int]:
    """One page of the listing's rows in ``order_by`` order, and how many match in all."""
    total = await db_session.scalar(select(func.count()).select_from(listing.query.subquery()))
    rows = list(
        await db_session.scalars(
            listing.query.order_by(*order_by).limit(listing.limit).offset(listing.offset)
        )
    )
    return rows, total or 0
