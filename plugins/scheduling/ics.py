"""A small iCalendar writer (RFC 5545) for the provider feeds: one VCALENDAR of VEVENTs.

Only what a published, read-only calendar needs is written, and each rule is the RFC's:

* content lines end in CRLF and are folded so that no line is longer than 75 octets,
  continuation lines starting with one space; a UTF-8 character is never split
  (RFC 5545 section 3.1, "Content Lines");
* TEXT values escape backslash, semicolon and comma with a backslash and write a line
  break as ``\\n`` (section 3.3.11, "Text");
* times are DATE-TIME in the UTC form ``19980119T070000Z`` (section 3.3.5, form #2), so a
  calendar client needs no VTIMEZONE to place them;
* a VCALENDAR carries PRODID and VERSION:2.0 (sections 3.7.3, 3.7.4); a VEVENT carries
  UID and DTSTAMP (section 3.6.1), here with DTSTART, DTEND, SUMMARY, LOCATION,
  STATUS (CONFIRMED / TENTATIVE / CANCELLED, section 3.8.1.11) and SEQUENCE (3.8.7.4).

The feed has no METHOD property, so DTSTAMP is the time the event was last changed
(section 3.8.7.2), and SEQUENCE says how often its time was changed: clients replace
their copy of an event with a higher sequence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

CRLF = "\r\n"
#: RFC 5545 section 3.1: lines SHOULD NOT be longer than 75 octets, excluding the line break
MAX_LINE_OCTETS = 75
#: RFC 5545 section 3.8.1.11, for VEVENT
EVENT_STATUSES = ("TENTATIVE", "CONFIRMED", "CANCELLED")


@dataclass(frozen=True)
class Event:
    """One VEVENT. Times must be timezone-aware; they are written in UTC."""

    uid: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    summary: str
    stamp: dt.datetime
    status: str = "CONFIRMED"
    sequence: int = 0
    location: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if self.status not in EVENT_STATUSES:
            raise ValueError(f"VEVENT status must be one of {EVENT_STATUSES}, not {self.status!r}")
        if self.ends_at <= self.starts_at:
            raise ValueError("an event must end after it starts")
        if self.sequence < 0:
            raise ValueError("SEQUENCE is a non-negative integer")


def escape_text(value: str) -> str:
    """A TEXT value as RFC 5545 section 3.3.11 writes it: ``\\`` -> ``\\\\``, ``;`` ->
    ``\\;``, ``,`` -> ``\\,``, a line break (CRLF, CR or LF) -> ``\\n``. A colon is not
    escaped. Other control characters are not allowed in TEXT and are dropped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif char == ";":
            out.append("\\;")
        elif char == ",":
            out.append("\\,")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t" or (ord(char) >= 0x20 and char != "\x7f"):
            out.append(char)
    return "".join(out)


def utc_datetime(value: dt.datetime) -> str:
    """DATE-TIME in UTC (RFC 5545 section 3.3.5, "FORM #2: DATE WITH UTC TIME")."""
    if value.tzinfo is None:
        raise ValueError("a naive datetime has no defined instant; give it a time zone")
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> str:
    """Fold one content line (RFC 5545 section 3.1): at most 75 octets per physical line,
    each continuation starting with a single space (which counts towards its 75), split
    only between characters so a multi-octet UTF-8 sequence stays whole."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    limit = MAX_LINE_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            pieces.append("".join(current))
            current, size = [" "], 1  # the continuation's leading space is one octet
        current.append(char)
        size += width
    pieces.append("".join(current))
    return CRLF.join(pieces)


def _property(name: str, value: str) -> str:
    return fold(f"{name}:{value}") + CRLF


def _event(event: Event) -> str:
    lines = [
        "BEGIN:VEVENT" + CRLF,
        _property("UID", escape_text(event.uid)),
        _property("DTSTAMP", utc_datetime(event.stamp)),
        _property("DTSTART", utc_datetime(event.starts_at)),
        _property("DTEND", utc_datetime(event.ends_at)),
        _property("SUMMARY", escape_text(event.summary)),
    ]
    if event.location:
        lines.append(_property("LOCATION", escape_text(event.location)))
    if event.description:
        lines.append(_property("DESCRIPTION", escape_text(event.description)))
    lines += [
        _property("STATUS", event.status),
        _property("SEQUENCE", str(event.sequence)),
        "END:VEVENT" + CRLF,
    ]
    return "".join(lines)


def calendar(events: Iterable[Event], *, name: str, prodid: str = "-//Tessera//Scheduling//EN") -> str:
    """A complete iCalendar object (``text/calendar``): VCALENDAR with VERSION, PRODID,
    CALSCALE and the calendar's display name (RFC 7986 NAME, and X-WR-CALNAME, which
    older clients read), then one VEVENT per event."""
    head = [
        "BEGIN:VCALENDAR" + CRLF,
        _property("VERSION", "2.0"),
        _property("PRODID", prodid),
        _property("CALSCALE", "GREGORIAN"),
        _property("NAME", escape_text(name)),
        _property("X-WR-CALNAME", escape_text(name)),
    ]
    return "".join(head) + "".join(_event(e) for e in events) + "END:VCALENDAR" + CRLF


__all__ = ["EVENT_STATUSES", "Event", "calendar", "escape_text", "fold", "utc_datetime"]
