"""One-shot messages shown on the next rendered page ("已受理", "保存失败" ...).

Stored in the signed session cookie, so they survive a POST → redirect → GET.
Needs SessionMiddleware; without it (error pages outside the session layer)
``pop_flashes`` returns nothing.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

FLASH_SESSION_KEY = "_flashes"
CATEGORIES = ("info", "success", "warning", "error")
_MAX_FLASHES = 10  # keep the cookie small even if nothing renders for a while


def flash(request: HTTPConnection, message: str, category: str = "info") -> None:
    """Queue `message` for the next page; category is one of info/success/warning/error."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown flash category {category!r}")
    queued = list(request.session.get(FLASH_SESSION_KEY, []))
    queued.append([category, str(message)])
    request.session[FLASH_SESSION_KEY] = queued[-_MAX_FLASHES:]


def pop_flashes(request: HTTPConnection) -> list[tuple[str, str]]:
    """Return and clear the queued messages as (category, message) pairs."""
    if "session" not in request.scope:
        return []
    queued = request.session.pop(FLASH_SESSION_KEY, None) or []
    return [(str(category), str(message)) for category, message in queued]
