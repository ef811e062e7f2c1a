"""The Content-Security-Policy in a real browser: an owner walks the main pages of core and
scheduling and Chromium reports no policy violation and no console error — the pages'
scripts, styles and htmx requests all work under the policy (core/web/security_headers.py)."""

from __future__ import annotations

import re

from tests.test_patient_screens import add_patient

PASSWORD = "correct horse battery"

#: listens before any page script runs (Playwright's init scripts are not subject to CSP)
_LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""

MAIN_PAGES = (
    "/",
    "/patients",
    "/patients/new",
    "/audit",
    "/users",
    "/settings",
    "/settings/plugins",
    "/settings/locations",
    "/account/sessions",
    "/account/tokens",
    "/account/mfa",
    "/scheduling/calendar",
    "/scheduling/today",
    "/scheduling/waitlist",
    "/scheduling/setup",
    "/scheduling/setup/availability",
    "/scheduling/reports",
    "/scheduling/feeds",
)


async def test_main_pages_run_under_the_policy_without_violations(
    db, make_tenant, make_user, live_server, browser_page
):
    tenant = await make_tenant(name="Policy Clinic", plugins=("scheduling",))
    owner = await make_user(tenant, roles=("owner",), password=PASSWORD, name="Pat Policy")
    patient_id = await add_patient(db, tenant)
    page = browser_page
    base = f"http://{tenant.slug}.localhost:{live_server}"
    errors: list[str] = []

    def on_console(msg) -> None:
        # the browser's own favicon probe is the one 404 that is not the page's doing
        if msg.type == "error" and not (msg.location or {}).get("url", "").endswith("/favicon.ico"):
            errors.append(f"{page.url}: {msg.text} ({(msg.location or {}).get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    await page.add_init_script(_LISTEN)

    await page.goto(f"{base}/login")
    await page.get_by_label("E-mail address").fill(owner.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/$"))

    visited = []
    for path in (*MAIN_PAGES, f"/patients/{patient_id}"):
        response = await page.goto(f"{base}{path}")
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        assert "frame-ancestors 'none'" in (await response.all_headers())["content-security-policy"]
        await page.wait_for_load_state("networkidle")
        # htmx and the site's own script ran (both are files; neither was blocked)
        assert await page.evaluate("typeof window.htmx === 'object'"), path
        violations = await page.evaluate("window.__csp")
        assert violations == [], f"{path}: {violations}"
        visited.append(path)

    # htmx under the policy: the patient search swaps results in, the chart's access panel loads
    await page.goto(f"{base}/patients")
    await page.get_by_role("searchbox").fill("Lovel")
    await page.locator("#patient-results").get_by_text("Lovelace").first.wait_for()
    await page.goto(f"{base}/patients/{patient_id}")
    await page.locator("#patient-access table, #patient-access p").first.wait_for()
    assert await page.evaluate("window.__csp") == []
    assert errors == [], errors
    assert len(visited) == len(MAIN_PAGES) + 1
