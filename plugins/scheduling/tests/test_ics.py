"""The iCalendar writer against RFC 5545's rules and its own examples: folding at 75
octets without splitting UTF-8 (3.1), TEXT escaping (3.3.11), UTC DATE-TIME (3.3.5), the
required properties; every output is read back by the strict reader in ical_reader.py."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from plugins.scheduling.ics import Event, calendar, escape_text, fold, utc_datetime
from plugins.scheduling.tests.ical_reader import IcalError, parse, unescape_text, unfold

STAMP = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def event(**over) -> Event:
    values = {
        "uid": "0190d4c2-0000-7000-8000-000000000001@tessera-scheduling",
        "starts_at": dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC),
        "ends_at": dt.datetime(2026, 3, 2, 16, 15, tzinfo=dt.UTC),
        "summary": "PT evaluation \u2013 A.E.",
        "stamp": STAMP,
    }
    values.update(over)
    return Event(**values)


# -- 3.3.11 TEXT ------------------------------------------------------------------------


def test_text_escaping_follows_3_3_11():
    # the RFC's LOCATION example (3.8.1.7): "Conference Room - F123\, Bldg. 002"
    assert escape_text("Conference Room - F123, Bldg. 002") == "Conference Room - F123\\, Bldg. 002"
    assert escape_text("a;b") == "a\\;b"
    assert escape_text("back\\slash") == "back\\\\slash"
    # line breaks of any convention become \n; colons are not escaped
    assert escape_text("one\r\ntwo\nthree\rfour") == "one\\ntwo\\nthree\\nfour"
    assert escape_text("Time: 10:30") == "Time: 10:30"
    # control characters are not TEXT (3.3.11 TSAFE-CHAR); tab is
    assert escape_text("bell\x07 and\ttab") == "bell and\ttab"


def test_escaping_round_trips_through_a_strict_reader():
    # the RFC's DESCRIPTION example (3.8.1.5), a multi-line text with commas
    text = (
        'Meeting to provide technical review for "Phoenix" design.\n'
        "Happy Face Conference Room. Phoenix design team MUST attend this meeting.\n"
        "RSVP to team leader."
    )
    assert unescape_text(escape_text(text)) == text
    tricky = "a\\,b;c,\\n literal backslash-n, then a real\nbreak"
    assert unescape_text(escape_text(tricky)) == tricky
    with pytest.raises(IcalError):
        unescape_text("unescaped, comma")


# -- 3.1 folding ------------------------------------------------------------------------


def test_folding_the_rfc_example_unfolds_to_the_original():
    line = "DESCRIPTION:This is a long description that exists on a long line." * 3
    folded = fold(line)
    physical = folded.split("\r\n")
    assert len(physical) == 3
    assert all(len(p.encode()) <= 75 for p in physical)
    assert len(physical[0].encode()) == 75  # folds use the whole line, not less
    assert all(p.startswith(" ") for p in physical[1:])
    assert unfold((folded + "\r\n").encode()) == [line]


def test_short_lines_are_not_folded():
    assert fold("SUMMARY:Follow-up") == "SUMMARY:Follow-up"
    exactly = "X" * 75
    assert fold(exactly) == exactly


def test_folding_never_splits_a_utf8_character():
    # each "é" is two octets and "🙂" four: a byte-wise fold at 75 would cut one in half
    for filler in ("é" * 80, "a" + "🙂" * 40, "SUMMARY:" + "Zoë Müller \u2013 " * 12):
        folded = fold(filler)
        for physical in folded.split("\r\n"):
            assert len(physical.encode("utf-8")) <= 75
            physical.encode("utf-8").decode("utf-8")
        assert unfold((folded + "\r\n").encode()) == [filler]


# -- 3.3.5 DATE-TIME ---------------------------------------------------------------------


def test_times_are_written_in_utc_form():
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    # the RFC's form #2 example: 19980119T070000Z
    assert utc_datetime(dt.datetime(1998, 1, 19, 7, 0, tzinfo=dt.UTC)) == "19980119T070000Z"
    # 09:30 in Chicago on 2 March 2026 (CST, UTC-6) and on 9 March (CDT, UTC-5)
    assert utc_datetime(dt.datetime(2026, 3, 2, 9, 30, tzinfo=chicago)) == "20260302T153000Z"
    assert utc_datetime(dt.datetime(2026, 3, 9, 9, 30, tzinfo=chicago)) == "20260309T143000Z"
    with pytest.raises(ValueError):
        utc_datetime(dt.datetime(2026, 3, 2, 9, 30))


# -- whole objects ----------------------------------------------------------------------


def test_calendar_is_strict_rfc_5545_with_crlf_and_required_properties():
    events = [
        event(location="Riverside Main Clinic, Room 2; east wing", sequence=3, status="TENTATIVE"),
        event(
            uid="second@tessera-scheduling",
            summary="Cancelled: Follow-up \u2013 Zoë Müller, with a long summary that must be folded somewhere",
            status="CANCELLED",
            description="line one\nline two",
        ),
    ]
    data = calendar(events, name="Sam Patel, PT").encode("utf-8")
    assert b"\n" not in data.replace(b"\r\n", b"")  # every line break is CRLF
    parsed = parse(data)
    assert parsed.one("NAME") == "Sam Patel, PT"
    first, second = parsed.children
    assert first.name == second.name == "VEVENT"
    assert first.one("UID") == events[0].uid
    assert first.one("DTSTAMP") == "20260301T120000Z"
    assert first.time("DTSTART") == events[0].starts_at
    assert first.time("DTEND") == events[0].ends_at
    assert first.one("LOCATION") == "Riverside Main Clinic, Room 2; east wing"
    assert first.one("STATUS") == "TENTATIVE"
    assert first.one("SEQUENCE") == "3"
    assert first.one("SUMMARY") == "PT evaluation \u2013 A.E."
    assert second.one("SUMMARY") == events[1].summary
    assert second.one("STATUS") == "CANCELLED"
    assert second.one("DESCRIPTION") == "line one\nline two"
    assert second.values("LOCATION") == []


def test_an_empty_calendar_is_still_valid():
    parsed = parse(calendar([], name="Nobody").encode())
    assert parsed.children == []


def test_events_refuse_impossible_values():
    with pytest.raises(ValueError):
        event(status="MAYBE")
    with pytest.raises(ValueError):
        event(ends_at=dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC))
    with pytest.raises(ValueError):
        event(sequence=-1)
