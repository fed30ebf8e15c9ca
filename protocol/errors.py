"""The protocol's exception hierarchy.

Every failure the protocol can report is a :class:`ProtocolError` with a stable,
machine-readable ``code`` (never renamed once published; hubs put it in 4xx bodies,
nodes show it to staff, auditors grep for it) and a message that names the field and
the limit. ``seq`` names the first bad event where there is one.

    ProtocolError
    ├── EncodingError        not_canonical, float_not_allowed, integer_out_of_range,
    │                        depth_exceeded, invalid_text, not_nfc, invalid_json,
    │                        key_not_allowed, value_type_not_allowed, too_large
    ├── EnvelopeError        envelope_invalid, field_too_long, event_too_large
    ├── KeyError_            key_invalid, key_insecure_permissions, unknown_alg
    ├── SignatureError       signature_invalid, signature_malformed
    ├── ChainError           chain_gap, chain_reorder, chain_duplicate, chain_broken,
    │                        chain_fork
    ├── BatchError           batch_too_large, batch_malformed, batch_trailing_data
    ├── VersionError         version_unsupported
    ├── DocumentError        document_invalid, document_wrong_kind
    │   └── ConfigError      config_version_invalid, config_digest_mismatch (config_docs)
    ├── RequestAuthError     request_unsigned, request_signature_invalid, request_expired,
    │                        request_replayed (request_auth)
    ├── EventBodyError       event_body_invalid (events)
    └── CalendarError        calendar_invalid (calendar)
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every protocol failure. ``code`` is stable; ``message`` is for people."""

    code = "protocol_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 seq: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.field = field
        self.seq = seq

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.seq is not None:
            out["seq"] = self.seq
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, seq={self.seq!r})"


class EncodingError(ProtocolError):
    code = "not_canonical"


class EnvelopeError(ProtocolError):
    code = "envelope_invalid"


class KeyError_(ProtocolError):  # noqa: N801 - avoid shadowing the builtin KeyError
    code = "key_invalid"


class SignatureError(ProtocolError):
    code = "signature_invalid"


class ChainError(ProtocolError):
    code = "chain_broken"


class BatchError(ProtocolError):
    code = "batch_malformed"


class VersionError(ProtocolError):
    code = "version_unsupported"


class DocumentError(ProtocolError):
    code = "document_invalid"
