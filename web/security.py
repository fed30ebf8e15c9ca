"""Security helpers shared by the node and hub apps.

Nothing here keeps module-level mutable state: throttles and rate limiters are
instances that each app builds in its factory, with an injectable clock.

Exceptions:

    starlette.exceptions.HTTPException
     └── CsrfError (403)        a state-changing request without a valid CSRF token
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.negotiation import wants_json_scope

Clock = Callable[[], float]

# --------------------------------------------------------------------------- passwords

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_SALT_BYTES = 16
SCRYPT_HASH_BYTES = 32
# Bounds accepted when verifying, so a corrupted stored hash cannot ask for gigabytes.
_SCRYPT_MAX_N = 2**20
_SCRYPT_MAX_R = 32
_SCRYPT_MAX_P = 16


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=128 * r * (n + p + 2) + 1024 * 1024,
        dklen=dklen,
    )


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """Hash a password with scrypt; returns ``scrypt$n$r$p$salt_b64$hash_b64``."""
    if not isinstance(password, str):
        raise TypeError("password must be str")
    salt = secrets.token_bytes(SCRYPT_SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p, SCRYPT_HASH_BYTES)
    return f"scrypt${n}${r}${p}${_b64encode(salt)}${_b64encode(digest)}"


@dataclass(frozen=True)
class _ScryptHash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _parse_scrypt_hash(stored: str) -> _ScryptHash | None:
    """Parse a stored hash; None when it is malformed or its parameters are out of bounds."""
    if not isinstance(stored, str):
        return None
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    if not (1 < n <= _SCRYPT_MAX_N and n & (n - 1) == 0):
        return None
    if not (1 <= r <= _SCRYPT_MAX_R and 1 <= p <= _SCRYPT_MAX_P):
        return None
    if len(salt) < 8 or not 16 <= len(digest) <= 64:
        return None
    return _ScryptHash(n, r, p, salt, digest)


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; False for a wrong password or a malformed hash."""
    parsed = _parse_scrypt_hash(stored)
    if parsed is None or not isinstance(password, str):
        return False
    try:
        candidate = _scrypt(password, parsed.salt, parsed.n, parsed.r, parsed.p, len(parsed.digest))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(candidate, parsed.digest)


# A well-formed hash (current parameters) that no password is known to match: checking a
# password against it when the user does not exist costs the same scrypt as a real check,
# so the answer time does not tell which accounts exist.
DUMMY_PASSWORD_HASH = (
    "scrypt$16384$8$1$6W4lYBl5RahZamhvlLIKbA==$tuysmKkJi1JBJAiPYPDRF19//KNtg0jLI2W6Pgsl1So="
)


def needs_rehash(stored: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bool:
    """True when `stored` is malformed or was made with other parameters than the current ones."""
    parsed = _parse_scrypt_hash(stored)
    if parsed is None:
        return True
    return (parsed.n, parsed.r, parsed.p, len(parsed.salt), len(parsed.digest)) != (
        n,
        r,
        p,
        SCRYPT_SALT_BYTES,
        SCRYPT_HASH_BYTES,
    )


# --------------------------------------------------------------------------- CSRF

CSRF_SESSION_KEY = "csrf_token"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FAILURE_DETAIL = "表单已过期或来源无效，请刷新页面后重试"


class CsrfError(HTTPException):
    """A state-changing request arrived without the session's CSRF token (HTTP 403)."""

    def __init__(self, detail: str = CSRF_FAILURE_DETAIL) -> None:
        super().__init__(status_code=403, detail=detail)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use. Needs SessionMiddleware."""
    token = request.session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_SESSION_KEY] = token
    return token


def rotate_csrf_token(request: Request) -> str:
    """Replace the session's CSRF token (call on login and logout)."""
    request.session.pop(CSRF_SESSION_KEY, None)
    return csrf_token(request)


def check_csrf(request: Request, form: Mapping[str, Any] | None = None) -> None:
    """Raise CsrfError unless the form field ``csrf_token`` or the ``X-CSRF-Token`` header
    equals the token stored in the session.

    The form field wins when both are present; htmx requests send the header (base.html
    puts it in ``hx-headers`` on <body>).
    """
    expected = request.session.get(CSRF_SESSION_KEY) if "session" in request.scope else None
    supplied: Any = None
    if form is not None:
        supplied = form.get(CSRF_FORM_FIELD)
    if supplied is None:
        supplied = request.headers.get(CSRF_HEADER)
    if not isinstance(expected, str) or not expected or not isinstance(supplied, str):
        raise CsrfError()
    if not hmac.compare_digest(supplied.encode("utf-8"), expected.encode("utf-8")):
        raise CsrfError()


# --------------------------------------------------------------------------- headers

DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "Content-Security-Policy": DEFAULT_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
)


class SecurityHeadersMiddleware:
    """Pure ASGI middleware adding CSP and related headers to every HTTP response.

    A header the application already set on a response is left alone, so one
    endpoint can loosen or tighten its own policy.
    """

    def __init__(self, app: ASGIApp, *, csp: str = DEFAULT_CSP, extra_headers: Mapping[str, str] | None = None) -> None:
        self.app = app
        headers = {**SECURITY_HEADERS, "Content-Security-Policy": csp, **(extra_headers or {})}
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                raw.extend((name, value) for name, value in self.headers if name not in present)
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------- sessions

SESSION_MAX_AGE = 12 * 60 * 60


def session_middleware(
    secret_key: str,
    https_only: bool = False,
    *,
    cookie_name: str = "session",
    max_age: int = SESSION_MAX_AGE,
) -> Middleware:
    """SessionMiddleware with the project's settings: SameSite=Lax, HttpOnly, cookie kept
    ``max_age`` seconds (the apps pass their session lifetime). The cookie only carries the
    session id: whether the session is still alive is the store's record (web.sessions).

    `https_only` stays False for plain HTTP on a township LAN (browsers drop Secure
    cookies there). Node and hub served from one host must use different
    `cookie_name`s: cookies are not separated by port.
    """
    if not isinstance(secret_key, str) or len(secret_key) < 16:
        raise ValueError("session secret_key must be a string of at least 16 characters")
    return Middleware(
        SessionMiddleware,
        secret_key=secret_key,
        session_cookie=cookie_name,
        max_age=max_age,
        same_site="lax",
        https_only=https_only,
    )


# --------------------------------------------------------------------------- request body limit

BODY_TOO_LARGE_DETAIL = "提交的内容过大，请减小附件或分批提交"


class BodyLimit:
    """Pure ASGI middleware capping request bodies at `max_bytes` with a Chinese 413.

    Starlette 1.x has its own limit (``Starlette(max_body_size=...)``, also per route):
    when a body read goes over it, it raises an HTTPException(413) that the app's
    exception handlers render (our 413 page is Chinese). This class wraps that same
    middleware and adds the one case it answers in English: a Content-Length that is
    already over the limit, refused here before the app runs. Pass the app's
    Jinja2Templates to get the HTML error page; otherwise plain Chinese text.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, templates: Any = None) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_bytes)
        self.max_bytes = max_bytes
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length")
            try:
                too_large = declared is not None and int(declared) > self.max_bytes
            except ValueError:
                too_large = False
            if too_large:
                response = self._too_large(scope, receive)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _too_large(self, scope: Scope, receive: Receive) -> Response:
        headers = {"Connection": "close"}
        if wants_json_scope(scope):
            return JSONResponse(
                {"error": "payload_too_large", "status": 413, "detail": BODY_TOO_LARGE_DETAIL},
                status_code=413,
                headers=headers,
            )
        if self.templates is not None:
            request = Request(scope, receive)
            context = {"status_code": 413, "title": "提交内容过大", "message": BODY_TOO_LARGE_DETAIL}
            return self.templates.TemplateResponse(request, "pages/error.html", context, status_code=413, headers=headers)
        return PlainTextResponse(f"413 提交内容过大：{BODY_TOO_LARGE_DETAIL}", status_code=413, headers=headers)


def body_limit_middleware(max_bytes: int, templates: Any = None) -> Middleware:
    """``Middleware(BodyLimit, ...)`` for an app's ``middleware=`` list."""
    return Middleware(BodyLimit, max_bytes=max_bytes, templates=templates)


BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def limit_request_bodies(routes: list, max_bytes: int) -> list:
    """Give every route that takes a body and declares no ``max_body_size`` of its own
    the limit ``max_bytes`` (a route's own limit, larger or smaller, stands). Returns
    ``routes``; Mounts are walked."""
    for route in routes:
        if isinstance(route, Mount):
            limit_request_bodies(route.routes, max_bytes)
        elif isinstance(route, Route) and (route.methods or set()) & BODY_METHODS \
                and not isinstance(route.app, RequestBodyLimitMiddleware):
            route.app = RequestBodyLimitMiddleware(route.app, max_body_size=max_bytes)
    return routes


# --------------------------------------------------------------------------- client address


def client_ip(request: Request) -> str:
    """The peer address of the request, or "unknown".

    Forwarding headers are not read here: behind a reverse proxy, run uvicorn with
    ``--proxy-headers --forwarded-allow-ips=<proxy>`` so the peer address is right.
    """
    client = request.client
    return client.host if client is not None and client.host else "unknown"


def login_throttle_key(username: str, request: Request) -> tuple[str, str]:
    """The key LoginThrottle counts failures under: (normalised user name, client IP)."""
    return (username.strip().casefold(), client_ip(request))


# --------------------------------------------------------------------------- login throttle


class LoginThrottle:
    """Counts failed logins per key (user name, client IP) and imposes growing delays.

    While fewer than `free_failures` failures fall inside the sliding `window`, attempts
    are allowed at once. From then on each attempt must wait `base_delay` seconds after
    the latest failure, doubling with every further failure up to `max_delay`. Failures
    older than `window` are forgotten, so there is never a permanent lock-out: the
    longest possible wait is `max_delay`.

    In memory and per instance (one per app); thread-safe, since Starlette runs sync
    endpoints in a thread pool.
    """

    def __init__(
        self,
        *,
        free_failures: int = 5,
        window: float = 15 * 60,
        base_delay: float = 30.0,
        max_delay: float = 5 * 60,
        max_keys: int = 10_000,
        clock: Clock = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_keys = max_keys
        self.clock = clock
        self._failures: dict[Hashable, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: Hashable, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def delay_after(self, failures: int) -> float:
        """Seconds an attempt must wait after the latest of `failures` recent failures."""
        if failures < self.free_failures:
            return 0.0
        exponent = failures - self.free_failures
        if exponent > 32:
            return float(self.max_delay)
        return float(min(self.base_delay * 2**exponent, self.max_delay))

    def check(self, key: Hashable) -> float:
        """Seconds to wait before `key` may try again; 0.0 when it may try now."""
        with self._lock:
            now = self.clock()
            times = self._recent(key, now)
            if not times:
                return 0.0
            wait = times[-1] + self.delay_after(len(times)) - now
            return max(0.0, wait)

    def failure(self, key: Hashable) -> None:
        """Record a failed attempt for `key`."""
        with self._lock:
            now = self.clock()
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
            if len(self._failures) > self.max_keys:
                self._prune(now)

    def success(self, key: Hashable) -> None:
        """Forget the failures of `key` after a successful login."""
        with self._lock:
            self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in [k for k, times in self._failures.items() if now - times[-1] >= self.window]:
            del self._failures[key]
        if len(self._failures) > self.max_keys:
            oldest = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in oldest[: len(self._failures) - self.max_keys]:
                del self._failures[key]


# --------------------------------------------------------------------------- rate limiter


class RateLimiter:
    """Token bucket per key, for public look-ups (progress queries, QR verification).

    Each key holds up to `burst` tokens, refilled at `rate` tokens per second.
    ``acquire(key)`` takes one token and returns 0.0, or takes nothing and returns the
    seconds until a token is available. In memory, per instance, thread-safe.
    """

    def __init__(self, rate: float, burst: float, *, max_keys: int = 10_000, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - at) * self.rate)

    def acquire(self, key: Hashable, cost: float = 1.0) -> float:
        """Take `cost` tokens from `key`'s bucket: 0.0 on success, else seconds to wait."""
        if cost > self.burst:
            raise ValueError("cost exceeds burst")
        with self._lock:
            now = self.clock()
            tokens = self._tokens(key, now)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                if len(self._buckets) > self.max_keys:
                    self._prune(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.rate

    def wait(self, key: Hashable, cost: float = 1.0) -> float:
        """Seconds until `key`'s bucket holds `cost` tokens (0.0 now); takes nothing."""
        with self._lock:
            tokens = self._tokens(key, self.clock())
            return 0.0 if tokens >= cost else (cost - tokens) / self.rate

    def allow(self, key: Hashable, cost: float = 1.0) -> bool:
        """True when `cost` tokens were taken from `key`'s bucket."""
        return self.acquire(key, cost) == 0.0

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely is the same as no bucket at all.
        for key in [k for k in self._buckets if self._tokens(k, now) >= self.burst]:
            del self._buckets[key]
        if len(self._buckets) > self.max_keys:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k][1])
            for key in oldest[: len(self._buckets) - self.max_keys]:
                del self._buckets[key]


def retry_after_header(seconds: float) -> dict[str, str]:
    """A ``Retry-After`` header for a 429 response (whole seconds, at least 1)."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
