"""A strict iCalendar reader for the tests: it refuses what RFC 5545 forbids instead of
guessing, so a feed that any real client would have to repair fails the test.

Checks: every line ends in CRLF and is at most 75 octets (section 3.1); unfolding removes
CRLF + one space or tab; a content line is ``name[;params]:value`` with an IANA or X- name
(section 3.1); TEXT values contain no unescaped ``;`` or ``,`` and only the escapes of
section 3.3.11; components nest (BEGIN/END match); VCALENDAR has VERSION:2.0 and PRODID;
every VEVENT has UID and DTSTAMP once (section 3.6.1); DATE-TIME values in UTC form.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

NAME = re.compile(r"^(?:[A-Za-z0-9-]+)$")
UTC_DATE_TIME = re.compile(r"^\d{8}T\d{6}Z$")
TEXT_PROPERTIES = {"SUMMARY", "LOCATION", "DESCRIPTION", "UID", "NAME", "X-WR-CALNAME"}
DATE_TIME_PROPERTIES = {"DTSTAMP", "DTSTART", "DTEND"}


class IcalError(AssertionError):
    pass


@dataclass
class Component:
    name: str
    properties: list[tuple[str, str]] = field(default_factory=list)
    children: list[Component] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.properties if n == name]

    def one(self, name: str) -> str:
        found = self.values(name)
        if len(found) != 1:
            raise IcalError(f"{self.name} must have exactly one {name}, has {len(found)}")
        return found[0]

    def time(self, name: str) -> dt.datetime:
        return dt.datetime.strptime(self.one(name), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def unescape_text(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            if i + 1 >= len(value):
                raise IcalError(f"dangling backslash in {value!r}")
            nxt = value[i + 1]
            if nxt in "\\;,":
                out.append(nxt)
            elif nxt in "nN":
                out.append("\n")
            else:
                raise IcalError(f"unknown escape \\{nxt} in {value!r}")
            i += 2
            continue
        if char in ";,":
            raise IcalError(f"unescaped {char!r} in TEXT value {value!r}")
        if ord(char) < 0x20 and char != "\t":
            raise IcalError(f"control character in TEXT value {value!r}")
        out.append(char)
        i += 1
    return "".join(out)


def unfold(data: bytes) -> list[str]:
    """The logical content lines of ``data`` (after the physical-line checks)."""
    if not data.endswith(b"\r\n"):
        raise IcalError("the object must end with CRLF")
    physical = data[:-2].split(b"\r\n")
    for line in physical:
        if b"\n" in line or b"\r" in line:
            raise IcalError(f"bare CR or LF inside {line!r}")
        if len(line) > 75:
            raise IcalError(f"line of {len(line)} octets (at most 75): {line!r}")
        line.decode("utf-8")  # a fold must not split a UTF-8 sequence
    logical: list[bytes] = []
    for line in physical:
        if line[:1] in (b" ", b"\t"):
            if not logical:
                raise IcalError("continuation line before any content line")
            logical[-1] += line[1:]
        else:
            logical.append(line)
    return [line.decode("utf-8") for line in logical]


def parse(data: bytes) -> Component:
    """The VCALENDAR in ``data``, with TEXT values unescaped."""
    stack: list[Component] = []
    root: Component | None = None
    for line in unfold(data):
        head, sep, value = line.partition(":")
        if not sep:
            raise IcalError(f"content line without a colon: {line!r}")
        name = head.split(";", 1)[0].upper()
        if not NAME.match(name):
            raise IcalError(f"bad property name {name!r}")
        if name == "BEGIN":
            component = Component(value.upper())
            if stack:
                stack[-1].children.append(component)
            elif root is not None:
                raise IcalError("more than one top-level component")
            else:
                root = component
            stack.append(component)
            continue
        if name == "END":
            if not stack or stack[-1].name != value.upper():
                raise IcalError(f"END:{value} does not close {stack[-1].name if stack else 'anything'}")
            stack.pop()
            continue
        if not stack:
            raise IcalError(f"property {name} outside any component")
        if name in TEXT_PROPERTIES:
            value = unescape_text(value)
        if name in DATE_TIME_PROPERTIES and not UTC_DATE_TIME.match(value):
            raise IcalError(f"{name} is not a UTC DATE-TIME: {value!r}")
        stack[-1].properties.append((name, value))
    if stack or root is None:
        raise IcalError("unterminated or missing VCALENDAR")
    if root.name != "VCALENDAR":
        raise IcalError(f"top-level component is {root.name}")
    if root.one("VERSION") != "2.0":
        raise IcalError("VERSION must be 2.0")
    root.one("PRODID")
    for event in root.children:
        if event.name == "VEVENT":
            event.one("UID")
            event.one("DTSTAMP")
            if event.time("DTEND") <= event.time("DTSTART"):
                raise IcalError("DTEND must be after DTSTART")
    return root
