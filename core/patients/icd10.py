"""ICD-10-CM, from the code set shipped in the ``simple-icd-10-cm`` package (the CMS
release it bundles, e.g. April 2026).

Only *billable* codes are accepted on a problem list: valid items that are leaves of the
classification (``M54.50`` yes; its parent category ``M54.5`` no). The package takes a few
seconds to load, so it is imported, and the search index built, once and lazily, in a
worker thread; :func:`ensure_loaded` may be awaited at startup to warm it.
"""

from __future__ import annotations

import asyncio
import bisect
import re
import threading
import warnings
from dataclasses import dataclass

from core.patients.search import normalize

MAX_RESULTS = 20
_CODE_LIKE = re.compile(r"^[A-Za-z]\d[0-9A-Za-z]?(\.?[0-9A-Za-z]{0,4})?$")


@dataclass(frozen=True)
class Code:
    code: str  # with its dot, e.g. "M54.50"
    description: str


class _Index:
    """Billable codes, searchable by code prefix and by word prefixes."""

    def __init__(self, module) -> None:
        self.module = module
        self.codes: list[Code] = []
        words: dict[str, set[int]] = {}
        for code in module.get_all_codes(True):
            if not module.is_leaf(code):
                continue
            position = len(self.codes)
            self.codes.append(Code(code, module.get_description(code)))
            for word in set(normalize(self.codes[-1].description).split()):
                words.setdefault(word, set()).add(position)
        # Codes sort by their undotted form so a prefix typed with or without the dot matches.
        self.by_code = sorted(range(len(self.codes)), key=lambda i: self.codes[i].code.replace(".", ""))
        self.code_keys = [self.codes[i].code.replace(".", "") for i in self.by_code]
        self.vocabulary = sorted(words)
        self.postings = [words[w] for w in self.vocabulary]
        self.lengths = [len(c.description) for c in self.codes]

    def by_prefix(self, prefix: str) -> list[int]:
        key = prefix.replace(".", "").upper()
        start = bisect.bisect_left(self.code_keys, key)
        found = []
        for k in range(start, len(self.code_keys)):
            if not self.code_keys[k].startswith(key) or len(found) >= MAX_RESULTS:
                break
            found.append(self.by_code[k])
        return found

    def by_words(self, words: list[str]) -> list[int]:
        matched: set[int] | None = None
        for word in words:
            start = bisect.bisect_left(self.vocabulary, word)
            hits: set[int] = set()
            for k in range(start, len(self.vocabulary)):
                if not self.vocabulary[k].startswith(word):
                    break
                hits |= self.postings[k]
            matched = hits if matched is None else matched & hits
            if not matched:
                return []
        # Shorter descriptions first: "Low back pain, unspecified" before its many variants.
        return sorted(matched or (), key=lambda i: (self.lengths[i], self.codes[i].code))[:MAX_RESULTS]

    def search(self, query: str) -> list[Code]:
        query = query.strip()
        if not query:
            return []
        positions: list[int] = []
        if _CODE_LIKE.match(query):
            positions = self.by_prefix(query)
        if not positions:
            positions = self.by_words(normalize(query).split())
        return [self.codes[i] for i in positions]

    def lookup(self, code: str) -> Code | None:
        candidate = code.strip().upper()
        if not candidate or len(candidate) > 10:
            return None
        if "." not in candidate and len(candidate) > 3:
            candidate = candidate[:3] + "." + candidate[3:]
        module = self.module
        if not module.is_valid_item(candidate) or "-" in candidate or not module.is_leaf(candidate):
            return None
        if not (module.is_category(candidate) or module.is_subcategory(candidate)):
            return None
        return Code(candidate, module.get_description(candidate))


_index: _Index | None = None
_lock = threading.Lock()


def _load() -> _Index:
    global _index
    with _lock:
        if _index is None:
            with warnings.catch_warnings():
                # the package reads its data with importlib.resources' legacy API
                warnings.simplefilter("ignore", DeprecationWarning)
                import simple_icd_10_cm

            _index = _Index(simple_icd_10_cm)
    return _index


async def ensure_loaded() -> _Index:
    return _index if _index is not None else await asyncio.to_thread(_load)


async def search(query: str) -> list[Code]:
    """Up to 20 billable codes whose code starts with ``query`` (with or without the dot)
    or whose description has words starting with each word of ``query``."""
    return (await ensure_loaded()).search(query)


async def lookup(code: str) -> Code | None:
    """The billable code ``code`` (any case, dot optional) with its description, or None
    when it is not a code of the set or not billable (a category with subdivisions)."""
    return (await ensure_loaded()).lookup(code)
