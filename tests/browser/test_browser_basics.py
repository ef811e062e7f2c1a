"""The browser setup itself, on pages that need no sign-in."""

from __future__ import annotations


async def test_unknown_clinic_page_in_a_real_browser(live_server, browser_page):
    response = await browser_page.goto(f"http://no-such-clinic.localhost:{live_server}/")
    assert response.status == 404
    assert await browser_page.locator("h1").inner_text() == "Not found"
    assert "There is no clinic at this address." in await browser_page.content()
