"""Laying out the calendar: which local days a view shows, the rows of the time grid, and
where each working interval and appointment sits in it. Pure functions of instants and a
zone, so DST days come out right and the layout is testable without a browser.

A day column has one row per ``slot_minutes`` of wall-clock time from ``first_hour`` to
``last_hour``; an instant is placed by its local time that day. On the day clocks go
back the repeated hour folds onto the same rows (both occurrences show, side by side as
lanes); on the day they go forward the missing hour's rows stay empty.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
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


def _local_days(
    start: dt.datetime, end: dt.datetime, zone: zoneinfo.ZoneInfo
) -> Iterable[tuple[dt.date, int, int]]:
    """(day, from, to) in wall-clock minutes since local midnight of each local day that
    ``[start, end)`` touches, clamped to the day (0 .. 24 * 60); ``to`` may equal ``from``."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    first, last = local_start.date(), local_end.date()
    day = first
    while day <= last:
        yield (
            day,
            local_start.hour * 60 + local_start.minute if day == first else 0,
            local_end.hour * 60 + local_end.minute if day == last else 24 * 60,
        )
        day += dt.timedelta(days=1)


def hour_range(
    days: Sequence[dt.date], zone: zoneinfo.ZoneInfo, instants: Iterable[Interval]
) -> tuple[int, int]:
    """First and last hour the grid shows: the clinic day (08-18) widened to hold every
    working interval and appointment of the view."""
    first, last = DEFAULT_FIRST_HOUR * 60, DEFAULT_LAST_HOUR * 60
    shown = set(days)
    for start, end in instants:
        for day, s, e in _local_days(start, end, zone):
            if e > s and day in shown:
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
    #: what the column draws for its cells (see ``runs``), once bookable slots are known
    runs: list[Run] = field(default_factory=list)


class IntervalIndex:
    """Intervals ``(start, end)`` sorted once, then asked about many cells by bisection
    (instead of scanning every interval for every cell of the grid)."""

    def __init__(self, intervals: Iterable[Interval]) -> None:
        ordered = sorted(intervals)
        self._starts = [s for s, _ in ordered]
        self._reach: list[dt.datetime] = []  # the latest end among the intervals so far
        for _, end in ordered:
            self._reach.append(max(end, self._reach[-1]) if self._reach else end)
        union: list[list[dt.datetime]] = []
        for s, e in ordered:
            if union and s <= union[-1][1]:
                union[-1][1] = max(union[-1][1], e)
            else:
                union.append([s, e])
        self._union_starts = [s for s, _ in union]
        self._union_ends = [e for _, e in union]

    def covers(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether one interval holds all of ``[start, end)``: the latest end among those
        starting at or before ``start`` reaches ``end``."""
        i = bisect.bisect_right(self._starts, start)
        return i > 0 and self._reach[i - 1] >= end

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether any interval shares a moment with ``[start, end)``."""
        i = bisect.bisect_right(self._union_ends, start)
        return i < len(self._union_starts) and self._union_starts[i] < end


def row_instants(
    day: dt.date, zone: zoneinfo.ZoneInfo, *, first_hour: int, rows: int, slot_minutes: int
) -> list[tuple[dt.datetime, dt.datetime, bool]]:
    """Each row's local wall-clock start on ``day`` (naive), its UTC instant and whether the
    clocks show that wall time that day (not in a spring-forward gap). A repeated wall time
    is its first occurrence (fold=0).

    When the zone's offset is the same at the first and the last row, every row is that
    offset away from its wall time: no zone in the tz database changes its offset twice
    within 36 hours (checked over every zone's transitions), so nothing changed between.
    Only the days the clocks change take the exact, per-row conversion."""
    step = dt.timedelta(minutes=slot_minutes)
    first = dt.datetime.combine(day, dt.time(first_hour))
    walls = [first + step * index for index in range(rows)]
    if not walls:
        return []
    offset = walls[0].replace(tzinfo=zone).utcoffset()
    if (
        offset == walls[-1].replace(tzinfo=zone).utcoffset()
        and _shown(walls[0], zone)
        and _shown(walls[-1], zone)
    ):
        base = (walls[0] - offset).replace(tzinfo=dt.UTC)
        return [(wall, base + step * index, True) for index, wall in enumerate(walls)]
    out = []
    for wall in walls:
        instant = wall.replace(tzinfo=zone).astimezone(dt.UTC)
        out.append((wall, instant, instant.astimezone(zone).replace(tzinfo=None) == wall))
    return out


def _shown(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    return wall.replace(tzinfo=zone).astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == wall


def _placements(
    start: dt.datetime,
    end: dt.datetime,
    zone: zoneinfo.ZoneInfo,
    first_hour: int,
    rows: int,
    slot: int,
) -> Iterable[tuple[dt.date, int, int]]:
    """(day, row, span) of each local day ``[start, end)`` shows on, the part outside the
    grid's hours cut off; an instant is placed by its local wall-clock time that day."""
    for day, s, e in _local_days(start, end, zone):
        s, e = s - first_hour * 60, e - first_hour * 60
        if e <= 0 or s >= rows * slot or e <= s:
            continue
        top = max(s, 0) // slot
        bottom = max(top + 1, -(-min(e, rows * slot) // slot))
        yield day, top + 1, bottom - top


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


def hour_starts(first_hour: int, rows: int, slot_minutes: int) -> list[tuple[int, str]]:
    """(row, "HH:MM") of every row that starts on the hour: the time labels beside the grid."""
    out = []
    for index in range(rows):
        minutes = first_hour * 60 + index * slot_minutes
        if minutes % 60 == 0:
            out.append((index + 1, f"{minutes // 60:02d}:00"))
    return out


def hour_period(slot_minutes: int) -> int:
    """Rows from one hour line to the next (a row starts on the hour every this many rows,
    the first row always does): 4 for 15-minute slots, 4 for 45-minute ones (every 3 h)."""
    return 60 // math.gcd(60, slot_minutes)


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
    (objects with ``starts_at``/``ends_at``) and markers (start, end, item) as blocks.

    A cell is working time when one interval of ``working`` holds the whole cell."""
    rows = (last_hour - first_hour) * 60 // slot_minutes
    step = dt.timedelta(minutes=slot_minutes)
    works_at = IntervalIndex(working)
    taken = IntervalIndex((a.starts_at, a.ends_at) for a in appointments if getattr(a, "holds_time", True))
    hour_start = [(first_hour * 60 + index * slot_minutes) % 60 == 0 for index in range(rows)]
    covers, overlaps = works_at.covers, taken.overlaps
    columns = {day: Column(day) for day in days}
    for day, column in columns.items():
        cells = column.cells
        instants = row_instants(day, zone, first_hour=first_hour, rows=rows, slot_minutes=slot_minutes)
        for index, (wall, instant, real) in enumerate(instants):
            end = instant + step
            works = real and covers(instant, end)
            cells.append(
                {
                    "row": index + 1,
                    "local": wall,
                    "instant": instant,
                    "working": works,
                    "bookable": works and not overlaps(instant, end) and (now is None or instant >= now),
                    "hour_start": hour_start[index],
                }
            )
    for appointment in appointments:
        for day, row, span in _placements(
            appointment.starts_at, appointment.ends_at, zone, first_hour, rows, slot_minutes
        ):
            if day in columns:
                columns[day].blocks.append(Block(row, span, item=appointment))
    for column in columns.values():
        _lanes(column.blocks)
    for start, end, item in markers:
        for day, row, span in _placements(start, end, zone, first_hour, rows, slot_minutes):
            if day in columns:
                columns[day].markers.append(Block(row, span, item=item))
    return list(columns.values())


@dataclass(slots=True)
class Run:
    """What a day column draws for its cells: consecutive working rows that cannot be booked
    as one element (``rows`` of them from ``row``), or one open slot (``url`` set: where
    booking it starts; ``start`` its instant in ISO 8601, ``label`` its local time)."""

    row: int
    rows: int = 1
    url: str | None = None
    start: str = ""
    label: str = ""


def runs(
    cells: Sequence[dict[str, Any]], book_url: Callable[[dt.datetime, str], str | None] | None
) -> list[Run]:
    """The runs of a column's cells: each bookable cell that ``book_url(instant, instant in
    ISO 8601)`` gives an address is an open slot; other working cells join the run above
    them; time nobody works is left to the column's background. ``book_url`` None: nothing
    is bookable (a read-only user)."""
    out: list[Run] = []
    previous: Run | None = None  # the working run the row above belongs to
    for cell in cells:
        if book_url is not None and cell["bookable"]:
            start = cell["instant"].isoformat()
            url = book_url(cell["instant"], start)
            if url is not None:
                local = cell["local"]
                out.append(Run(cell["row"], 1, url, start, f"{local.hour:02d}:{local.minute:02d}"))
                previous = None
                continue
        if cell["working"]:
            if previous is not None and previous.row + previous.rows == cell["row"]:
                previous.rows += 1
            else:
                previous = Run(cell["row"])
                out.append(previous)
        else:
            previous = None
    return out


__all__ = [
    "Block",
    "Column",
    "IntervalIndex",
    "Run",
    "build_columns",
    "days_of_view",
    "hour_period",
    "hour_range",
    "hour_starts",
    "row_instants",
    "runs",
    "step",
]
