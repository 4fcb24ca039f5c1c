"""Fetch one source URL safely: the whole body or a one-line reason, never half of it.

``fetch(url, policy)`` follows at most ``policy.max_redirects`` redirects by hand and, on
every hop, before anything is sent:

- accepts only http and https URLs without a user name or password;
- resolves the host and refuses it when ANY of its addresses is loopback, private,
  link-local (the cloud metadata service 169.254.169.254 among them), multicast,
  reserved, unspecified or otherwise not public, including the IPv4-mapped, 6to4 and
  NAT64 forms of those, and refuses the metadata names (``metadata.google.internal``)
  -- unless the host as written (lowercased) or the address is in
  ``policy.allow_hosts`` (``panel.toml`` ``[sources] allow_hosts``, for an intranet);
- connects to the address it checked, not to a fresh lookup: the request goes to the IP
  with the original ``Host`` header, and for https the hostname is sent as SNI
  (httpcore2's ``sni_hostname`` extension) and the certificate is verified against that
  hostname. A DNS answer that changes between the check and the connection (DNS
  rebinding) therefore cannot move the request to another address, over http or https.

Then, on the last hop: a status of 2xx (anything else is "HTTP 404"), a content type in
``CONTENT_TYPES`` (checked before the body is read), a ``Content-Length`` no larger than
``policy.max_bytes``, and a DECODED body streamed in pieces of at most 1 MiB (httpx2 bounds
each gzip/deflate/brotli/zstd piece), aborted as soon as it passes ``policy.max_bytes``:
a gzip bomb ends after about one piece past the cap. A total deadline
(``policy.total_seconds``, DNS and every redirect included) ends a slow-drip server;
connect and read timeouts end a silent one.

A response without a content type is sniffed lightly: if its first 4 KiB hold no NUL
byte and decode as UTF-8, it is ``text/html`` when it starts like an HTML document and
``text/plain`` otherwise; anything else is refused.

Caveats: proxies from the environment (``HTTP_PROXY``...) are ignored on purpose (a proxy
would resolve the host itself, beyond the checks), so a desk behind a mandatory proxy
cannot fetch; cookies are not carried across redirects; when a host has several
addresses they are tried in order only after a connection error, not raced.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2

USER_AGENT = "Panel/0.1 (editorial review desk; +https://github.com/panel)"
CONTENT_TYPES = (
    "text/html",
    "application/xhtml+xml",
    "text/plain",
    "text/markdown",
    "text/x-markdown",
)
ACCEPT = "text/html, application/xhtml+xml, text/markdown, text/plain;q=0.9"
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ALLOW_HINT = "allow it in panel.toml [sources] allow_hosts"
SNIFF_BYTES = 4096
METADATA_ADDRESS = ipaddress.IPv4Address("169.254.169.254")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchPolicy:
    """What a fetch may reach, how much it may read and how long it may take."""

    allow_hosts: frozenset[str] = frozenset()
    """Host names or IP literals fetched even when private or loopback (an intranet)."""
    max_bytes: int = 5_000_000
    """The largest decoded body accepted."""
    connect_seconds: float = 5.0
    read_seconds: float = 10.0
    """The longest wait for the next bytes."""
    total_seconds: float = 30.0
    """The whole fetch, DNS and every redirect included."""
    max_redirects: int = 5
    user_agent: str = USER_AGENT


@dataclass(frozen=True)
class Fetched:
    """A source fetched completely."""

    url: str
    """The URL asked for."""
    final_url: str
    """The URL the body came from, after redirects."""
    status: int
    content_type: str
    """The media type alone, lowercased (``text/html``); sniffed when the header is missing."""
    charset: str | None
    """The ``charset`` parameter of the content type, lowercased, if any."""
    body: bytes
    """The decoded body (no gzip left), at most ``max_bytes`` long."""
    fetched_at: datetime
    """When the body was complete, in UTC."""


class FetchError(Exception):
    """A fetch that did not happen or did not finish; ``str()`` is one line: URL and reason."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = _one_line(url)
        self.reason = _one_line(reason)
        super().__init__(f"{self.url}: {self.reason}")


class _Stop(Exception):
    """Internal: why the fetch stops; ``fetch`` turns it into a FetchError naming the URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def fetch(url: str, policy: FetchPolicy = FetchPolicy()) -> Fetched:
    """Fetch ``url`` under ``policy``: a complete ``Fetched``, or a ``FetchError``."""
    deadline = asyncio.timeout(policy.total_seconds)
    try:
        async with deadline:
            return await _follow(url, policy)
    except _Stop as stop:
        raise FetchError(url, stop.reason) from stop.__cause__
    except TimeoutError:
        if not deadline.expired():
            raise
        raise FetchError(url, f"took longer than {policy.total_seconds:g} s") from None


async def _follow(url: str, policy: FetchPolicy) -> Fetched:
    """Fetch hop after hop, checking each one, until a response that is not a redirect."""
    allowed = _allowed(policy.allow_hosts)
    hop = _parse(url)
    seen = {_without_fragment(hop)}
    ssl_context = _ssl_context()
    for redirects in range(policy.max_redirects + 1):
        try:
            outcome = await _one_hop(url, hop, allowed, policy, ssl_context)
        except _Stop as stop:
            if not redirects:
                raise
            raise _Stop(f"redirected to {hop}: {stop.reason}") from stop.__cause__
        if isinstance(outcome, Fetched):
            return outcome
        hop = outcome
        if _without_fragment(hop) in seen:
            raise _Stop(f"redirect loop (back to {hop})")
        seen.add(_without_fragment(hop))
    raise _Stop(f"more than {policy.max_redirects} redirects")


async def _one_hop(
    url: str,
    hop: httpx2.URL,
    allowed: frozenset[str],
    policy: FetchPolicy,
    ssl_context: ssl.SSLContext,
) -> Fetched | httpx2.URL:
    """Check and request one hop: the complete page, or the URL it redirects to."""
    _check_url(hop)
    addresses = await _checked_addresses(hop, allowed)
    async with _client(policy, ssl_context) as client:
        with _network_errors(policy):
            response = await _send(client, hop, addresses)
            try:
                target = _redirect_target(hop, response)
                if target is not None:
                    return target
                return await _complete(url, hop, response, policy)
            finally:
                await response.aclose()


# --- URLs and addresses ---------------------------------------------------------------


def _parse(url: str) -> httpx2.URL:
    """``url`` as an httpx2 URL, or why it is not one."""
    try:
        return httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError) as exc:
        raise _Stop(f"not a valid URL ({exc})") from exc


def _check_url(url: httpx2.URL) -> None:
    """Refuse what is not a plain http(s) URL with a host."""
    if url.scheme not in ("http", "https"):
        raise _Stop("only http and https URLs are fetched")
    if url.userinfo:
        raise _Stop("URLs with a user name or password are not fetched")
    if not url.raw_host:
        raise _Stop("the URL has no host")


def _allowed(allow_hosts: frozenset[str]) -> frozenset[str]:
    """The allow list normalized: names lowercased without a final dot, IPs in canonical form."""
    return frozenset(_normal_host(entry.strip().strip("[]")) for entry in allow_hosts)


def _normal_host(host: str) -> str:
    """A host lowercased without a final dot; an IP literal in its canonical form."""
    host = host.lower().rstrip(".")
    literal = _ip_literal(host)
    return host if literal is None else str(literal)


def _ip_literal(host: str) -> IPAddress | None:
    """The address a host names literally (``127.0.0.1``, ``::1``), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _checked_addresses(hop: httpx2.URL, allowed: frozenset[str]) -> list[IPAddress]:
    """The host's addresses, every one of them safe or allowed; else why not."""
    written = hop.raw_host.decode("ascii").lower()
    host = _normal_host(written)
    host_allowed = host in allowed
    if host in METADATA_NAMES and not host_allowed:
        raise _Stop(f"refused: {host} is a cloud metadata name ({ALLOW_HINT})")
    literal = _ip_literal(host)
    addresses = [literal] if literal is not None else await _resolve(host, _port(hop))
    if host_allowed:
        return addresses
    for address in addresses:
        why = None if str(address) in allowed else _unsafe(address)
        if why is not None:
            named = f"{written} is" if literal is not None else f"{host} resolves to {address},"
            raise _Stop(f"refused: {named} {why} ({ALLOW_HINT})")
    return addresses


def _port(url: httpx2.URL) -> int:
    """The URL's port, explicit or the scheme's default."""
    return url.port or (443 if url.scheme == "https" else 80)


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order, without duplicates."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _Stop(f"could not resolve {host} ({_os_reason(exc)})") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _Stop(f"could not resolve {host} (no addresses)")
    return addresses


def _unsafe(address: IPAddress) -> str | None:
    """Why a connection to ``address`` is refused (``"a loopback address"``), or None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        form, v4 = embedded
        why = _unsafe(v4)
        return None if why is None else f"the {form} form of {v4}, {why}"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address == METADATA_ADDRESS:
        return "a link-local address (the cloud metadata service)"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local):
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: IPAddress) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64), with the form's name."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address in NAT64:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _without_fragment(url: httpx2.URL) -> str:
    """The URL as a redirect-loop key: the fragment never reaches the server."""
    return str(url.copy_with(fragment=None))


# --- HTTP -----------------------------------------------------------------------------


def _ssl_context() -> ssl.SSLContext:
    """The TLS context of a fetch: the system's trust store (``SSL_CERT_FILE`` honoured)."""
    return httpx2.create_ssl_context()


def _client(policy: FetchPolicy, ssl_context: ssl.SSLContext) -> httpx2.AsyncClient:
    """A client for one hop: no environment proxies, no redirects, no kept connections."""
    timeout = httpx2.Timeout(
        connect=policy.connect_seconds,
        read=policy.read_seconds,
        write=policy.read_seconds,
        pool=policy.connect_seconds,
    )
    return httpx2.AsyncClient(
        verify=ssl_context,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        limits=httpx2.Limits(max_keepalive_connections=0),
        headers={"User-Agent": policy.user_agent, "Accept": ACCEPT},
    )


def _pin(url: httpx2.URL, address: IPAddress) -> tuple[httpx2.URL, dict[str, str], dict[str, Any]]:
    """The request for ``url`` sent to ``address``: the URL rewritten to the IP, the original
    ``Host`` header, and for https the hostname as SNI (the certificate is checked against it)."""
    pinned = url.copy_with(host=str(address), fragment=None)
    headers = {"Host": url.netloc.decode("ascii")}
    host = url.raw_host.decode("ascii")
    extensions: dict[str, Any] = {}
    if url.scheme == "https" and _ip_literal(host) is None:
        extensions["sni_hostname"] = host
    return pinned, headers, extensions


async def _send(
    client: httpx2.AsyncClient, url: httpx2.URL, addresses: list[IPAddress]
) -> httpx2.Response:
    """GET ``url`` from the first of ``addresses`` that accepts a connection (headers only)."""
    failure: httpx2.TransportError | None = None
    for address in addresses:
        pinned, headers, extensions = _pin(url, address)
        request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
        try:
            return await client.send(request, stream=True)
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            failure = exc
    assert failure is not None  # addresses is never empty
    raise failure


def _redirect_target(hop: httpx2.URL, response: httpx2.Response) -> httpx2.URL | None:
    """Where a redirect response points (relative to the hop as written), or None."""
    if response.status_code not in REDIRECT_STATUSES:
        return None
    location = response.headers.get("location")
    if not location:
        raise _Stop(f"HTTP {response.status_code} without a Location header")
    try:
        return hop.join(location)
    except (httpx2.InvalidURL, ValueError) as exc:
        raise _Stop(f"redirect to an invalid URL ({exc})") from exc


async def _complete(
    url: str, hop: httpx2.URL, response: httpx2.Response, policy: FetchPolicy
) -> Fetched:
    """The last hop's page, checked (status, type, size) and read to its end."""
    status = response.status_code
    if not 200 <= status < 300:
        raise _Stop(f"HTTP {status}")
    content_type, charset = _content_type(response.headers.get("content-type", ""))
    if content_type and content_type not in CONTENT_TYPES:
        raise _Stop(f"content type {content_type} is not fetched (text, HTML or Markdown only)")
    _check_length(response.headers.get("content-length"), policy.max_bytes)
    body = await _read_body(response, policy.max_bytes)
    if not content_type:
        content_type = _sniff(body)
    return Fetched(
        url=url,
        final_url=str(hop),
        status=status,
        content_type=content_type,
        charset=charset,
        body=body,
        fetched_at=datetime.now(UTC),
    )


def _content_type(header: str) -> tuple[str, str | None]:
    """The media type (lowercased, ``""`` when missing) and the charset of a Content-Type."""
    media, *parameters = header.split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"'):
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _check_length(header: str | None, max_bytes: int) -> None:
    """Refuse up front a body whose announced length is over the cap."""
    if header is None:
        return
    try:
        length = int(header.split(",")[0].strip())
    except ValueError:
        return
    if length > max_bytes:
        raise _Stop(f"body larger than {max_bytes} bytes (Content-Length: {length})")


async def _read_body(response: httpx2.Response, max_bytes: int) -> bytes:
    """The decoded body, read piece by piece and abandoned as soon as it passes the cap."""
    body = bytearray()
    async for piece in response.aiter_bytes():
        if len(body) + len(piece) > max_bytes:
            raise _Stop(f"body larger than {max_bytes} bytes")
        body += piece
    return bytes(body)


def _sniff(body: bytes) -> str:
    """The type of a body sent without one: text/html or text/plain, or refuse it."""
    sample = body[:SNIFF_BYTES]
    if b"\0" in sample or not _utf8_prefix(sample, cut=len(sample) < len(body)):
        raise _Stop("no content type, and the body does not look like text")
    start = sample.lstrip()[:15].lower()
    return "text/html" if start.startswith((b"<!doctype html", b"<html")) else "text/plain"


def _utf8_prefix(sample: bytes, *, cut: bool) -> bool:
    """Whether ``sample`` is UTF-8; a character split by the cut at its end is forgiven."""
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return cut and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"
    return True


# --- errors ---------------------------------------------------------------------------


@contextmanager
def _network_errors(policy: FetchPolicy) -> Iterator[None]:
    """Turn httpx2's errors into one-line reasons."""
    try:
        yield
    except httpx2.ConnectTimeout as exc:
        raise _Stop(f"timed out connecting ({policy.connect_seconds:g} s)") from exc
    except httpx2.ReadTimeout as exc:
        raise _Stop(f"timed out waiting for data ({policy.read_seconds:g} s)") from exc
    except httpx2.TimeoutException as exc:
        raise _Stop("timed out") from exc
    except httpx2.DecodingError as exc:
        raise _Stop(f"could not decode the body ({exc})") from exc
    except httpx2.RemoteProtocolError as exc:
        raise _Stop(_protocol_reason(exc)) from exc
    except httpx2.TransportError as exc:
        raise _Stop(_transport_reason(exc)) from exc


def _protocol_reason(exc: httpx2.RemoteProtocolError) -> str:
    """A server that broke HTTP: most often a body cut short."""
    text = str(exc)
    if "complete message body" in text or "incomplete" in text.lower():
        return f"the connection closed before the body was complete ({text})"
    return f"HTTP protocol error ({text or type(exc).__name__})"


def _transport_reason(exc: httpx2.TransportError) -> str:
    """A network failure named the way an editor reads it."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS error: {cause.verify_message or cause.reason}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    return f"network error: {text or type(exc).__name__}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from, nearest first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _os_reason(exc: BaseException) -> str:
    """A resolver error's message without its errno."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _one_line(text: str) -> str:
    """``text`` with its line breaks (and runs of spaces) folded into single spaces."""
    return " ".join(text.split())
