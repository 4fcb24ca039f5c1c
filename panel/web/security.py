"""The desk's guards: access token, host and origin checks, CSRF tokens, response headers.

Without a token the desk answers only requests addressed to a loopback host name (so a
web page on another site cannot reach it by rebinding its DNS name to 127.0.0.1). With a
token every request must carry it: an ``Authorization: Bearer`` header, or the cookie
set by visiting any page once with ``?token=...``. Every state-changing request must come
from the desk's own origin and carry the session's CSRF token (a signed double-submit
cookie echoed in a hidden form field).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "panel_token"
CSRF_COOKIE = "panel_csrf"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

DESK_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'self'; "
    "base-uri 'none'"
)
"""Desk pages: their own script and inline styles, nothing from elsewhere."""
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "frame-ancestors 'self'; base-uri 'none'"
)
"""Published pages and previews: no scripts at all, framable only by the desk."""


class Forbidden(Exception):
    """A request the guards refuse (HTTP 403); the message says why."""


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(netloc: str) -> str:
    """The host of a ``host[:port]`` string (IPv6 brackets removed)."""
    return urlsplit(f"//{netloc}").hostname or ""


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# -- CSRF -----------------------------------------------------------------------------------


def _sign(secret: bytes, nonce: str) -> str:
    return hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()


def new_csrf_token(secret: bytes) -> str:
    """A fresh session CSRF token: a random nonce and its HMAC under the server secret."""
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_sign(secret, nonce)}"


def csrf_token_valid(secret: bytes, token: str | None) -> bool:
    """True when ``token`` was issued by this server (its signature checks out)."""
    if not token or token.count(".") != 1:
        return False
    nonce, signature = token.split(".")
    return hmac.compare_digest(signature.encode(), _sign(secret, nonce).encode())


def session_csrf(request: Request, secret: bytes) -> tuple[str, bool]:
    """The session's CSRF token from its cookie, or a new one; and whether it is new."""
    current = request.cookies.get(CSRF_COOKIE)
    if csrf_token_valid(secret, current):
        return str(current), False
    return new_csrf_token(secret), True


def check_csrf(request: Request, form: FormData, secret: bytes) -> None:
    """Refuse a form whose CSRF field is missing, forged, or not this session's cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    field = form.get(CSRF_FIELD)
    if not isinstance(field, str) or not csrf_token_valid(secret, cookie):
        raise Forbidden("missing or invalid CSRF token: reload the page and try again")
    if not hmac.compare_digest(field.encode(), str(cookie).encode()):
        raise Forbidden("the form's CSRF token is not this session's: reload the page")


def check_origin(request: Request) -> None:
    """Refuse an unsafe request that says it comes from another origin."""
    host = request.headers.get("host", "").lower()
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise Forbidden(f"cross-origin request refused (Sec-Fetch-Site: {fetch_site})")
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null" or urlsplit(origin).netloc.lower() != host:
            raise Forbidden("request from another origin refused")
        return
    referer = request.headers.get("referer")
    if referer and urlsplit(referer).netloc.lower() != host:
        raise Forbidden("request from another page's origin refused")


# -- the guard middleware -------------------------------------------------------------------


def _presented_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(TOKEN_COOKIE)


class DeskGuard:
    """ASGI middleware: host and token checks on every request, origin checks on unsafe
    ones, and security headers on every response."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        page = path.startswith(("/site/", "/preview/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers.extend(
                    [
                        (b"content-security-policy", (PAGE_CSP if page else DESK_CSP).encode()),
                        (b"x-content-type-options", b"nosniff"),
                        (b"x-frame-options", b"SAMEORIGIN"),
                        (b"referrer-policy", b"same-origin"),
                        (b"cache-control", b"no-store"),
                    ]
                )
            await send(message)

        # The guards' own refusals (401, 403) carry the same headers as every page.
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, request: Request) -> Response | None:
        """The response refusing ``request``, or None to let it through."""
        if self.token is None:
            host = host_name(request.headers.get("host", ""))
            if not is_loopback(host):
                return PlainTextResponse(
                    f"Forbidden: this desk answers only at a loopback address, not {host!r}; "
                    "open http://127.0.0.1:PORT/ (or start it with --token)",
                    status_code=403,
                )
        else:
            given = request.query_params.get("token")
            if given is not None and request.method in ("GET", "HEAD"):
                if not same_token(given, self.token):
                    return PlainTextResponse("Unauthorized: wrong token", status_code=401)
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
                return response
            if not same_token(_presented_token(request), self.token):
                return PlainTextResponse(
                    "Unauthorized: this desk needs its token; open /?token=TOKEN once "
                    "or send 'Authorization: Bearer TOKEN'",
                    status_code=401,
                    headers={"www-authenticate": "Bearer"},
                )
        if request.method not in SAFE_METHODS:
            try:
                check_origin(request)
            except Forbidden as exc:
                return PlainTextResponse(f"Forbidden: {exc}", status_code=403)
        return None
