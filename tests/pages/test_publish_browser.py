"""Published pages in a real browser: headless Chromium (Debian's package) via Playwright.

Skipped when /usr/bin/chromium is absent, except under CI=true, where they fail instead.
Set PANEL_UPDATE_DOCS=1 to refresh the screenshots in docs/.
"""

from __future__ import annotations

import base64
import os
import shutil
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page

from panel.cli import main
from panel.paths import default_db, outputs_dir
from panel.store import open_store
from tests.conftest import EXAMPLES, ROOT
from tests.pages_support import store_sample

# Pages, not the claims gate (tests/store/test_approval.py): fake drafts name rivals.
pytestmark = pytest.mark.usefixtures("claims_not_required")

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SAMPLE = "claude-haiku-open-weights-vs-gpt-5-mini-api"
NAMES = ["Claude Haiku Open Weights", "GPT-5 Mini API"]
HOSTILE = {
    "name": "<script>window.__pwned='name'</script>Evil {{ 7*7 }} Tool",
    "slug": "evil-tool",
    "vendor": '"><img src=x onerror="window.__pwned=\'vendor\'">',
    "category": "</title><script>alert('category')</script>",
    "tagline": "<svg onload=\"alert('tagline')\"></svg>{% if true %}live{% endif %}",
    "description": (
        "<a href=\"javascript:window.__pwned='description'\">click me</a> "
        "<iframe src=\"javascript:alert('frame')\"></iframe> ${7*7} {{ 7*7 }}\n\n"
        "<body onload=alert('body')> [md](javascript:alert('md')) </textarea><script>alert(1)"
        "</script>"
    ),
    "entry": "<b onmouseover=\"alert('entry')\">Free</b>",
    "license": "' onfocus='alert(1)' autofocus='",
    "url": "https://evil.example/\"><script>window.__pwned='url'</script>?javascript:alert(1)",
}


def cli(*args: str) -> int:
    """Run the CLI in a worker thread: Playwright's sync API keeps an event loop running in
    this one, and drafting needs asyncio.run."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(main, list(args)).result()


@dataclass
class Watch:
    """What a page did: requests, dialogs, errors."""

    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def open_page(browser: Browser, url: str, viewport: dict[str, int]) -> tuple[Page, Watch]:
    """Load ``url`` with everything the page does recorded."""
    page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    watch = Watch()
    page.on("request", lambda request: watch.requests.append(request.url))
    page.on("pageerror", lambda error: watch.errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(url)
    page.wait_for_load_state("load")
    return page, watch


LIVE_MARKUP = """() => {
    const found = [];
    for (const el of document.querySelectorAll('*')) {
        for (const attr of el.attributes) {
            const value = attr.value.trim().toLowerCase();
            if (attr.name.startsWith('on')) found.push(`${el.tagName} ${attr.name}`);
            if (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(attr.name)
                && (value.startsWith('javascript:') || value.startsWith('data:')))
                found.push(`${el.tagName} ${attr.name}=${attr.value}`);
        }
    }
    for (const tag of ['script', 'iframe', 'img', 'svg', 'object', 'embed', 'form', 'base'])
        for (const el of document.getElementsByTagName(tag)) found.push(tag);
    for (const a of document.links) if (a.protocol === 'javascript:') found.push(a.href);
    return found;
}"""


def assert_inert(page: Page, watch: Watch) -> None:
    """No script ran, no dialog opened, no live markup or javascript: link exists."""
    assert page.evaluate("() => window.__pwned") is None
    assert watch.dialogs == []
    assert watch.errors == []
    assert page.evaluate(LIVE_MARKUP) == []
    assert [r for r in watch.requests if not r.startswith("file://")] == []


def test_hostile_launch_is_published_inert(
    browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    launch = tmp_path / "evil.yaml"
    launch.write_text(yaml.safe_dump(HOSTILE, allow_unicode=True), encoding="utf-8")
    assert (
        cli("compare", str(launch), str(EXAMPLES / "gpt-5-mini-api.yaml"), "-m", "fake:mixed") == 0
    )
    slug = "evil-tool-vs-gpt-5-mini-api"
    assert cli("publish", slug, "--force") == 0
    capsys.readouterr()
    site = outputs_dir() / "site"
    for relative in (f"compare/{slug}.html", "tools/evil-tool.html", "index.html"):
        page, watch = open_page(browser, (site / relative).as_uri(), DESKTOP)
        assert_inert(page, watch)
        text = page.inner_text("body")
        assert "<script>window.__pwned='name'</script>Evil {{ 7*7 }} Tool" in text
        assert "Evil 49" not in text
        if relative != "index.html":
            assert "{% if true %}live{% endif %}" in text
            assert "<b onmouseover=\"alert('entry')\">Free</b>" in text
            assert page.title().startswith("<script>window.__pwned='name'</script>Evil")
            # the http(s) URL is a link, whole, with its quotes still inside the attribute
            hrefs = page.eval_on_selector_all(
                "a[rel~=nofollow]", "els => els.map(e => e.getAttribute('href'))"
            )
            assert hrefs == [HOSTILE["url"]]
        page.close()
    ET.parse(site / "feed.xml")  # still well-formed XML


def test_published_comparison_renders_at_desktop_and_phone_widths(
    browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store(default_db()) as store:
        store_sample(store)
    assert cli("publish", SAMPLE, "--force") == 0
    capsys.readouterr()
    url = (outputs_dir() / "site" / "compare" / f"{SAMPLE}.html").as_uri()
    shots = {}
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page, watch = open_page(browser, url, viewport)
        assert_inert(page, watch)
        assert page.locator(".tool h2").all_inner_texts() == NAMES
        assert NAMES[0] in page.title() and NAMES[1] in page.title()
        assert page.locator(".persona").count() == 4
        assert page.locator(".verdict.ship").count() == 5
        assert page.locator(".verdict.skip").count() == 3
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{name}: the page scrolls sideways ({width}px)"
        first, second = (page.locator(".tool").nth(i).bounding_box() for i in (0, 1))
        assert first is not None and second is not None
        if name == "desktop":  # side by side
            assert abs(first["y"] - second["y"]) < 1 and second["x"] > first["x"]
        else:  # stacked
            assert second["y"] >= first["y"] + first["height"]
        path = tmp_path / f"comparison-{name}.png"
        page.screenshot(path=str(path), full_page=name == "desktop")
        page.close()
        shots[name] = path
    for name, path in shots.items():
        stats = image_stats(browser, path)
        assert stats["width"] == (DESKTOP if name == "desktop" else PHONE)["width"]
        assert stats["colours"] > 20, f"{name} screenshot looks blank: {stats}"
        assert 0.05 < stats["inked"] < 0.95, f"{name} screenshot looks blank: {stats}"
    if os.environ.get("PANEL_UPDATE_DOCS") == "1":
        for path in shots.values():
            shutil.copy(path, ROOT / "docs" / path.name)


def test_index_links_lead_to_the_pages(
    browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store(default_db()) as store:
        store_sample(store)
    assert cli("publish", SAMPLE, "--force") == 0
    capsys.readouterr()
    page, watch = open_page(browser, (outputs_dir() / "site" / "index.html").as_uri(), PHONE)
    page.click(f"a[href='compare/{SAMPLE}.html']")
    page.wait_for_load_state("load")
    assert page.inner_text("h1").startswith(f"{NAMES[0]} vs {NAMES[1]}")
    page.click("a[href='../tools/gpt-5-mini-api.html']")
    page.wait_for_load_state("load")
    assert page.inner_text("h1") == "GPT-5 Mini API — ship or skip?"
    page.click("a.brand")
    page.wait_for_load_state("load")
    assert page.url.endswith("/site/index.html")
    assert_inert(page, watch)


IMAGE_STATS = """async (src) => {
    const img = new Image();
    img.src = src;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    let inked = 0, samples = 0;
    for (let i = 0; i < data.length; i += 4 * 13) {
        const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
        colours.add((r << 16) | (g << 8) | b);
        if (Math.abs(r - data[0]) + Math.abs(g - data[1]) + Math.abs(b - data[2]) > 24) inked++;
        samples++;
    }
    return {width: canvas.width, height: canvas.height, colours: colours.size,
            inked: inked / samples};
}"""


def image_stats(browser: Browser, path: Path) -> dict[str, float]:
    """Size, distinct colours and share of non-background pixels of a PNG, read by Chromium."""
    page = browser.new_page()
    try:
        source = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
        stats: dict[str, float] = page.evaluate(IMAGE_STATS, source)
    finally:
        page.close()
    return stats
