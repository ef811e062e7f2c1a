"""Laying out the calendar: which local days a view shows, the rows of the time grid, and
where each working interval and appointment sits in it. Pure functions of instants and a
zone, so DST days come out right and the layout is testable without a browser.

A day column has one row per ``slot_minutes`` of wall-clock time from ``first_hour`` to
``last_hour``; an instant is placed by its local time that day. On the day clocks go
back the repeated hour folds onto the same rows (both occurrences show, side by side as
lanes); on the day they go forward the missing hour's rows stay empty.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_FIRST_HOUR = 8
DEFAULT_LAST_HOUR = 18

Interval = tuple[dt.datetime, dt.datetime]


def days_of_view(view: str, anchor: dt.date) -> list[dt.date]:
    """The day itself, or Monday to Sunday of its (ISO) week."""
    if view == "day":
        return [anchor]
    monday = anchor - dt.timedelta(days=anchor.weekday())
    return [monday + dt.timedelta(days=i) for i in range(7)]


def step(view: str, anchor: dt.date, direction: int) -> dt.date:
    """The anchor of the previous (-1) or next (+1) day or week."""
    return anchor + dt.timedelta(days=direction * (1 if view == "day" else 7))


def _minutes(instant: dt.datetime, day: dt.date, zone: zoneinfo.ZoneInfo) -> int:
    """Wall-clock minutes since local midnight of ``day`` (clamped to the day)."""
    local = instant.astimezone(zone)
    if local.date() < day:
        return 0
    if local.date() > day:
        return 24 * 60
    return local.hour * 60 + local.minute


def hour_range(
    days: Sequence[dt.date], zone: zoneinfo.ZoneInfo, instants: Iterable[Interval]
) -> tuple[int, int]:
    """First and last hour the grid shows: the clinic day (08-18) widened to hold every
    working interval and appointment of the view."""
    first, last = DEFAULT_FIRST_HOUR * 60, DEFAULT_LAST_HOUR * 60
    for start, end in instants:
        for day in days:
            s, e = _minutes(start, day, zone), _minutes(end, day, zone)
            if e > s:
                first, last = min(first, s), max(last, e)
    return first // 60, min(24, -(-last // 60))


@dataclass
class Block:
    """Something placed in a day column: rows ``row`` .. ``row + span - 1`` (1-based, CSS
    grid lines), ``lane`` of ``lanes`` side by side when it overlaps others."""

    row: int
    span: int
    item: Any = None
    lane: int = 0
    lanes: int = 1


@dataclass
class Column:
    day: dt.date
    #: one per grid row: the row's local start, its UTC instant, whether it is working time
    #: and whether a bookable slot starts there
    cells: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    markers: list[Block] = field(default_factory=list)


def _place(start: dt.datetime, end: dt.datetime, day, zone, first_hour: int, rows: int, slot: int):
    s = _minutes(start, day, zone) - first_hour * 60
    e = _minutes(end, day, zone) - first_hour * 60
    if e <= 0 or s >= rows * slot or e <= s:
        return None
    top = max(s, 0) // slot
    bottom = max(top + 1, -(-min(e, rows * slot) // slot))
    return top + 1, bottom - top


def _lanes(blocks: list[Block]) -> None:
    """Give overlapping blocks side-by-side lanes (greedy, in start order)."""
    blocks.sort(key=lambda b: (b.row, -b.span))
    group: list[Block] = []
    group_end = 0
    for block in blocks:
        if group and block.row >= group_end:
            _finish(group)
            group = []
        group.append(block)
        group_end = max(group_end, block.row + block.span)
    if group:
        _finish(group)


def _finish(group: list[Block]) -> None:
    ends: list[int] = []
    for block in group:
        for lane, end in enumerate(ends):
            if block.row >= end:
                block.lane, ends[lane] = lane, block.row + block.span
                break
        else:
            block.lane = len(ends)
            ends.append(block.row + block.span)
    for block in group:
        block.lanes = len(ends)


def build_columns(
    days: Sequence[dt.date],
    zone: zoneinfo.ZoneInfo,
    *,
    slot_minutes: int,
    first_hour: int,
    last_hour: int,
    working: Sequence[Interval],
    appointments: Sequence[Any],
    markers: Sequence[tuple[dt.datetime, dt.datetime, Any]] = (),
    now: dt.datetime | None = None,
) -> list[Column]:
    """One column per day: cells shaded where someone works, a cell bookable where it is
    working time, not taken by a holding appointment and not in the past; appointments
    (objects with ``starts_at``/``ends_at``) and markers (start, end, item) as blocks."""
    rows = (last_hour - first_hour) * 60 // slot_minutes
    taken = [(a.starts_at, a.ends_at) for a in appointments if getattr(a, "holds_time", True)]
    columns = []
    for day in days:
        column = Column(day)
        for index in range(rows):
            minutes = first_hour * 60 + index * slot_minutes
            wall = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60))
            local = wall.replace(tzinfo=zone)
            instant = local.astimezone(dt.UTC)
            real = instant.astimezone(zone).replace(tzinfo=None) == wall  # not in a DST gap
            end = instant + dt.timedelta(minutes=slot_minutes)
            works = real and any(s <= instant and end <= e for s, e in working)
            free = works and not any(s < end and instant < e for s, e in taken)
            column.cells.append(
                {
                    "row": index + 1,
                    "local": wall,
                    "instant": instant,
                    "working": works,
                    "bookable": free and (now is None or instant >= now),
                    "hour_start": minutes % 60 == 0,
                }
            )
        for appointment in appointments:
            placed = _place(
                appointment.starts_at, appointment.ends_at, day, zone, first_hour, rows, slot_minutes
            )
            if placed:
                column.blocks.append(Block(*placed, item=appointment))
        _lanes(column.blocks)
        for start, end, item in markers:
            placed = _place(start, end, day, zone, first_hour, rows, slot_minutes)
            if placed:
                column.markers.append(Block(*placed, item=item))
        columns.append(column)
    return columns


__all__ = ["Block", "Column", "build_columns", "days_of_view", "hour_range", "step"]
