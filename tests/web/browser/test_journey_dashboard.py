"""The dashboard in a real browser: its two charts are inline SVG that Chromium draws under the
page's Content-Security-Policy (no script, no style attribute), with no console error and no
CSP violation; photographed when COMMGATE_SCREENSHOTS is set."""

from __future__ import annotations

from tests.support.browser import log_in, screenshot


def test_the_dashboard_draws_its_charts_without_errors(page, site, watch, tmp_path):
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    log_in(page, site.base, "ada", path="/dashboard")
    charts = page.locator("svg.chart")
    assert charts.count() == 2
    for index in range(2):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 80
    # The prepared mail opened cases today: the new-cases chart has bars, coloured by the
    # stylesheet (a CSP refusing app.css would leave SVG's default black fill).
    bars = charts.nth(0).locator("rect")
    assert bars.count() >= 1
    fill = bars.first.evaluate("r => getComputedStyle(r).fill")
    assert fill not in ("", "rgb(0, 0, 0)"), fill
    assert page.locator("#open-reviews").count() == 1
    screenshot(page, tmp_path, "dashboard")
    assert console == []
    assert watch.dialogs == [] and watch.outside() == []
    # The record can see what it must catch: markup with a style attribute is refused by the
    # page's CSP, and Chromium says so on the console.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    page.wait_for_function("true")
    assert any("Content Security Policy" in line for line in console), console
