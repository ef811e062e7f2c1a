"""Identifier checks and code sets of core.practice: NPI check digit, NUCC taxonomy
format, IANA time zones, CMS place-of-service codes."""

from __future__ import annotations

import pytest

from core.practice.codes import (
    PLACE_OF_SERVICE,
    luhn_check_digit,
    npi_problem,
    place_of_service_problem,
    taxonomy_problem,
    time_zone_problem,
)


@pytest.mark.parametrize(
    "npi",
    [
        "1234567893",  # the example in CMS's NPI check-digit requirements
        "1245319599",
        "1003000126",
    ],
)
def test_valid_npis_pass(npi):
    assert npi_problem(npi) is None


@pytest.mark.parametrize(
    ("npi", "reason"),
    [
        ("1234567890", "check digit"),  # the published example with a wrong last digit
        ("1234567894", "check digit"),
        ("1245319598", "check digit"),
        ("2134567893", "check digit"),  # two digits swapped
        ("123456789", "10 digits"),
        ("12345678930", "10 digits"),
        ("12345A7893", "10 digits"),
        ("", "10 digits"),
    ],
)
def test_invalid_npis_are_refused_with_a_reason(npi, reason):
    assert reason in npi_problem(npi)


def test_the_check_digit_is_luhn_over_80840_and_nine_digits():
    # CMS's worked example: 80840 123456789 -> check digit 3.
    assert luhn_check_digit("80840123456789") == 3
    # plain Luhn examples
    assert luhn_check_digit("7992739871") == 3
    assert luhn_check_digit("0") == 0


@pytest.mark.parametrize("code", ["225100000X", "207Q00000X", "103T00000X", "2251E1300X"])
def test_taxonomy_codes_of_the_nucc_shape_pass(code):
    assert taxonomy_problem(code) is None


@pytest.mark.parametrize(
    "code", ["225100000", "225100000Y", "2251000000X", "22510000X", "225-00000X", "225100000x"]
)
def test_taxonomy_codes_of_another_shape_are_refused(code):
    assert "9 letters or digits followed by X" in taxonomy_problem(code)


@pytest.mark.parametrize("name", ["America/Chicago", "Europe/Berlin", "UTC", "Pacific/Honolulu"])
def test_iana_time_zones_pass(name):
    assert time_zone_problem(name) is None


@pytest.mark.parametrize(
    "name", ["America/Springfield", "CST6CDT7", "Mars/Olympus", "", "../etc/passwd", "/etc/x"]
)
def test_unknown_time_zones_are_refused(name):
    assert "IANA" in time_zone_problem(name)


def test_place_of_service_codes_ship_with_their_cms_names():
    assert PLACE_OF_SERVICE["11"] == "Office"
    assert PLACE_OF_SERVICE["12"] == "Home"
    assert PLACE_OF_SERVICE["22"] == "On Campus-Outpatient Hospital"
    assert PLACE_OF_SERVICE["02"].startswith("Telehealth")
    assert PLACE_OF_SERVICE["10"] == "Telehealth Provided in Patient's Home"
    for code in PLACE_OF_SERVICE:
        assert place_of_service_problem(code) is None
    assert len(code) == 2 and code.isdigit()


@pytest.mark.parametrize("code", ["1", "011", "00", "98", "ab", "office"])
def test_unknown_place_of_service_codes_are_refused(code):
    problem = place_of_service_problem(code)
    assert problem and "11 (Office)" in problem
