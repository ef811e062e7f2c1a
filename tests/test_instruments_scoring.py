"""Instrument definitions, scoring and the trend SVG, without the database; and the
``tessera_instruments`` hook at boot (a malformed or duplicate instrument stops it)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from core.app import build_registry, create_app
from core.instruments.nprs import NPRS
from core.instruments.services import InstrumentInputError, read_answers
from core.instruments.trend import Point, trend_svg
from core.plugin_api import Instrument, Item, Option
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.registry import PluginError
from tests.test_instruments_api import SCALE


def test_nprs_is_the_published_scale():
    assert (NPRS.code_system, NPRS.code, NPRS.mcid, NPRS.higher_is_better) == (
        "http://loinc.org",
        "72514-3",
        2,
        False,
    )
    assert NPRS.range() == (0, 10) and NPRS.problems() == []
    assert [NPRS.band(v) for v in (0, 2, 5, 9)] == ["No pain", "Mild", "Moderate", "Severe"]
    assert NPRS.score({"pain": 7}) == 7


def test_plugin_scoring_function_bands_and_alerts():
    assert SCALE.score({"q1": 3, "q2": 3, "q3": 3}) == 12
    assert SCALE.score({"q1": 1, "q2": 0, "q3": 1, "q4": 2}) == 4
    assert SCALE.band(3.5) == "minimal" and SCALE.band(4) == "moderate" and SCALE.band(12) == "severe"
    assert SCALE.raised_alerts({"q4": 0}, 0) == []
    assert SCALE.raised_alerts({"q4": 2}, 8) == ["Item 4 answered above 0: ask about safety today"]


def test_completeness_names_every_missing_item():
    with pytest.raises(InstrumentInputError) as caught:
        read_answers(SCALE, {"answers": {"q2": 1}})
    assert caught.value.status_code == 422
    assert [e["field"] for e in caught.value.extra] == ["answers.q1", "answers.q3", "answers.q4"]
    answers, when = read_answers(
        SCALE, {"answers": {"q1": 0, "q2": 1, "q3": 2}, "effective_at": "2026-03-02T09:00:00-06:00"}
    )
    assert answers == {"q1": 0, "q2": 1, "q3": 2} and when == dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)


def test_malformed_definitions_are_named():
    bad = Instrument(
        key="X", version="1", title="t", items=(Item("a", "a", ()),), code="", min_answered=2, mcid=0
    )
    problems = " | ".join(bad.problems())
    for part in ("key 'X'", "answer options", "min_answered", "code and code_system", "mcid"):
        assert part in problems


def test_trend_svg_draws_every_point_and_the_mcid_band():
    day = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    points = [Point(day + dt.timedelta(days=7 * i), v) for i, v in enumerate((8, 6, 3))]
    svg = str(trend_svg(points, title="Pain", low=0, high=10, mcid=2))
    assert svg.startswith("<svg") and 'viewBox="0 0 360 200"' in svg and 'width="100%"' in svg
    circles = re.findall(r'<circle class="point" cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert len(circles) == 3
    xs, ys = [float(c[0]) for c in circles], [float(c[1]) for c in circles]
    assert xs == sorted(xs) and ys == sorted(ys)  # later and lower (better) pain: lower on screen is higher y
    band = re.search(r'<rect class="mcid-band" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"', svg)
    # the band spans 6..10 (first value 8 +- 2) on a 0..10 axis of 152 px from y=14
    assert float(band.group(1)) == pytest.approx(14 + 152 * 0 / 10, abs=0.1)
    assert float(band.group(2)) == pytest.approx(152 * 4 / 10, abs=0.1)
    assert "<polyline" in svg and "lower is better" in svg
    assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", svg)
    one = str(trend_svg(points[:1], title="Pain <b>", low=0, high=10))
    assert one.count('class="point"') == 1 and "<b>" not in one and "mcid-band" not in one


class Twice:
    manifest = Manifest(name="twice", version="1.0", title="Twice")

    @hookimpl
    def tessera_instruments(self):
        return [Instrument(key="nprs", version="9", title="Mine", items=NPRS.items, code="x-1")]


class Odd:
    manifest = Manifest(name="odd", version="1.0", title="Odd")

    @hookimpl
    def tessera_instruments(self):
        return [
            Instrument(
                key="ok-scale", version="1", title="t", items=(Item("a", "a", (Option(0, "0"),)),), code=""
            )
        ]


def test_hook_tessera_instruments(settings):
    from tests.test_instruments_api import Scales

    app = create_app(settings, registry=build_registry(settings, extra_plugins=[Scales()]))
    assert app.state.instruments["testscale"] == ("scales", SCALE)
    assert app.state.instruments["nprs"] == ("core", NPRS)
    with pytest.raises(PluginError, match="instrument 'nprs' is defined by both 'core' and 'twice'"):
        build_registry(settings, extra_plugins=[Twice()]).instruments()
    with pytest.raises(PluginError, match="plugin 'odd': instrument 'ok-scale': code and code_system"):
        build_registry(settings, extra_plugins=[Odd()]).instruments()
