"""The calendar grid's pure parts against straightforward reference versions: each cell's
instant (only the days the clocks change are converted row by row), working/bookable by
bisection instead of scanning every interval per cell, runs of rows, placement of
appointments across midnight, the markup of open slots and appointments (escaped), and
working time of many (provider, location) pairs read at once."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from core.practice.models import Location
from plugins.scheduling import availability, calendar_html
from plugins.scheduling.calendar_grid import (
    Block,
    IntervalIndex,
    Run,
    build_columns,
    hour_period,
    hour_range,
    hour_starts,
    row_instants,
    runs,
)
from plugins.scheduling.models import AvailabilityException, AvailabilityTemplate
from plugins.scheduling.tests.booking_clinic import make_booking_clinic, tenant_session

UTC = dt.UTC
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
SPRING_FORWARD = dt.date(2026, 3, 8)  # 02:00 CST -> 03:00 CDT
FALL_BACK = dt.date(2026, 11, 1)  # 02:00 CDT -> 01:00 CST
#: days the clocks change somewhere, and zones with odd offsets or half-hour DST
DST_CASES = [
    ("America/Chicago", SPRING_FORWARD),
    ("America/Chicago", FALL_BACK),
    ("Europe/London", dt.date(2026, 3, 29)),
    ("Europe/London", dt.date(2026, 10, 25)),
    ("Australia/Lord_Howe", dt.date(2026, 4, 5)),  # back by 30 minutes
    ("Australia/Lord_Howe", dt.date(2026, 10, 4)),
    ("America/St_Johns", dt.date(2026, 3, 8)),
    ("Asia/Kolkata", dt.date(2026, 3, 8)),  # no DST at all
    ("America/Chicago", dt.date(2026, 3, 9)),  # the ordinary days after
    ("America/Chicago", dt.date(2026, 11, 2)),
]


def reference_row(day: dt.date, zone, minutes: int) -> tuple[dt.datetime, dt.datetime, bool]:
    """The original per-cell conversion: wall time, fold=0 instant, shown that day."""
    wall = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60))
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    return wall, instant, instant.astimezone(zone).replace(tzinfo=None) == wall


@pytest.mark.parametrize(("zone_name", "day"), DST_CASES)
@pytest.mark.parametrize(
    ("first_hour", "last_hour", "slot"), [(0, 24, 15), (0, 6, 30), (8, 18, 20), (1, 4, 45)]
)
def test_row_instants_match_the_per_row_conversion_on_dst_days(zone_name, day, first_hour, last_hour, slot):
    zone = zoneinfo.ZoneInfo(zone_name)
    rows = (last_hour - first_hour) * 60 // slot
    got = row_instants(day, zone, first_hour=first_hour, rows=rows, slot_minutes=slot)
    assert got == [reference_row(day, zone, first_hour * 60 + i * slot) for i in range(rows)]


def test_row_instants_of_the_clock_changes_in_chicago():
    spring = row_instants(SPRING_FORWARD, CHICAGO, first_hour=1, rows=3, slot_minutes=60)
    assert [(w.hour, i.hour, shown) for w, i, shown in spring] == [(1, 7, True), (2, 8, False), (3, 8, True)]
    fall = row_instants(FALL_BACK, CHICAGO, first_hour=0, rows=3, slot_minutes=60)
    # 01:00 is shown twice that day; the row is its first occurrence (CDT, UTC-5)
    assert [(w.hour, i.hour, shown) for w, i, shown in fall] == [(0, 5, True), (1, 6, True), (2, 8, True)]


def random_intervals(rng, base, count, span_minutes=600):
    out = []
    for _ in range(count):
        start = base + dt.timedelta(minutes=rng.randrange(0, span_minutes, 5))
        out.append((start, start + dt.timedelta(minutes=rng.randrange(0, 180, 5))))
    return out


def test_interval_index_answers_like_scanning_every_interval():
    rng = random.Random(7)  # noqa: S311 - repeatable test data, not a secret
    base = dt.datetime(2026, 3, 2, 14, tzinfo=UTC)
    for _ in range(200):
        intervals = random_intervals(rng, base, rng.randrange(0, 8))
        index = IntervalIndex(intervals)
        for _ in range(20):
            start = base + dt.timedelta(minutes=rng.randrange(-30, 700, 5))
            end = start + dt.timedelta(minutes=rng.choice((5, 15, 30)))
            assert index.covers(start, end) == any(s <= start and end <= e for s, e in intervals)
            assert index.overlaps(start, end) == any(s < end and start < e for s, e in intervals)


def reference_cells(day, zone, *, slot, first_hour, last_hour, working, taken, now):
    """The original build_columns cell loop (any() over every interval per cell)."""
    out = []
    for index in range((last_hour - first_hour) * 60 // slot):
        wall, instant, real = reference_row(day, zone, first_hour * 60 + index * slot)
        end = instant + dt.timedelta(minutes=slot)
        works = real and any(s <= instant and end <= e for s, e in working)
        free = works and not any(s < end and instant < e for s, e in taken)
        out.append(
            {
                "row": index + 1,
                "local": wall,
                "instant": instant,
                "working": works,
                "bookable": free and (now is None or instant >= now),
                "hour_start": (first_hour * 60 + index * slot) % 60 == 0,
            }
        )
    return out


@pytest.mark.parametrize(("zone_name", "day"), DST_CASES)
def test_cells_are_classified_as_before_on_dst_days(zone_name, day):
    zone = zoneinfo.ZoneInfo(zone_name)
    rng = random.Random(f"{zone_name}{day}")  # noqa: S311 - repeatable test data
    midnight = dt.datetime.combine(day, dt.time(), zone).astimezone(UTC)
    for _ in range(30):
        working = random_intervals(rng, midnight, rng.randrange(0, 4), 24 * 60)
        appointments = [
            SimpleNamespace(starts_at=s, ends_at=e, holds_time=rng.random() < 0.8)
            for s, e in random_intervals(rng, midnight, rng.randrange(0, 6), 24 * 60)
        ]
        slot = rng.choice((15, 20, 30, 60))
        now = midnight + dt.timedelta(hours=rng.randrange(0, 30)) if rng.random() < 0.5 else None
        column = build_columns(
            [day],
            zone,
            slot_minutes=slot,
            first_hour=0,
            last_hour=24,
            working=working,
            appointments=appointments,
            now=now,
        )[0]
        taken = [(a.starts_at, a.ends_at) for a in appointments if a.holds_time]
        assert column.cells == reference_cells(
            day, zone, slot=slot, first_hour=0, last_hour=24, working=working, taken=taken, now=now
        )


def test_an_appointment_across_midnight_shows_on_both_days_and_overlaps_get_lanes():
    monday, tuesday = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
    late = SimpleNamespace(
        starts_at=dt.datetime(2026, 3, 2, 23, tzinfo=CHICAGO),
        ends_at=dt.datetime(2026, 3, 3, 1, tzinfo=CHICAGO),
    )
    early = SimpleNamespace(
        starts_at=dt.datetime(2026, 3, 3, 0, 30, tzinfo=CHICAGO),
        ends_at=dt.datetime(2026, 3, 3, 1, 30, tzinfo=CHICAGO),
    )
    assert hour_range([monday, tuesday], CHICAGO, [(late.starts_at, late.ends_at)]) == (0, 24)
    first, second = build_columns(
        [monday, tuesday],
        CHICAGO,
        slot_minutes=30,
        first_hour=0,
        last_hour=24,
        working=[],
        appointments=[late, early],
    )
    assert [(b.row, b.span, b.lane, b.lanes) for b in first.blocks] == [(47, 2, 0, 1)]
    assert [(b.item, b.row, b.span, b.lane, b.lanes) for b in second.blocks] == [
        (late, 1, 2, 0, 2),
        (early, 2, 2, 1, 2),
    ]


def test_runs_join_working_rows_and_keep_open_slots_apart():
    day = dt.date(2026, 3, 2)
    nine = dt.datetime(2026, 3, 2, 9, tzinfo=CHICAGO).astimezone(UTC)
    # 08:00 closed, 08:15-09:00 working (taken), 09:00 and 09:15 open, 09:30 closed, 09:45 working
    working = [(nine - dt.timedelta(minutes=45), nine + dt.timedelta(minutes=30))]
    working.append((nine + dt.timedelta(minutes=45), nine + dt.timedelta(minutes=60)))
    taken = [SimpleNamespace(starts_at=nine - dt.timedelta(minutes=45), ends_at=nine)]
    column = build_columns(
        [day], CHICAGO, slot_minutes=15, first_hour=8, last_hour=10, working=working, appointments=taken
    )[0]
    laid = runs(column.cells, lambda instant, iso: f"/book?at={instant.astimezone(CHICAGO):%H%M}")
    assert laid == [
        Run(2, 3),
        Run(5, 1, "/book?at=0900", nine.isoformat(), "09:00"),
        Run(6, 1, "/book?at=0915", (nine + dt.timedelta(minutes=15)).isoformat(), "09:15"),
        Run(8, 1, "/book?at=0945", (nine + dt.timedelta(minutes=45)).isoformat(), "09:45"),
    ]
    # a slot nobody can take (no free provider) is working time; read-only users book nothing
    assert runs(column.cells, lambda instant, iso: None) == [Run(2, 5), Run(8, 1)]
    assert runs(column.cells, None) == [Run(2, 5), Run(8, 1)]


def test_hour_lines_and_labels_follow_the_slot_length():
    assert hour_period(15) == 4 and hour_period(20) == 3 and hour_period(45) == 4 and hour_period(60) == 1
    assert hour_starts(8, 6, 45) == [(1, "08:00"), (5, "11:00")]
    assert hour_starts(22, 8, 15) == [(1, "22:00"), (5, "23:00")]


def test_markup_of_slots_and_appointments_is_escaped():
    slots = calendar_html.runs_html(
        [
            Run(3, 2),
            Run(5, 1, "/scheduling/calendar/book?start=x&back=/y", "2026-03-02T15:00:00+00:00", "09:00"),
        ],
        "Mon 02 Mar",
    )
    assert '<div class="sched-cell working" style="grid-row: 3 / span 2"></div>' in slots
    assert 'href="/scheduling/calendar/book?start=x&amp;back=/y"' in slots
    assert 'data-start="2026-03-02T15:00:00+00:00"' in slots
    assert ">Book Mon 02 Mar at </span>09:00</a>" in slots
    appointment = SimpleNamespace(
        id="a1",
        status="booked",
        colour='#fff"><script>',
        local_start=dt.datetime(2026, 3, 2, 9, 30),
        patient_name="O'Brien, <Pat>",
        type_name="Eval & treat",
        provider_name="Sam <b>",
        arrival_label="Booked",
    )
    block = Block(4, 3, item=appointment, lane=1, lanes=2)
    shown = calendar_html.appointments_html([block], "/scheduling/calendar%3Fview%3Dweek", with_provider=True)
    assert "<script>" not in shown and "<Pat>" not in shown and "<b>" not in shown
    assert "grid-row: 4 / span 3; --lane: 1; --lanes: 2;" in shown
    assert 'href="/scheduling/appointments/a1?back=/scheduling/calendar%3Fview%3Dweek"' in shown
    assert "O&#39;Brien, &lt;Pat&gt;" in shown and "Eval &amp; treat · Sam &lt;b&gt;" in shown
    without = calendar_html.appointments_html([block], "x", with_provider=False)
    assert "Sam" not in without and '<span class="time">09:30</span>' in without


def test_working_time_expands_weekly_blocks_and_applies_exceptions_across_dst():
    block = SimpleNamespace(
        weekday=6,
        start_time=dt.time(0),
        end_time=dt.time(4),
        valid_from=dt.date(2026, 1, 1),
        valid_until=None,
    )
    off = SimpleNamespace(
        kind="time-off",
        starts_at=dt.datetime(2026, 3, 8, 0, tzinfo=CHICAGO),
        ends_at=dt.datetime(2026, 3, 8, 1, tzinfo=CHICAGO),
    )
    extra = SimpleNamespace(
        kind="extra-hours",
        starts_at=dt.datetime(2026, 3, 8, 10, tzinfo=CHICAGO),
        ends_at=dt.datetime(2026, 3, 8, 11, tzinfo=CHICAGO),
    )
    got = availability.working_time(
        [block], [off, extra], zone=CHICAGO, start=SPRING_FORWARD, end=SPRING_FORWARD
    )
    # 00:00-04:00 that night is three real hours; the first is off
    assert got == [
        (dt.datetime(2026, 3, 8, 7, tzinfo=UTC), dt.datetime(2026, 3, 8, 9, tzinfo=UTC)),
        (dt.datetime(2026, 3, 8, 15, tzinfo=UTC), dt.datetime(2026, 3, 8, 16, tzinfo=UTC)),
    ]
    assert (
        availability.working_time(
            [block], [], zone=CHICAGO, start=dt.date(2026, 3, 9), end=dt.date(2026, 3, 14)
        )
        == []
    )


async def test_working_time_of_many_pairs_at_once_is_each_pairs_own(db, make_tenant, make_user, owner_engine):
    clinic = await make_booking_clinic(db, make_tenant, make_user, owner_engine, patients=0)
    provider, main, annex = clinic.provider_id, clinic.location_id, clinic.other_location_id
    monday = dt.date(2026, 3, 2)
    async with tenant_session(db, clinic) as session:
        # the annex keeps New York time; the provider works Saturdays there
        await session.execute(
            update(Location).where(Location.id == annex).values(time_zone="America/New_York")
        )
        session.add(
            AvailabilityTemplate(
                provider_id=provider,
                location_id=annex,
                weekday=5,
                start_time=dt.time(9),
                end_time=dt.time(12),
                valid_from=dt.date(2026, 1, 1),
            )
        )
        session.add_all(
            [
                AvailabilityException(  # off everywhere Tuesday morning
                    provider_id=provider,
                    kind="time-off",
                    starts_at=dt.datetime(2026, 3, 3, 8, tzinfo=CHICAGO),
                    ends_at=dt.datetime(2026, 3, 3, 12, tzinfo=CHICAGO),
                ),
                AvailabilityException(  # extra hours at the annex only
                    provider_id=provider,
                    location_id=annex,
                    kind="extra-hours",
                    starts_at=dt.datetime(2026, 3, 4, 18, tzinfo=CHICAGO),
                    ends_at=dt.datetime(2026, 3, 4, 20, tzinfo=CHICAGO),
                ),
            ]
        )
        await session.commit()
    async with tenant_session(db, clinic) as session:
        pairs = [(provider, main), (provider, annex)]
        together = await availability.working_intervals_by_pair(
            session,
            pairs,
            start=monday,
            end=monday + dt.timedelta(days=6),
            zones={main: "America/Chicago", annex: "America/New_York"},
        )
        for p, loc in pairs:
            alone = await availability.working_intervals(
                session, provider_id=p, location_id=loc, start=monday, end=monday + dt.timedelta(days=6)
            )
            assert together[(p, loc)] == alone
        assert len(together[(provider, main)]) == 5  # Monday-Friday, Tuesday from noon
        assert together[(provider, main)][1][0] == dt.datetime(2026, 3, 3, 12, tzinfo=CHICAGO)
        assert together[(provider, annex)] == [
            (dt.datetime(2026, 3, 4, 18, tzinfo=CHICAGO), dt.datetime(2026, 3, 4, 20, tzinfo=CHICAGO)),
            (
                dt.datetime(2026, 3, 7, 9, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
                dt.datetime(2026, 3, 7, 12, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
            ),
        ]
