"""The safe fetcher against one local HTTP server: every unsafe case ends with its reason.

The server (one per module, on 127.0.0.1) plays the hostile web: a 2 GB body, an endless
one, a slow drip, redirect loops and chains, redirects to private and metadata addresses,
a gzip bomb, an image, a 404. Every fetch has a small ``total_seconds``, so no test can
hang; the bodies are streamed by the server and never built whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest

from panel.sources import fetch as fetch_module
from panel.sources.fetch import CONTENT_TYPES, USER_AGENT, Fetched, FetchError, FetchPolicy, fetch

LOCAL = frozenset({"127.0.0.1"})
HTML = b"<!doctype html><html><head><title>Launch</title></head><body><p>Hello</p></body></html>"
MARKDOWN = "# Changelog\n\n- 1.2: faster, with caf\u00e9 support\n".encode()
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
MIB = 2**20
HINT = "(allow it in panel.toml [sources] allow_hosts)"


def _gzip_bomb_parts() -> tuple[bytes, bytes]:
    """The gzip header with a first MiB of zeros, and one more MiB of zeros (about 1 KB each).

    After a full flush the compressor forgets its history, so every further MiB of zeros
    compresses to the same bytes: repeating the block inflates to any size, built at once.
    The stream never reaches a gzip trailer; a fetcher that reads to the end has failed.
    """
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = squeeze.compress(b"\0" * MIB) + squeeze.flush(zlib.Z_FULL_FLUSH)
    block = squeeze.compress(b"\0" * MIB) + squeeze.flush(zlib.Z_FULL_FLUSH)
    return head, block


BOMB_HEAD, BOMB_BLOCK = _gzip_bomb_parts()
BOMB = BOMB_HEAD + BOMB_BLOCK * 199
"""About 200 KB on the wire, 200 MiB once inflated."""


class _Handler(BaseHTTPRequestHandler):
    """The routes; HTTP/1.0, so a body without Content-Length ends when the connection does."""

    server_version = "PanelFetchTest/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not access logs."""

    def do_GET(self) -> None:
        """Dispatch on the path; a client that hangs up mid-body is normal here."""
        path = self.path.split("?", 1)[0]
        route = ROUTES.get(path) or (_chain if path.startswith("/chain/") else _not_found)
        with contextlib.suppress(OSError):  # the fetcher gave up on this body, as it should
            route(self)

    def head(self, status: int, headers: dict[str, str]) -> None:
        """Send the status line and headers."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def reply(self, status: int, body: bytes, content_type: str | None, **extra: str) -> None:
        """A complete response with a Content-Length."""
        headers = {"Content-Length": str(len(body)), **extra}
        if content_type is not None:
            headers["Content-Type"] = content_type
        self.head(status, headers)
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        """A redirect with an empty body."""
        self.reply(status, b"", None, Location=location)

    def origin(self) -> str:
        """This server's own http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.connection.getsockname()[1]}"


def _page(h: _Handler) -> None:
    h.reply(200, HTML, "text/html; charset=UTF-8")


def _markdown(h: _Handler) -> None:
    h.reply(200, MARKDOWN, 'text/markdown; charset="utf-8"')


def _host(h: _Handler) -> None:
    h.reply(200, (h.headers.get("Host") or "").encode(), "text/plain")


def _agent(h: _Handler) -> None:
    h.reply(200, (h.headers.get("User-Agent") or "").encode(), "text/plain")


def _huge(h: _Handler) -> None:
    """Announces 2 GB and sends 64 KB: the fetcher must refuse on the header alone."""
    h.head(200, {"Content-Type": "text/html", "Content-Length": str(2 * 1024**3)})
    h.wfile.write(b"a" * 65536)


def _endless(h: _Handler) -> None:
    """No Content-Length, and text that keeps coming (up to 256 MB if nobody stops it)."""
    h.head(200, {"Content-Type": "text/plain"})
    chunk = b"endless " * 8192
    for _ in range(4096):
        h.wfile.write(chunk)


def _drip(h: _Handler) -> None:
    """One byte every half second (for a minute at most, long after the fetcher gave up)."""
    h.head(200, {"Content-Type": "text/plain"})
    for _ in range(120):
        h.wfile.write(b"x")
        h.wfile.flush()
        time.sleep(0.5)


def _short(h: _Handler) -> None:
    """Announces 1000 bytes, sends 10 and hangs up."""
    h.head(200, {"Content-Type": "text/plain", "Content-Length": "1000"})
    h.wfile.write(b"0123456789")


def _bomb(h: _Handler) -> None:
    h.reply(200, BOMB, "text/plain", **{"Content-Encoding": "gzip"})


def _bomb_endless(h: _Handler) -> None:
    """About 10 MB of gzip that would inflate to 10 GiB; no Content-Length."""
    h.head(200, {"Content-Type": "text/html", "Content-Encoding": "gzip"})
    h.wfile.write(BOMB_HEAD)
    for _ in range(10 * 1024 - 1):
        h.wfile.write(BOMB_BLOCK)


def _chain(h: _Handler) -> None:
    """/chain/N redirects to /chain/N-1 (relative Location); /chain/0 is the page."""
    left = int(h.path.rsplit("/", 1)[1])
    if left:
        h.redirect(f"/chain/{left - 1}", 301 if left % 2 else 307)
    else:
        _page(h)


def _not_found(h: _Handler) -> None:
    h.reply(404, b"<h1>Not found</h1>", "text/html")


ROUTES: dict[str, Callable[[_Handler], None]] = {
    "/page": _page,
    "/notes.md": _markdown,
    "/host": _host,
    "/agent": _agent,
    "/huge": _huge,
    "/endless": _endless,
    "/drip": _drip,
    "/short": _short,
    "/bomb": _bomb,
    "/bomb-endless": _bomb_endless,
    "/image": lambda h: h.reply(200, PNG, "image/png"),
    "/untyped-text": lambda h: h.reply(200, "plain words, d\u00e9j\u00e0 vu".encode(), None),
    "/untyped-html": lambda h: h.reply(200, b"  <!DOCTYPE html><p>x</p>", None),
    "/untyped-binary": lambda h: h.reply(200, PNG, None),
    "/loop/a": lambda h: h.redirect("/loop/b"),
    "/loop/b": lambda h: h.redirect(h.origin() + "/loop/a#again"),
    "/to-page": lambda h: h.redirect("/page", 303),
    "/to-private": lambda h: h.redirect("http://10.0.0.1/"),
    "/to-metadata": lambda h: h.redirect("http://169.254.169.254/latest/meta-data/"),
    "/to-ftp": lambda h: h.redirect("ftp://127.0.0.1/file"),
    "/to-nowhere": lambda h: h.reply(302, b"", None),
}


@dataclass(frozen=True)
class Server:
    """The running test server."""

    port: int

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """An absolute URL on this server."""
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One threaded server for the module, shut down at its end."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield Server(port=httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def policy(**fields: Any) -> FetchPolicy:
    """A policy that allows the local server and never lets a test run long."""
    return FetchPolicy(**{"allow_hosts": LOCAL, "total_seconds": 5.0, **fields})


async def refused(url: str, fetch_policy: FetchPolicy | None = None) -> str:
    """The one-line reason ``url`` is not fetched (the test fails if it is)."""
    with pytest.raises(FetchError) as caught:
        await fetch(url, fetch_policy or policy(allow_hosts=frozenset()))
    text = str(caught.value)
    assert "\n" not in text
    assert text == f"{caught.value.url}: {caught.value.reason}"
    assert caught.value.url == url
    return caught.value.reason


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[str]]], None]:
    """Make the event loop resolve the given names to the given addresses (and nothing else)."""

    def install(table: dict[str, list[str]]) -> None:
        async def getaddrinfo(
            self: asyncio.AbstractEventLoop, host: str, port: int, **_: Any
        ) -> list[tuple[Any, ...]]:
            if host not in table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [_addrinfo(address, port) for address in table[host]]

        monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)

    return install


def _addrinfo(address: str, port: int) -> tuple[Any, ...]:
    """One getaddrinfo entry for ``address``."""
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


# --- pages that are fetched -----------------------------------------------------------


async def test_an_html_page_is_fetched_whole(server: Server) -> None:
    page = await fetch(server.url("/page"), policy())
    assert isinstance(page, Fetched)
    assert page.url == page.final_url == server.url("/page")
    assert (page.status, page.content_type, page.charset) == (200, "text/html", "utf-8")
    assert page.body == HTML
    assert page.fetched_at.tzinfo is UTC


async def test_a_markdown_page_is_fetched(server: Server) -> None:
    page = await fetch(server.url("/notes.md"), policy())
    assert (page.content_type, page.charset, page.body) == ("text/markdown", "utf-8", MARKDOWN)
    assert "text/markdown" in CONTENT_TYPES


async def test_the_user_agent_names_the_desk(server: Server) -> None:
    page = await fetch(server.url("/agent"), policy())
    assert page.body.decode() == USER_AGENT


async def test_a_short_redirect_chain_is_followed(server: Server) -> None:
    page = await fetch(server.url("/chain/3"), policy())
    assert page.final_url == server.url("/chain/0")
    assert page.body == HTML
    see_other = await fetch(server.url("/to-page"), policy())
    assert see_other.final_url == server.url("/page")


@pytest.mark.parametrize(
    ("path", "content_type"), [("/untyped-text", "text/plain"), ("/untyped-html", "text/html")]
)
async def test_a_body_without_a_content_type_is_sniffed_as_text(
    server: Server, path: str, content_type: str
) -> None:
    page = await fetch(server.url(path), policy())
    assert (page.content_type, page.charset) == (content_type, None)


async def test_the_connection_goes_to_the_checked_address(
    server: Server, fake_dns: Callable[[dict[str, list[str]]], None]
) -> None:
    """panel.test exists only in the checked answer: the request reached it anyway, under
    its own Host header, so nothing resolved the name a second time."""
    fake_dns({"panel.test": ["127.0.0.1"]})
    page = await fetch(server.url("/host", "panel.test"), policy())
    assert page.body.decode() == f"panel.test:{server.port}"
    assert page.final_url == server.url("/host", "panel.test")
    assert (await refused(server.url("/host", "panel.test"))).startswith(
        "refused: panel.test resolves to 127.0.0.1, a loopback address"
    )


def test_https_is_pinned_to_the_address_with_the_hostname_as_sni() -> None:
    url = httpx2.URL("https://docs.example.com:8443/pricing?plan=pro#top")
    pinned, headers, extensions = fetch_module._pin(url, ipaddress.ip_address("93.184.216.34"))
    assert str(pinned) == "https://93.184.216.34:8443/pricing?plan=pro"
    assert headers == {"Host": "docs.example.com:8443"}
    assert extensions == {"sni_hostname": "docs.example.com"}
    literal = httpx2.URL("https://93.184.216.34/")
    assert fetch_module._pin(literal, ipaddress.ip_address("93.184.216.34"))[2] == {}


# --- addresses that are refused -------------------------------------------------------


async def test_127_0_0_1_is_refused_unless_allowed(server: Server) -> None:
    reason = await refused(server.url("/page"))
    assert reason == f"refused: 127.0.0.1 is a loopback address {HINT}"
    page = await fetch(server.url("/page"), policy(allow_hosts=frozenset({"127.0.0.1"})))
    assert page.status == 200


async def test_localhost_is_refused(server: Server) -> None:
    reason = await refused(server.url("/page", "localhost"))
    assert reason.startswith("refused: localhost resolves to ")
    assert reason.endswith(f", a loopback address {HINT}")


async def test_a_name_resolving_to_loopback_is_refused(
    fake_dns: Callable[[dict[str, list[str]]], None],
) -> None:
    fake_dns({"launch.example.com": ["127.0.0.1"]})
    reason = await refused("http://launch.example.com/post")
    assert reason == f"refused: launch.example.com resolves to 127.0.0.1, a loopback address {HINT}"


async def test_one_private_address_among_public_ones_is_enough_to_refuse(
    fake_dns: Callable[[dict[str, list[str]]], None],
) -> None:
    fake_dns({"mixed.example.com": ["93.184.216.34", "10.1.2.3"]})
    reason = await refused("https://mixed.example.com/")
    assert reason == f"refused: mixed.example.com resolves to 10.1.2.3, a private address {HINT}"


async def test_an_allowed_intranet_name_is_fetched_whatever_it_resolves_to(
    server: Server, fake_dns: Callable[[dict[str, list[str]]], None]
) -> None:
    fake_dns({"wiki.corp": ["127.0.0.1"]})
    page = await fetch(
        server.url("/page", "WIKI.corp"), policy(allow_hosts=frozenset({"wiki.corp"}))
    )
    assert page.body == HTML


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://[::1]/", "::1 is a loopback address"),
        (
            "http://[::ffff:127.0.0.1]/",
            "::ffff:127.0.0.1 is the IPv4-mapped form of 127.0.0.1, a loopback address",
        ),
        ("http://[2002:a00:1::]/", "2002:a00:1:: is the 6to4 form of 10.0.0.1, a private address"),
        (
            "http://[64:ff9b::a9fe:a9fe]/",
            "64:ff9b::a9fe:a9fe is the NAT64 form of 169.254.169.254, "
            "a link-local address (the cloud metadata service)",
        ),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a link-local address (the cloud metadata service)",
        ),
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("http://192.168.1.1:8080/", "192.168.1.1 is a private address"),
        ("http://[fd00::1]/", "fd00::1 is a private address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
        ("http://100.64.0.1/", "100.64.0.1 is not a public address"),
        ("http://metadata.google.internal/", "metadata.google.internal is a cloud metadata name"),
        ("http://metadata./", "metadata is a cloud metadata name"),
    ],
)
async def test_unsafe_addresses_are_refused(url: str, reason: str) -> None:
    assert await refused(url) == f"refused: {reason} {HINT}"


async def test_numeric_host_forms_are_checked_after_resolution() -> None:
    reason = await refused("http://2130706433/")
    assert reason == f"refused: 2130706433 resolves to 127.0.0.1, a loopback address {HINT}"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https URLs are fetched"),
        ("ftp://example.com/file.txt", "only http and https URLs are fetched"),
        ("gopher://example.com/", "only http and https URLs are fetched"),
        ("http://user:secret@example.com/", "URLs with a user name or password are not fetched"),
        ("http:///path", "the URL has no host"),
    ],
)
async def test_urls_that_are_not_plain_http_are_refused(url: str, reason: str) -> None:
    assert await refused(url, policy()) == reason


# --- redirects ------------------------------------------------------------------------


async def test_a_redirect_loop_ends(server: Server) -> None:
    reason = await refused(server.url("/loop/a"), policy())
    assert reason == f"redirect loop (back to {server.url('/loop/a#again')})"


async def test_a_long_redirect_chain_ends(server: Server) -> None:
    reason = await refused(server.url("/chain/10"), policy())
    assert reason == "more than 5 redirects"
    assert await refused(server.url("/chain/3"), policy(max_redirects=2)) == "more than 2 redirects"


@pytest.mark.parametrize(
    ("path", "target", "why"),
    [
        ("/to-private", "http://10.0.0.1/", "10.0.0.1 is a private address"),
        (
            "/to-metadata",
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a link-local address (the cloud metadata service)",
        ),
    ],
)
async def test_a_redirect_to_a_private_address_is_refused_even_from_an_allowed_host(
    server: Server, path: str, target: str, why: str
) -> None:
    reason = await refused(server.url(path), policy())
    assert reason == f"redirected to {target}: refused: {why} {HINT}"


async def test_a_redirect_to_another_scheme_or_nowhere_is_refused(server: Server) -> None:
    reason = await refused(server.url("/to-ftp"), policy())
    assert reason == "redirected to ftp://127.0.0.1/file: only http and https URLs are fetched"
    assert await refused(server.url("/to-nowhere"), policy()) == (
        "HTTP 302 without a Location header"
    )


# --- size, time, type, status ---------------------------------------------------------


async def test_a_2_gb_content_length_is_refused_before_the_body(server: Server) -> None:
    reason = await refused(server.url("/huge"), policy())
    assert reason == "body larger than 5000000 bytes (Content-Length: 2147483648)"


async def test_an_endless_body_stops_at_the_cap(server: Server) -> None:
    started = time.monotonic()
    reason = await refused(server.url("/endless"), policy(max_bytes=1_000_000))
    assert reason == "body larger than 1000000 bytes"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("path", ["/bomb", "/bomb-endless"])
async def test_a_gzip_bomb_stops_at_the_cap(server: Server, path: str) -> None:
    started = time.monotonic()
    reason = await refused(server.url(path), policy(max_bytes=MIB))
    assert reason == f"body larger than {MIB} bytes"
    assert time.monotonic() - started < 2


async def test_a_slow_drip_ends_at_the_total_deadline(server: Server) -> None:
    started = time.monotonic()
    reason = await refused(server.url("/drip"), policy(total_seconds=1.5))
    assert reason == "took longer than 1.5 s"
    assert time.monotonic() - started < 2.5


async def test_a_silent_server_ends_at_the_read_timeout(server: Server) -> None:
    reason = await refused(server.url("/drip"), policy(read_seconds=0.2))
    assert reason == "timed out waiting for data (0.2 s)"


async def test_a_body_cut_short_is_an_error_not_a_truncated_page(server: Server) -> None:
    reason = await refused(server.url("/short"), policy())
    assert reason.startswith("the connection closed before the body was complete")


async def test_a_non_text_content_type_is_refused(server: Server) -> None:
    reason = await refused(server.url("/image"), policy())
    assert reason == "content type image/png is not fetched (text, HTML or Markdown only)"


async def test_a_binary_body_without_a_content_type_is_refused(server: Server) -> None:
    reason = await refused(server.url("/untyped-binary"), policy())
    assert reason == "no content type, and the body does not look like text"


async def test_an_http_error_is_one_line(server: Server) -> None:
    assert await refused(server.url("/missing"), policy()) == "HTTP 404"


async def test_a_closed_port_is_connection_refused(server: Server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert await refused(f"http://127.0.0.1:{port}/", policy()) == "connection refused"


async def test_an_unknown_name_is_one_line(
    fake_dns: Callable[[dict[str, list[str]]], None],
) -> None:
    fake_dns({})
    reason = await refused("https://no-such-host.example/", policy())
    assert reason == "could not resolve no-such-host.example (Name or service not known)"
