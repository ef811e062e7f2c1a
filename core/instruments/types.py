"""What a plugin returns from ``tessera_instruments``: plain frozen dataclasses.

An instrument's score is computed on the server, never taken from the client: either
``scoring="sum"`` (the sum of the answered items' values) or a pure function of the
answers (``{item key: value}``, only answered items) returning a number. A plugin's
function must not touch the database or the clock: the same answers give the same score.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

LOINC = "http://loinc.org"
#: an instrument's key: 2-40 of a-z 0-9 - _, starting with a letter (it is in the URL)
KEY = re.compile(r"[a-z][a-z0-9_-]{1,39}")

Scoring = Callable[[Mapping[str, float]], float]


@dataclass(frozen=True)
class Option:
    """One answer an item offers: ``value`` is what is stored and scored."""

    value: float
    label: str


@dataclass(frozen=True)
class Item:
    """One question. ``options`` are its allowed answers."""

    key: str
    text: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class Band:
    """An interpretation band: a score from ``low`` to ``high`` (inclusive) means ``label``."""

    low: float
    high: float
    label: str


@dataclass(frozen=True)
class AlertRule:
    """Raised when the answer to ``item`` (or the score, when ``item`` is None) is
    above ``above``: e.g. any answer > 0 to a self-harm item."""

    message: str
    above: float
    item: str | None = None


@dataclass(frozen=True)
class Instrument:
    """A standardized questionnaire a plugin contributes (``tessera_instruments``).

    ``code_system``/``code`` name the observation its score is stored as (LOINC where one
    exists), ``unit`` its unit (UCUM; ``"{score}"`` for a score). ``min_answered`` is the
    completeness rule (default: every item). ``mcid`` is the minimal clinically important
    difference, ``higher_is_better`` the direction of improvement. ``score_range`` is the
    lowest and highest possible score (default for ``"sum"``: from the items' options).
    """

    key: str
    version: str
    title: str
    items: tuple[Item, ...]
    code: str
    code_system: str = LOINC
    unit: str = "{score}"
    scoring: str | Scoring = "sum"
    min_answered: int | None = None
    bands: tuple[Band, ...] = ()
    mcid: float | None = None
    higher_is_better: bool = False
    alerts: tuple[AlertRule, ...] = ()
    score_range: tuple[float, float] | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def required(self) -> int:
        return len(self.items) if self.min_answered is None else self.min_answered

    def range(self) -> tuple[float, float]:
        if self.score_range is not None:
            return self.score_range
        low = sum(min(o.value for o in i.options) for i in self.items)
        high = sum(max(o.value for o in i.options) for i in self.items)
        return (low, high)

    def score(self, answers: Mapping[str, float]) -> float:
        if self.scoring == "sum":
            return float(sum(answers.values()))
        return float(self.scoring(dict(answers)))

    def band(self, score: float) -> str | None:
        return next((b.label for b in self.bands if b.low <= score <= b.high), None)

    def raised_alerts(self, answers: Mapping[str, float], score: float) -> list[str]:
        raised = []
        for rule in self.alerts:
            value = score if rule.item is None else answers.get(rule.item)
            if value is not None and value > rule.above:
                raised.append(rule.message)
        return raised

    def problems(self) -> list[str]:
        """What is wrong with this definition (checked at boot)."""
        out = []
        if not KEY.fullmatch(self.key):
            out.append(f"key {self.key!r}: use 2-40 of a-z 0-9 - _, starting with a letter")
        keys = [i.key for i in self.items]
        if not keys or len(set(keys)) != len(keys):
            out.append("items must be given, each with its own key")
        if any(not i.options for i in self.items):
            out.append("every item needs answer options")
        if not 1 <= self.required <= len(keys):
            out.append("min_answered must be between 1 and the number of items")
        if self.scoring != "sum" and not callable(self.scoring):
            out.append("scoring is 'sum' or a function of the answers")
        for rule in self.alerts:
            if rule.item is not None and rule.item not in keys:
                out.append(f"alert on unknown item {rule.item!r}")
        if self.mcid is not None and self.mcid <= 0:
            out.append("mcid must be positive")
        if not self.code or not self.code_system:
            out.append("code and code_system are required")
        return out
