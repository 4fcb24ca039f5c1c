"""Helpers of the desk's browser tests: a watched Chromium context, the stored records."""

from __future__ import annotations

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.pages.test_publish_browser import DESKTOP


class Watched:
    """A browser context whose pages record script errors and requests to other hosts."""

    def __init__(self, browser: Browser, origin: str, *, javascript: bool = True) -> None:
        self.origin = origin
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        self.context: BrowserContext = browser.new_context(
            viewport=DESKTOP,  # type: ignore[arg-type]
            java_script_enabled=javascript,
        )
        self.page: Page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", self._request)

    def _request(self, request: object) -> None:
        url = str(getattr(request, "url", ""))
        if not url.startswith(self.origin) and not url.startswith("data:"):
            self.elsewhere.append(url)

    def sign_as(self, name: str) -> None:
        """Choose the editor's name in the desk's header."""
        self.page.fill("#editor-name", name)
        self.page.click(".who button")
        expect(self.page.locator("#editor-name")).to_have_value(name)

    def confirm_flags(self) -> None:
        """Tick 'I have read the flags' when the Approve form asks for it."""
        box = self.page.locator("input[name=accept_flags]")
        if box.count():
            box.check()

    def close(self) -> None:
        """Close the context, asserting nothing went wrong."""
        self.context.close()
        assert self.errors == []
        assert self.elsewhere == []
