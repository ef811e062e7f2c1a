"""Column types that read every stored value back as something Python can work with.

PostgreSQL keeps dates and instants far outside what a clinic uses (``-infinity``,
``infinity``, year 1, year 9999), and asyncpg hands them over as Python's extreme values
(``infinity`` even as a *naive* datetime). Shifting such a value into a time zone or adding
a day to it raises, so one odd row written around the API (a restore, a hand edit, an old
import) used to break every page that lists it. These types read a stored value outside
the accepted range (:data:`EARLIEST_DATE` .. :data:`LATEST_DATE`, the same range the API's
input parsers enforce, ``core.web.inputs``) as the nearest end of that range. Writing is
unchanged: values arrive already checked.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime
from sqlalchemy.types import TypeDecorator

EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2200, 12, 31)
EARLIEST_INSTANT = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST_INSTANT = dt.datetime(2201, 1, 1, tzinfo=dt.UTC) - dt.timedelta(microseconds=1)


def readable_instant(value: dt.datetime | None) -> dt.datetime | None:
    """A stored ``timestamptz`` clamped into the accepted range, always aware (UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:  # asyncpg's +-infinity: datetime.max / datetime.min, naive
        return EARLIEST_INSTANT if value.year < EARLIEST_DATE.year else LATEST_INSTANT
    # asyncpg returns timestamptz in UTC (the same tzinfo as the bounds), so comparing
    # converts nothing and cannot overflow
    if value < EARLIEST_INSTANT:
        return EARLIEST_INSTANT
    if value > LATEST_INSTANT:
        return LATEST_INSTANT
    return value


def readable_date(value: dt.date | None) -> dt.date | None:
    """A stored ``date`` clamped into the accepted range."""
    if value is None:
        return None
    if value < EARLIEST_DATE:
        return EARLIEST_DATE
    if value > LATEST_DATE:
        return LATEST_DATE
    return value


class SafeDateTime(TypeDecorator):
    """``timestamptz`` (every ``Mapped[dt.datetime]`` of the app's models)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def coerce_compared_value(self, op, value):
        # as the plain type would: ``starts_at - timedelta`` binds an interval
        return self.impl.coerce_compared_value(op, value)

    def process_result_value(self, value, dialect):
        return readable_instant(value)


class SafeDate(TypeDecorator):
    """``date`` (every ``Mapped[dt.date]`` of the app's models)."""

    impl = Date
    cache_ok = True

    def coerce_compared_value(self, op, value):
        # as the plain type would: ``day + timedelta`` binds an interval
        return self.impl.coerce_compared_value(op, value)

    def process_result_value(self, value, dialect):
        return readable_date(value)
