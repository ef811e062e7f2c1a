"""Code sets and identifier checks for locations and providers: place of service, NPI,
NUCC taxonomy code, IANA time zones. Each check returns a reason a person can act on, or
``None`` when the value is fine."""

from __future__ import annotations

import re
import zoneinfo

#: The place-of-service codes Tessera offers, from the CMS page "Place of Service Code Set"
#: (https://www.cms.gov/medicare/coding-billing/place-of-service-codes/code-sets). Only
#: the codes an outpatient clinic uses are shipped; add one here (with its CMS name) to
#: offer it.
PLACE_OF_SERVICE: dict[str, str] = {
    "02": "Telehealth Provided Other than in Patient's Home",
    "03": "School",
    "10": "Telehealth Provided in Patient's Home",
    "11": "Office",
    "12": "Home",
    "13": "Assisted Living Facility",
    "19": "Off Campus-Outpatient Hospital",
    "22": "On Campus-Outpatient Hospital",
    "31": "Skilled Nursing Facility",
    "32": "Nursing Facility",
    "49": "Independent Clinic",
    "53": "Community Mental Health Center",
    "62": "Comprehensive Outpatient Rehabilitation Facility",
    "99": "Other Place of Service",
}

DEFAULT_PLACE_OF_SERVICE = "11"

_TAXONOMY = re.compile(r"^[0-9A-Z]{9}X$")
_NPI = re.compile(r"^[0-9]{10}$")

#: Prefix of the NPI check digit: the ISO health-industry card issuer prefix 80840.
NPI_ISSUER_PREFIX = "80840"


def place_of_service_problem(code: str) -> str | None:
    if code in PLACE_OF_SERVICE:
        return None
    known = ", ".join(f"{c} ({n})" for c, n in PLACE_OF_SERVICE.items())
    return f"{code!r} is not a place-of-service code Tessera knows; use one of {known}"


def luhn_check_digit(digits: str) -> int:
    """The Luhn (mod 10) check digit to append to ``digits``."""
    total = 0
    # From the right, every other digit (starting with the rightmost) is doubled, since
    # the check digit will take the rightmost position.
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def npi_problem(npi: str) -> str | None:
    """Check an NPI: ten digits whose last is the Luhn check digit computed over "80840"
    followed by the first nine, as CMS's "Requirements for National Provider Identifier
    (NPI) and NPI Enumerator" specifies."""
    if not _NPI.match(npi):
        return "an NPI is exactly 10 digits"
    if luhn_check_digit(NPI_ISSUER_PREFIX + npi[:9]) != int(npi[9]):
        return "this NPI's check digit does not match; check it for a typing error"
    return None


def taxonomy_problem(code: str) -> str | None:
    """NUCC Health Care Provider Taxonomy code format: nine letters or digits, then "X"
    (e.g. 225100000X, Physical Therapist). Only the format is checked."""
    if _TAXONOMY.match(code):
        return None
    return "a taxonomy code is 10 characters: 9 letters or digits followed by X (e.g. 225100000X)"


def time_zone_problem(name: str) -> str | None:
    if not name or name != name.strip() or name.startswith("/") or ".." in name:
        return "use an IANA time zone name such as America/Chicago"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not a known time zone; use an IANA name such as America/Chicago"
    return None
