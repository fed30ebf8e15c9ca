"""The hub's exception hierarchy.

    HubError                  code + message (+ seq, extra) for a refusal or failure
    ├── NotInitialised        the data directory is not a hub (CLI)
    ├── RateLimited           ``rate_limited`` (429) with the seconds for ``Retry-After``
    └── (codes below)

Node-facing refusals are ``HubError`` or ``protocol.errors.ProtocolError``; both carry a
stable ``code``. The HTTP status is decided once, in :mod:`central_hub.http_errors`.
Codes of the hub itself: ``node_unknown``, ``node_revoked``, ``node_quarantined``,
``batch_wrong_node``, ``enroll_token_malformed``, ``enroll_token_unknown``,
``enroll_token_used``, ``enroll_token_expired``, ``node_exists``, ``config_unknown``,
``request_too_large``, ``content_type_invalid``, ``rate_limited``.
"""

from __future__ import annotations


class HubError(Exception):
    code = "hub_error"

    def __init__(self, message: str, *, code: str | None = None, seq: int | None = None,
                 extra: dict | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.seq = seq
        self.extra = dict(extra or {})

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.seq is not None:
            out["seq"] = self.seq
        return out


class NotInitialised(HubError):
    code = "hub_not_initialised"


class RateLimited(HubError):
    """A request over a rate limit: 429 with ``Retry-After`` (``retry_after`` seconds)."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
