"""The numeric pain rating scale (NPRS), core's own instrument: one item, 0 (no pain) to
10 (worst pain imaginable). LOINC 72514-3 "Pain severity - 0-10 verbal numeric rating
[Score] - Reported". A change of 2 points is the minimal clinically important
difference; lower is better."""

from __future__ import annotations

from core.instruments.types import LOINC, Band, Instrument, Item, Option

NPRS = Instrument(
    key="nprs",
    version="1",
    title="Pain (NPRS 0-10)",
    description="Numeric pain rating scale: 0 no pain, 10 worst pain imaginable.",
    items=(
        Item(
            key="pain",
            text="On a scale of 0 to 10, how bad is your pain right now?",
            options=tuple(
                Option(n, {0: "0 - no pain", 10: "10 - worst pain imaginable"}.get(n, str(n)))
                for n in range(11)
            ),
        ),
    ),
    code_system=LOINC,
    code="72514-3",
    unit="{score}",
    scoring="sum",
    bands=(Band(0, 0, "No pain"), Band(1, 3, "Mild"), Band(4, 6, "Moderate"), Band(7, 10, "Severe")),
    mcid=2,
    higher_is_better=False,
)
