"""Core's "Measures" chart panel: one trend chart per measure the patient has values of
(shown only to a role that reads observations, and only when there are some)."""

from __future__ import annotations

from typing import Any

from litestar import Request

from core.authz.guards import may
from core.instruments import services
from core.instruments.trend import Point, trend_svg
from core.plugins.types import ChartPanel, HeaderItem
from core.web.accessors import request_db_session

#: rows of the compact table under each chart
RECENT = 5


async def measures_panel(patient: Any, request: Request) -> list[ChartPanel]:
    if not may(request, "core:observations", "read"):
        return []
    session = request_db_session(request)
    if session is None:
        return []
    rows = await services.list_observations(session, patient.id)
    await session.commit()  # the audited read, like the rest of the chart
    if not rows:
        return []
    by_code: dict[tuple[str, str], list] = {}
    for row in rows:
        by_code.setdefault((row.code_system, row.code), []).append(row)
    instruments = {(i.code_system, i.code): i for _, i in request.app.state.instruments.values()}
    charts = []
    for index, ((system, code), values) in enumerate(sorted(by_code.items())):
        instrument = instruments.get((system, code))
        title = instrument.title if instrument else values[-1].display
        low, high = instrument.range() if instrument else (None, None)
        points = [Point(r.effective_at, float(r.value)) for r in values]
        charts.append(
            {
                "title": title,
                "code": code,
                "system": system,
                "unit": values[-1].unit,
                "mcid": instrument.mcid if instrument else None,
                "higher_is_better": instrument.higher_is_better if instrument else None,
                "svg": trend_svg(
                    points,
                    title=title,
                    unit=values[-1].unit,
                    low=low,
                    high=high,
                    mcid=instrument.mcid if instrument else None,
                    higher_is_better=bool(instrument and instrument.higher_is_better),
                    ident=f"trend-{index}",
                ),
                "recent": [
                    {"at": r.effective_at, "value": services.observation_json(r)["value"]} for r in values
                ][-RECENT:][::-1],
            }
        )
    return [
        ChartPanel(
            title="Measures", template="core/instruments/_measures.html", context={"charts": charts}, order=50
        )
    ]


async def alert_items(patient: Any, request: Request) -> list[HeaderItem]:
    """The alerts of each instrument's latest response (a later response without the alert
    clears it), for the chart header."""
    if not may(request, "core:observations", "read"):
        return []
    session = request_db_session(request)
    if session is None:
        return []
    latest = await services.latest_alerts(session, patient.id)
    await session.commit()
    titles = {key: instrument.title for key, (_, instrument) in request.app.state.instruments.items()}
    return [
        HeaderItem(f"{titles.get(key, key)}: {message}", level="alert", order=5)
        for key, messages in sorted(latest.items())
        for message in messages
    ]
