"""Server-side session records, shared by the node and the hub.

The signed session cookie (``web.security.session_middleware``) holds a random session id
(:data:`SESSION_ID`); each app's store keeps one row per signed-in session, keyed by the
SHA-256 of that id (:func:`session_key`: a copy of the database names no live cookie), with
the user, when it started and when it was last seen. Every authenticated request looks the
row up: no row (logged out, password reset, pruned) or a row past its limits means no
session. So logging out ends *that* session on the server: a copy of the cookie taken
before is refused afterwards.

Limits (:class:`SessionPolicy`): an idle timeout (30 minutes by default: window PCs are
shared) and an absolute lifetime (12 hours). ``last_seen`` is written at most once per
``touch_seconds`` (60 s), so an authenticated request does not write to the database each
time; the idle timeout is therefore exact to within that minute.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

SESSION_ID = "sid"
FRESH, TOUCH, EXPIRED = "fresh", "touch", "expired"


@dataclass(frozen=True)
class SessionPolicy:
    idle_seconds: float = 30 * 60
    lifetime_seconds: float = 12 * 60 * 60
    touch_seconds: float = 60

    def __post_init__(self) -> None:
        if self.idle_seconds <= 0 or self.lifetime_seconds <= 0 or self.touch_seconds < 0:
            raise ValueError("session limits must be positive")


@dataclass(frozen=True)
class SessionRecord:
    key: str
    user: str
    created_at: float
    last_seen: float


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_key(session_id: str) -> str:
    """What the store keeps of a session id (its SHA-256, hex)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def verdict(policy: SessionPolicy, record: SessionRecord, now: float) -> str:
    """EXPIRED (idle too long or too old), TOUCH (valid; refresh ``last_seen``) or FRESH."""
    if now - record.created_at >= policy.lifetime_seconds:
        return EXPIRED
    if now - record.last_seen >= policy.idle_seconds:
        return EXPIRED
    if now - record.last_seen >= policy.touch_seconds:
        return TOUCH
    return FRESH


PRUNE_GRACE_SECONDS = 24 * 60 * 60


def prune_bounds(policy: SessionPolicy, now: float) -> tuple[float, float]:
    """(last_seen before, created_at before): rows past either bound are deleted. A dead
    row is kept for :data:`PRUNE_GRACE_SECONDS` more (refused all the while: :func:`verdict`
    says EXPIRED), so that a person coming back after the idle timeout is told the sign-in
    timed out rather than that it was ended."""
    return (now - policy.idle_seconds - PRUNE_GRACE_SECONDS,
            now - policy.lifetime_seconds - PRUNE_GRACE_SECONDS)
