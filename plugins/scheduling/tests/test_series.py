"""Recurrence rules: RFC 5545's own RRULE examples (section 3.8.5.3, DTSTART in
America/New_York), the refusals a clinic needs, and DST: occurrences keep their local
time while their UTC offset changes; a time in the spring-forward gap and one in the
fall-back repeat land where RFC 5545 3.3.5 says."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from plugins.scheduling.recurrence import (
    MAX_OCCURRENCES,
    RuleError,
    expand,
    parse_rrule,
    parse_weekdays,
    to_instant,
    weekly_rule,
)

NY = zoneinfo.ZoneInfo("America/New_York")
EDT = dt.timedelta(hours=-4)
EST = dt.timedelta(hours=-5)


def occurrences(rule_text: str, start: dt.datetime, zone=NY):
    return expand(parse_rrule(rule_text, zone), start, zone)


def dates(found) -> list[str]:
    return [o.local.strftime("%Y-%m-%d") for o in found]


def days(year: int, month: int, *numbers: int) -> list[str]:
    return [f"{year}-{month:02d}-{n:02d}" for n in numbers]


# -- RFC 5545 3.8.5.3, "Examples" --------------------------------------------------------


def test_rfc_daily_for_10_occurrences():
    found = occurrences("FREQ=DAILY;COUNT=10", dt.datetime(1997, 9, 2, 9))
    assert dates(found) == days(1997, 9, *range(2, 12))


def test_rfc_daily_until_december_24_crosses_the_dst_change_at_nine_local():
    found = occurrences("FREQ=DAILY;UNTIL=19971224T000000Z", dt.datetime(1997, 9, 2, 9))
    # "(1997 9:00 AM EDT) September 2-30;October 1-25 (1997 9:00 AM EST) October 26-31;
    #  November 1-30;December 1-23"
    assert dates(found)[0] == "1997-09-02" and dates(found)[-1] == "1997-12-23"
    assert len(found) == 29 + 31 + 30 + 23
    by_date = {o.local.date(): o for o in found}
    assert all(o.local.time() == dt.time(9) for o in found)
    assert by_date[dt.date(1997, 10, 25)].starts_at.astimezone(NY).utcoffset() == EDT
    assert by_date[dt.date(1997, 10, 26)].starts_at.astimezone(NY).utcoffset() == EST
    assert by_date[dt.date(1997, 10, 26)].starts_at == dt.datetime(1997, 10, 26, 14, tzinfo=dt.UTC)


def test_rfc_weekly_for_10_occurrences():
    found = occurrences("FREQ=WEEKLY;COUNT=10", dt.datetime(1997, 9, 2, 9))
    assert dates(found) == days(1997, 9, 2, 9, 16, 23, 30) + days(1997, 10, 7, 14, 21, 28) + days(1997, 11, 4)


def test_rfc_weekly_until_december_24():
    found = occurrences("FREQ=WEEKLY;UNTIL=19971224T000000Z", dt.datetime(1997, 9, 2, 9))
    assert dates(found) == (
        days(1997, 9, 2, 9, 16, 23, 30)
        + days(1997, 10, 7, 14, 21, 28)
        + days(1997, 11, 4, 11, 18, 25)
        + days(1997, 12, 2, 9, 16, 23)
    )


def test_rfc_every_other_week_on_monday_wednesday_friday_until_december_24():
    found = occurrences(
        "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR", dt.datetime(1997, 9, 1, 9)
    )
    assert dates(found) == (
        days(1997, 9, 1, 3, 5, 15, 17, 19, 29)
        + days(1997, 10, 1, 3, 13, 15, 17, 27, 29, 31)
        + days(1997, 11, 10, 12, 14, 24, 26, 28)
        + days(1997, 12, 8, 10, 12, 22)
    )
    assert len(found) == 25


@pytest.mark.parametrize(
    "rule",
    ["FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH", "FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH"],
)
def test_rfc_weekly_on_tuesday_and_thursday_for_five_weeks(rule):
    found = occurrences(rule, dt.datetime(1997, 9, 2, 9))
    assert dates(found) == days(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + days(1997, 10, 2)


def test_rfc_every_other_week_on_tuesday_and_thursday_for_8_occurrences():
    found = occurrences("FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH", dt.datetime(1997, 9, 2, 9))
    assert dates(found) == days(1997, 9, 2, 4, 16, 18, 30) + days(1997, 10, 2, 14, 16)


@pytest.mark.parametrize(
    ("wkst", "expected"),
    [("MO", days(1997, 8, 5, 10, 19, 24)), ("SU", days(1997, 8, 5, 17, 19, 31))],
)
def test_rfc_week_start_changes_which_days_an_every_other_week_rule_gives(wkst, expected):
    found = occurrences(f"FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST={wkst}", dt.datetime(1997, 8, 5, 9))
    assert dates(found) == expected


def test_rfc_monthly_on_the_first_friday_for_10_occurrences():
    found = occurrences("FREQ=MONTHLY;COUNT=10;BYDAY=1FR", dt.datetime(1997, 9, 5, 9))
    assert dates(found) == (
        days(1997, 9, 5) + days(1997, 10, 3) + days(1997, 11, 7) + days(1997, 12, 5)
        + days(1998, 1, 2) + days(1998, 2, 6) + days(1998, 3, 6) + days(1998, 4, 3)
        + days(1998, 5, 1) + days(1998, 6, 5)
    )  # fmt: skip


def test_rfc_monthly_on_the_second_to_last_monday_for_6_months():
    found = occurrences("FREQ=MONTHLY;COUNT=6;BYDAY=-2MO", dt.datetime(1997, 9, 22, 9))
    assert dates(found) == (
        days(1997, 9, 22) + days(1997, 10, 20) + days(1997, 11, 17) + days(1997, 12, 22)
        + days(1998, 1, 19) + days(1998, 2, 16)
    )  # fmt: skip


def test_rfc_monthly_on_the_2nd_and_15th_for_10_occurrences():
    found = occurrences("FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15", dt.datetime(1997, 9, 2, 9))
    expected = [f"{y}-{m:02d}-{d:02d}" for y, m in ((1997, 9), (1997, 10), (1997, 11), (1997, 12), (1998, 1))
                for d in (2, 15)]  # fmt: skip
    assert dates(found) == expected


def test_rfc_third_instance_of_tuesday_wednesday_or_thursday_for_3_months():
    found = occurrences("FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3", dt.datetime(1997, 9, 4, 9))
    assert dates(found) == ["1997-09-04", "1997-10-07", "1997-11-06"]


def test_rfc_second_to_last_weekday_of_the_month_with_a_count():
    found = occurrences("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2;COUNT=7", dt.datetime(1997, 9, 29, 9))
    assert dates(found) == [
        "1997-09-29", "1997-10-30", "1997-11-27", "1997-12-30", "1998-01-29", "1998-02-26", "1998-03-30",
    ]  # fmt: skip


def test_rfc_an_invalid_date_such_as_february_30_is_ignored():
    found = occurrences("FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5", dt.datetime(2007, 1, 15, 9))
    assert dates(found) == ["2007-01-15", "2007-01-30", "2007-02-15", "2007-03-15", "2007-03-30"]


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("FREQ=DAILY;INTERVAL=2", "no end"),  # RFC: "Every other day - forever"
        ("FREQ=MONTHLY;BYMONTHDAY=-3", "no end"),  # RFC: "third-to-the-last day, forever"
        ("FREQ=HOURLY;INTERVAL=3;COUNT=5", "at most daily"),  # RFC: "Every 3 hours"
        ("FREQ=MINUTELY;INTERVAL=15;COUNT=6", "at most daily"),
        ("FREQ=YEARLY;COUNT=3", "yearly"),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20261224T000000Z", "not both"),
        ("FREQ=WEEKLY;COUNT=201", "1 to 200"),
        ("FREQ=WEEKLY;COUNT=0", "1 to 200"),
        ("FREQ=WEEKLY;COUNT=3;BYHOUR=9,14", "BYHOUR not supported"),
        ("FREQ=WEEKLY;COUNT=3;BYDAY=2TU", "needs FREQ=MONTHLY"),
        ("FREQ=WEEKLY;COUNT=3;BYDAY=XX", "not a weekday"),
        ("FREQ=WEEKLY;COUNT=3;COUNT=4", "appears twice"),
        ("BYDAY=TU;COUNT=3", "FREQ is missing"),
        ("FREQ=WEEKLY;UNTIL=tomorrow", "UNTIL must be"),
        ("FREQ=MONTHLY;BYSETPOS=1;COUNT=2", "BYSETPOS needs"),
        ("FREQ=WEEKLY;INTERVAL=0;COUNT=2", "INTERVAL values"),
        ("", "give a recurrence rule"),
    ],
)
def test_rules_a_clinic_cannot_book_are_refused_with_a_reason(rule, says):
    with pytest.raises(RuleError) as refused:
        parse_rrule(rule, NY)
    assert says in refused.value.reason


def test_a_start_the_rule_does_not_give_is_refused_naming_the_rule_days():
    with pytest.raises(RuleError) as refused:
        occurrences("FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4", dt.datetime(2026, 3, 2, 9))  # a Monday
    assert refused.value.field == "start"
    assert "Monday 2026-03-02" in refused.value.reason and "Tuesday, Thursday" in refused.value.reason


def test_a_rule_that_never_recurs_is_refused_at_once_not_searched_to_the_year_9999():
    # Refused by the start check, which runs before dateutil is asked for anything (a rule
    # that cannot match would make dateutil search to the year 9999; speed is `make bench`'s).
    with pytest.raises(RuleError) as refused:
        occurrences("FREQ=MONTHLY;BYMONTHDAY=30,31;COUNT=3", dt.datetime(2026, 2, 10, 9))
    assert refused.value.field == "start"
    assert "is not a day the rule gives" in refused.value.reason
    # the same rule from a day it gives recurs, so the expansion ends
    assert len(occurrences("FREQ=MONTHLY;BYMONTHDAY=30,31;COUNT=3", dt.datetime(2026, 1, 30, 9))) == 3


def test_more_than_the_maximum_number_of_visits_is_refused():
    with pytest.raises(RuleError) as refused:
        occurrences("FREQ=DAILY;UNTIL=20270101T000000Z", dt.datetime(2026, 1, 5, 9))
    assert str(MAX_OCCURRENCES) in refused.value.reason


def test_a_series_running_past_two_years_is_refused():
    with pytest.raises(RuleError) as refused:
        occurrences("FREQ=MONTHLY;COUNT=30", dt.datetime(2026, 1, 5, 9))
    assert "two years" in refused.value.reason


# -- DST ---------------------------------------------------------------------------------


def test_tuesday_thursday_at_nine_across_the_spring_change_stays_nine_local():
    found = occurrences("FREQ=WEEKLY;BYDAY=TU,TH;COUNT=6", dt.datetime(2026, 2, 24, 9))
    assert dates(found) == [
        "2026-02-24",
        "2026-02-26",
        "2026-03-03",
        "2026-03-05",
        "2026-03-10",
        "2026-03-12",
    ]
    assert all(o.starts_at.astimezone(NY).time() == dt.time(9) for o in found)
    assert [o.starts_at.hour for o in found] == [14, 14, 14, 14, 13, 13]  # EST, then EDT (2026-03-08)


def test_tuesday_thursday_at_nine_across_the_autumn_change_stays_nine_local():
    found = occurrences("FREQ=WEEKLY;BYDAY=TU,TH;COUNT=6", dt.datetime(2026, 10, 20, 9))
    assert dates(found) == [
        "2026-10-20",
        "2026-10-22",
        "2026-10-27",
        "2026-10-29",
        "2026-11-03",
        "2026-11-05",
    ]
    assert all(o.starts_at.astimezone(NY).time() == dt.time(9) for o in found)
    assert [o.starts_at.hour for o in found] == [13, 13, 13, 13, 14, 14]  # EDT, then EST (2026-11-01)


def test_a_time_in_the_spring_forward_gap_uses_the_offset_before_the_gap():
    # RFC 5545 3.3.5: 02:30 does not exist on 2026-03-08 in New York; read with -05:00 it
    # is 07:30Z, which the clocks show as 03:30 EDT. The other Sundays stay 02:30.
    found = occurrences("FREQ=WEEKLY;COUNT=3", dt.datetime(2026, 3, 1, 2, 30))
    assert [o.starts_at for o in found] == [
        dt.datetime(2026, 3, 1, 7, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 15, 6, 30, tzinfo=dt.UTC),
    ]
    assert found[1].starts_at.astimezone(NY).time() == dt.time(3, 30)


def test_an_ambiguous_time_in_the_fall_back_repeat_is_its_first_occurrence():
    instant = to_instant(dt.datetime(2026, 11, 1, 1, 30), NY)
    assert instant == dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC)  # 01:30 EDT, not EST
    assert instant.astimezone(NY).utcoffset() == EDT


# -- the friendly form -------------------------------------------------------------------


def test_twice_a_week_for_six_weeks_becomes_a_weekly_rrule_of_twelve_visits():
    rule, first = weekly_rule(("TU", "TH"), dt.datetime(2026, 3, 2, 9), NY, weeks=6)  # a Monday
    assert first == dt.datetime(2026, 3, 3, 9)  # the first Tuesday
    assert rule.text() == "FREQ=WEEKLY;UNTIL=20260414T035959Z;BYDAY=TU,TH"  # 23:59:59 EDT on Mon 04-13
    found = expand(parse_rrule(rule.text(), NY), first, NY)
    assert len(found) == 12 and dates(found)[-1] == "2026-04-09"


def test_a_count_of_visits_becomes_count():
    rule, first = weekly_rule(("MO", "WE", "FR"), dt.datetime(2026, 3, 4, 10, 30), NY, count=9, every=2)
    assert rule.text() == "FREQ=WEEKLY;INTERVAL=2;COUNT=9;BYDAY=MO,WE,FR"
    assert first == dt.datetime(2026, 3, 4, 10, 30)


def test_weekdays_are_read_as_codes_names_or_numbers():
    assert parse_weekdays(["thu", "Tuesday", 0]) == ("MO", "TU", "TH")
    with pytest.raises(RuleError):
        parse_weekdays(["Funday"])
    with pytest.raises(RuleError):
        parse_weekdays([])


def test_a_parsed_rule_writes_back_the_same_text():
    text = "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU;WKST=SU"
    assert parse_rrule("rrule:" + text.lower(), NY).text() == text
