"""Patient search: normalised names and the query built from what a person types.

There are no contrib extensions (no ``unaccent``, no ``pg_trgm``), so each patient row
carries normalised copies of its names, maintained by the ORM (see ``normalize``), with
btree indexes using ``text_pattern_ops``. A prefix is searched as the range
``col ~>=~ 'smi' AND col ~<~ 'smj'`` rather than ``LIKE 'smi%'``: the result is the same,
but the pattern comparison operators are *leakproof* and ``LIKE`` (``textlike``) is not,
and under row-level security PostgreSQL only uses leakproof conditions as index
conditions. With ``LIKE`` every search read all of the clinic's patients through the
tenant prefix of the index and filtered them (docs/benchmarks.md).

What a person may type in ``q``:

* ``"Nunez, Jo"``: family name prefix, comma, given name prefix (either part may be empty);
* ``"jose nu"``: given then family (the reverse order matches too), several words are
  tried at every split, so ``"mary ann smith"`` finds given "Mary Ann", family "Smith";
* one word: a prefix of the family, given or preferred name;
* an ISO date (``1980-02-03``): the birth date; digits only: the MRN.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, false, or_

_APOSTROPHES = re.compile(r"['\u2019\u02bc`]")
_NOT_WORD = re.compile(r"[^\w]+|_")


def normalize(value: str | None) -> str:
    """Case- and accent-insensitive form of a name: NFKD, combining marks dropped,
    casefolded, apostrophes removed, other punctuation as spaces, spaces collapsed.

    ``"José Núñez"`` -> ``"jose nunez"``, ``"O'Brien-Smith"`` -> ``"obrien smith"``.
    """
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = _APOSTROPHES.sub("", stripped.casefold())
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def prefix_end(value: str) -> str | None:
    """The smallest string greater than every string starting with ``value``, in code point
    (= UTF-8 byte, ``text_pattern_ops``) order; None when there is none."""
    chars = list(value)
    while chars:
        last = ord(chars.pop()) + 1
        if 0xD800 <= last <= 0xDFFF:  # surrogates are not characters: skip them
            last = 0xE000
        if last <= 0x10FFFF:
            return "".join(chars) + chr(last)
    return None


def prefix_match(column, value: str) -> ColumnElement[bool]:
    """``column`` starts with ``value``, as a range of the ``text_pattern_ops`` index."""
    condition = column.op("~>=~", is_comparison=True)(value)
    end = prefix_end(value)
    if end is not None:
        condition = and_(condition, column.op("~<~", is_comparison=True)(end))
    return condition


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MRN = re.compile(r"^\d+$")


@dataclass
class ParsedQuery:
    """What ``q`` asks for: name candidates (family prefix, given prefix) pairs, where
    either side may be empty; a single-name candidate matches family, given or preferred."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    single: str = ""
    birth_date: dt.date | None = None
    mrn: str | None = None
    bad_date: str | None = None

    @property
    def has_name(self) -> bool:
        return bool(self.pairs or self.single)


def parse_query(q: str) -> ParsedQuery:
    parsed = ParsedQuery()
    q = (q or "").strip()
    if not q:
        return parsed
    # Dates and MRNs may be typed alone or next to a name ("nunez 1980-02-03").
    rest = []
    for word in q.split():
        bare = word.strip(",")
        if _ISO_DATE.match(bare):
            try:
                parsed.birth_date = dt.date.fromisoformat(bare)
            except ValueError:
                parsed.bad_date = bare
            continue
        if _MRN.match(bare) and "," not in word:
            parsed.mrn = bare
            continue
        rest.append(word)
    text = " ".join(rest)
    if not text.strip(" ,"):
        return parsed
    if "," in text:
        family, _, given = text.partition(",")
        parsed.pairs.append((normalize(family), normalize(given)))
        return parsed
    words = normalize(text).split()
    if not words:
        return parsed
    parsed.single = " ".join(words)
    for i in range(1, len(words)):
        first, last = " ".join(words[:i]), " ".join(words[i:])
        parsed.pairs.append((last, first))  # "given family"
        parsed.pairs.append((first, last))  # "family given", without the comma
    return parsed


def name_condition(parsed: ParsedQuery, family_col, given_col, preferred_col) -> ColumnElement[bool]:
    """The WHERE clause for the name part of ``parsed``: prefix ranges on the normalised
    columns (see the module's docstring for why not ``LIKE``)."""
    alternatives = []
    if parsed.single:
        alternatives += [
            prefix_match(family_col, parsed.single),
            prefix_match(given_col, parsed.single),
            prefix_match(preferred_col, parsed.single),
        ]
    for family, given in parsed.pairs:
        parts = []
        if family:
            parts.append(prefix_match(family_col, family))
        if given:
            parts.append(or_(prefix_match(given_col, given), prefix_match(preferred_col, given)))
        if parts:
            alternatives.append(and_(*parts))
    return or_(*alternatives) if alternatives else false()
