"""Which representation a request wants: HTML (browsers, htmx) or JSON (API clients)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import Scope


def wants_json_scope(scope: Scope) -> bool:
    """True for paths under /api/ and for clients that accept JSON but not HTML."""
    if scope.get("path", "").startswith("/api/"):
        return True
    accept = Headers(scope=scope).get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def wants_json(request: HTTPConnection) -> bool:
    """True for paths under /api/ and for clients that accept JSON but not HTML."""
    return wants_json_scope(request.scope)
