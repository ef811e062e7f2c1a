"""The calendar grid's repeated elements as markup built in Python.

A provider's week draws up to a few hundred open slots and ~50 appointments. Through Jinja
each was a dozen escaped expressions, a large share of the request's CPU
(docs/benchmarks.md, "Calendar week"); here each element is one f-string and the template
places a column's joined markup once. Every interpolated text goes through ``escape``
except numbers and times (a run's ``start`` and ``label``, made by ``calendar_grid.runs``,
are an ISO 8601 instant and "HH:MM").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from plugins.scheduling.calendar_grid import Block, Run


def runs_html(runs: Sequence[Run], day_label: str) -> Markup:
    """Working time nobody can book as one white element per run of rows; an open slot as
    a link to its booking form (htmx loads it into the dialog; without JS it is a page)."""
    book = f'<span class="visually-hidden">Book {escape(day_label)} at </span>'
    parts = []
    for run in runs:
        if run.url is None:
            parts.append(
                f'<div class="sched-cell working" style="grid-row: {run.row:d} / span {run.rows:d}"></div>'
            )
        else:
            url = escape(run.url)
            # start and label are an ISO 8601 instant and "HH:MM": nothing to escape
            parts.append(
                f'<a class="sched-cell open" style="grid-row: {run.row:d}" href="{url}" hx-get="{url}"'
                f' data-start="{run.start}">{book}{run.label}</a>'
            )
    return Markup("\n".join(parts))  # noqa: S704 - every text in it went through escape()


def appointments_html(blocks: Sequence[Block], back_query: str, *, with_provider: bool) -> Markup:
    """Each appointment as a link to its details (``back_query``: the calendar's address,
    URL-encoded, to come back to), in its lane, coloured by its type."""
    escaped: dict[str, str] = {}  # types, colours, statuses and providers repeat

    def text(value: str) -> str:
        if value not in escaped:
            escaped[value] = escape(value)
        return escaped[value]

    parts = []
    for block in blocks:
        a: Any = block.item
        url = escape(f"/scheduling/appointments/{a.id}?back={back_query}")
        what = text(a.type_name) + (" · " + text(a.provider_name) if with_provider else "")
        start = a.local_start
        parts.append(
            f'<a class="sched-appt status-{text(a.status)}" style="grid-row: {block.row:d} / span'
            f" {block.span:d}; --lane: {block.lane:d}; --lanes: {block.lanes:d};"
            f' --type-colour: {text(a.colour)}" href="{url}" hx-get="{url}"'
            f' data-appointment="{escape(str(a.id))}">'
            f'\n<span class="time">{start.hour:02d}:{start.minute:02d}</span>'
            f'\n<span class="who">{escape(a.patient_name)}</span>'
            f'\n<span class="what">{what}</span>'
            f'\n<span class="sched-status">{text(a.arrival_label)}</span>\n</a>'
        )
    return Markup("\n".join(parts))  # noqa: S704 - every text in it went through escape()


__all__ = ["appointments_html", "runs_html"]
