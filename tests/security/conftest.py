"""Helpers of the security tests: dashboard sign-in and an HTML scanner for script and handlers."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

import httpx

SESSION_COOKIE = "dp_session"


def sign_in(client: httpx.Client, admin_key: str) -> str:
    """Log in through the form; return the CSRF token the pages carry."""
    response = client.post("/login", data={"key": admin_key, "next": "/rules"})
    assert response.status_code == 303, response.text
    page = client.get("/rules").text
    return page.split('name="csrf-token" content="')[1].split('"')[0]


@dataclass
class Script:
    """One <script> element: its attributes and inline text."""

    attrs: dict[str, str | None]
    text: str = ""


class PageScan(HTMLParser):
    """Collects what a strict CSP cares about: scripts, event handlers, javascript: URLs, styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[Script] = []
        self.handlers: list[str] = []
        self.js_urls: list[str] = []
        self.inline_styles: list[str] = []
        self.post_forms: list[dict[str, str | None]] = []
        self.hidden_inputs: list[dict[str, str | None]] = []
        self._in_script: Script | None = None
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record the element's risky attributes."""
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"<{tag} {name}={value!r}>")
            if name in {"href", "src", "action", "formaction"} and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.js_urls.append(f"<{tag} {name}={value!r}>")
            if name == "style":
                self.inline_styles.append(f"<{tag} style={value!r}>")
        if tag == "script":
            self._in_script = Script(values)
            self.scripts.append(self._in_script)
        elif tag == "style":
            self._in_style = True
        elif tag == "form" and (values.get("method") or "").lower() == "post":
            self.post_forms.append(values)
        elif tag == "input" and values.get("type") == "hidden":
            self.hidden_inputs.append(values)

    def handle_endtag(self, tag: str) -> None:
        """Close a script or style element."""
        if tag == "script":
            self._in_script = None
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        """Keep inline script text; note inline style blocks."""
        if self._in_script is not None:
            self._in_script.text += data
        elif self._in_style and data.strip():
            self.inline_styles.append("<style> block")


def scan(html: str) -> PageScan:
    """Parse a page."""
    page = PageScan()
    page.feed(html)
    page.close()
    return page
