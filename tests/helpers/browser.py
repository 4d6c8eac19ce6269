"""Opening a report in headless Chromium (Debian's /usr/bin/chromium) through Playwright."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# Flags for a sandboxed machine without a network: no first-run, sync or update traffic.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class OpenedPage:
    errors: list[str]  # console errors and uncaught page errors
    top_candidate_rows: int
    broken_images: int
    structure_views: int  # 3D structure views that plotly drew when their button was clicked
    live_3d_views: int  # 3D figures still drawn after every button was clicked (one at a time)
    hull_plots: int  # convex-hull plots drawn with the page (2D) or behind a button (3D)
    hull_notes: list[str]  # the sentences shown where a candidate has no hull plot
    links: dict[str, str]  # id → href of every link with an id


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, see README)")
    return path


def open_in_chromium(html: Path) -> OpenedPage:
    """Load ``html`` from disk and read what a reader would see."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html.resolve().as_uri())
        rows = page.locator("table#top-candidates tbody tr").count()
        broken = page.evaluate(
            "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length"
        )
        buttons, views = page.locator(".structure-view > button"), 0
        for k in range(buttons.count()):
            buttons.nth(k).click()
            views += page.locator(".structure-view").nth(k).locator(".js-plotly-plot").count()
        live = page.locator(".on-demand .js-plotly-plot").count()
        hulls = page.locator(".hull-plot .js-plotly-plot, .hull-plot.on-demand").count()
        notes = page.locator(".hull-note").all_inner_texts()
        links = page.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('a[id]'))"
            ".map(a => [a.id, a.getAttribute('href')]))"
        )
        browser.close()
    return OpenedPage(errors, rows, broken, views, live, hulls, notes, links)
