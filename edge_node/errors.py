"""The edge node's exception hierarchy.

Every failure a member of staff can cause is a :class:`NodeError` with a Chinese message
for the screen (``zh``) and an English one for logs (``str(err)``). The web app maps
them to HTTP statuses in one place (``edge_node.app``); the CLI prints ``zh`` on one line
and exits non-zero.

    NodeError
    ├── ValidationError      a field breaks a rule (field, rule)             -> 422
    ├── TransitionError      the case's state, flow or the role forbids it     -> 409
    ├── NotFound             no such case, item or user                        -> 404
    ├── PermissionDenied     the user lacks the role                           -> 403
    │   └── NotSignedIn      no session                                        -> 401
    └── SetupError           the data directory is missing, broken or in use   -> 500

Protocol errors (``protocol.errors.ProtocolError``) may also surface, e.g. an event that
would exceed a protocol limit; the app maps them to 422.
"""

from __future__ import annotations


class NodeError(Exception):
    """Base of the node's errors. ``zh`` is for staff; ``str()`` is English."""

    status = 400

    def __init__(self, message: str, *, zh: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.zh = zh or message

    def to_dict(self) -> dict:
        return {"error": type(self).__name__, "message": self.message, "zh": self.zh}


class ValidationError(NodeError):
    """A field breaks a rule. ``field`` is its name (``applicant.id_no``), ``rule`` the rule."""

    status = 422

    def __init__(self, field: str, rule: str, zh: str, message: str | None = None) -> None:
        super().__init__(message or f"{field}: {rule}", zh=zh)
        self.field = field
        self.rule = rule

    def to_dict(self) -> dict:
        return {**super().to_dict(), "field": self.field, "rule": self.rule}


class TransitionError(NodeError):
    """The action is not allowed in the case's state, by its flow, or for the role."""

    status = 409

    def __init__(self, message: str, *, zh: str, action: str) -> None:
        super().__init__(message, zh=zh)
        self.action = action


class NotFound(NodeError):
    status = 404


class PermissionDenied(NodeError):
    status = 403


class NotSignedIn(PermissionDenied):
    status = 401


class SetupError(NodeError):
    status = 500
