"""The trend chart in a real browser on a 390 px wide phone: the NPRS trend with its MCID
band fits the screen and draws under the Content-Security-Policy without a violation."""

from __future__ import annotations

import datetime as dt
import re

from core.instruments import services
from core.instruments.nprs import NPRS
from core.tenancy import tenant_scope
from tests.browser.test_content_security_policy import _LISTEN
from tests.test_patient_screens import add_patient

PASSWORD = "correct horse battery"


async def test_the_pain_trend_fits_a_phone(db, make_tenant, make_user, live_server, browser_page):
    tenant = await make_tenant(name="Trend Clinic")
    clinician = await make_user(tenant, roles=("clinician",), password=PASSWORD, name="Pat Trend")
    patient_id = await add_patient(db, tenant)
    start = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)
    with tenant_scope(tenant.id):
        async with db.session() as session:
            for week, pain in enumerate((8, 7, 5, 3)):
                when = start + dt.timedelta(weeks=week)
                await services.submit(
                    session,
                    NPRS,
                    patient_id,
                    {"pain": pain},
                    effective_at=when,
                    user_id=clinician.id,
                    now=when,
                )
            await session.commit()

    page = browser_page
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.add_init_script(_LISTEN)
    base = f"http://{tenant.slug}.localhost:{live_server}"
    await page.goto(f"{base}/login")
    await page.get_by_label("E-mail address").fill(clinician.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/$"))

    await page.goto(f"{base}/patients/{patient_id}")
    await page.wait_for_load_state("networkidle")
    chart = page.locator("svg.trend-chart")
    await chart.scroll_into_view_if_needed()
    assert await chart.is_visible()
    box = await chart.bounding_box()
    assert box is not None and 200 < box["width"] <= 390 and box["x"] >= 0 and box["height"] > 100
    assert await chart.locator("circle.point").count() == 4
    band = await chart.locator("rect.mcid-band").bounding_box()
    assert band is not None and band["height"] > 10
    # nothing of the Measures panel reaches past the screen's edge
    wide = await page.evaluate(
        "Array.from(document.querySelectorAll('#measures, #measures *'))"
        ".filter(e => e.getBoundingClientRect().right > 390).map(e => e.tagName)"
    )
    assert wide == []
    assert await page.evaluate("window.__csp") == []
