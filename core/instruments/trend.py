"""The trend chart of one measure: a server-rendered SVG (no script, no style element or
attribute: the Content-Security-Policy forbids them; presentation attributes only).

The shaded band is the minimal clinically important difference around the first value:
a later point inside it is no meaningful change; outside it, on the better side, is.
The SVG scales to its container (``viewBox``), so it reads on a 390 px wide phone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 34, 12, 14, 34


@dataclass(frozen=True)
class Point:
    at: dt.datetime
    value: float


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def trend_svg(
    points: list[Point],
    *,
    title: str,
    unit: str = "",
    low: float | None = None,
    high: float | None = None,
    mcid: float | None = None,
    higher_is_better: bool = False,
    ident: str = "trend",
) -> Markup:
    """An SVG line chart of ``points`` (oldest first) from ``low`` to ``high`` with the
    MCID band around the first value."""
    values = [p.value for p in points]
    lo = min([*values, *([low] if low is not None else [])])
    hi = max([*values, *([high] if high is not None else [])])
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    first, last = points[0].at, points[-1].at
    span = (last - first).total_seconds()

    def x(i: int, at: dt.datetime) -> float:
        if span <= 0:
            return LEFT + (plot_w / 2 if len(points) == 1 else plot_w * i / (len(points) - 1))
        return LEFT + plot_w * (at - first).total_seconds() / span

    def y(value: float) -> float:
        return TOP + plot_h * (hi - min(max(value, lo), hi)) / (hi - lo)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'role="img" aria-labelledby="{escape(ident)}-title" class="trend-chart" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{escape(ident)}-title">{escape(title)}: {len(points)} value{"s" if len(points) != 1 else ""}, '
        f"latest {_fmt(values[-1])}{(' ' + escape(unit)) if unit and not unit.startswith('{') else ''}</title>",
    ]
    if mcid is not None:
        top, bottom = y(values[0] + mcid), y(values[0] - mcid)
        parts.append(
            f'<rect class="mcid-band" x="{LEFT}" y="{top:.1f}" width="{plot_w}" height="{bottom - top:.1f}" '
            f'fill="#9aa5b1" fill-opacity="0.25"><title>Within the MCID ({_fmt(mcid)}) of the first value: '
            "no meaningful change</title></rect>"
        )
    # axis: the range's ends and the middle
    for tick in (lo, (lo + hi) / 2, hi):
        ty = y(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#d0d5db" stroke-width="1"/>'
            f'<text x="{LEFT - 4}" y="{ty + 4:.1f}" text-anchor="end" font-size="11" fill="#3e4c59">{_fmt(tick)}</text>'
        )
    arrow = "higher is better" if higher_is_better else "lower is better"
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end" font-size="11" fill="#3e4c59">{arrow}</text>'
    )
    for label, at in ((first, first), (last, last)) if span > 0 else ((first, first),):
        anchor = "start" if at == first else "end"
        px = LEFT if at == first else WIDTH - RIGHT
        parts.append(
            f'<text x="{px}" y="{HEIGHT - 18}" text-anchor="{anchor}" font-size="11" fill="#3e4c59">'
            f"{label.date().isoformat()}</text>"
        )
    coords = [(x(i, p.at), y(p.value)) for i, p in enumerate(points)]
    if len(coords) > 1:
        path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f6feb" stroke-width="2"/>')
    for (cx, cy), p in zip(coords, points, strict=True):
        parts.append(
            f'<circle class="point" cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#1f6feb">'
            f"<title>{p.at.date().isoformat()}: {_fmt(p.value)}</title></circle>"
        )
    parts.append("</svg>")
    # built from numbers and escaped text only
    return Markup("".join(parts))  # noqa: S704
