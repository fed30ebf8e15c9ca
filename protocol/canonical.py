"""Canonical bytes: the one encoding that is hashed and signed.

UTF-8 JSON, object keys sorted, no insignificant white space, non-ASCII text as is
(the float-free subset of RFC 8785). See SPEC.md section 2. Two entry points:

* :func:`canonical_bytes` encodes a value a node is about to sign. Text is normalised to
  NFC here, so staff input never fails for how a keyboard composed it.
* :func:`parse_canonical` reads bytes from a peer. It *refuses* anything that is not
  exactly what :func:`canonical_bytes` would have produced (NFD text included): bytes that
  are not canonical cannot be hashed identically by two implementations.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from . import limits
from .errors import EncodingError

_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,%d}$" % limits.MAX_KEY_CHARS)

_encoder = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                            allow_nan=False)


def _check(value: Any, depth: int, path: str, normalise: bool) -> Any:
    """Validate ``value`` for canonical encoding; return it (NFC-normalised if asked)."""
    if depth > limits.MAX_DEPTH:
        raise EncodingError(f"{path}: nesting deeper than {limits.MAX_DEPTH} levels",
                            code="depth_exceeded", field=path)
    if value is None or value is True or value is False:
        return value
    if isinstance(value, int):
        if not -limits.MAX_INT <= value <= limits.MAX_INT:
            raise EncodingError(f"{path}: integer {value} outside ±(2^53-1)",
                                code="integer_out_of_range", field=path)
        return int(value)
    if isinstance(value, str):
        return _check_text(value, path, normalise)
    if isinstance(value, float):
        raise EncodingError(f"{path}: floats are not allowed (use integer units, e.g. fen)",
                            code="float_not_allowed", field=path)
    if isinstance(value, dict):
        if len(value) > limits.MAX_ITEMS:
            raise EncodingError(f"{path}: more than {limits.MAX_ITEMS} members",
                                code="too_large", field=path)
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _KEY_RE.match(key):
                raise EncodingError(
                    f"{path}: object key {key!r} must be 1-{limits.MAX_KEY_CHARS} characters "
                    "of A-Z a-z 0-9 _ . -", code="key_not_allowed", field=path)
            out[key] = _check(item, depth + 1, f"{path}.{key}", normalise)
        return out
    if isinstance(value, (list, tuple)):
        if len(value) > limits.MAX_ITEMS:
            raise EncodingError(f"{path}: more than {limits.MAX_ITEMS} elements",
                                code="too_large", field=path)
        return [_check(item, depth + 1, f"{path}[{i}]", normalise) for i, item in enumerate(value)]
    raise EncodingError(f"{path}: values of type {type(value).__name__} are not allowed",
                        code="value_type_not_allowed", field=path)


def _check_text(text: str, path: str, normalise: bool) -> str:
    if len(text) > limits.MAX_STRING_CHARS:
        raise EncodingError(f"{path}: text longer than {limits.MAX_STRING_CHARS} characters",
                            code="too_large", field=path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise EncodingError(f"{path}: text contains a lone surrogate", code="invalid_text",
                            field=path) from None
    if text.isascii():
        return text
    if normalise:
        return unicodedata.normalize("NFC", text)
    if not unicodedata.is_normalized("NFC", text):
        raise EncodingError(f"{path}: text is not in Unicode NFC", code="not_nfc", field=path)
    return text


def canonicalise(value: Any) -> Any:
    """Return ``value`` validated and with every string NFC-normalised."""
    return _check(value, 1, "$", normalise=True)


def canonical_bytes(value: Any) -> bytes:
    """Encode ``value`` as canonical bytes, normalising text to NFC."""
    return _encoder.encode(canonicalise(value)).encode("utf-8")


def _no_float(text: str) -> Any:
    raise EncodingError(f"number {text} is not an integer: floats are not allowed",
                        code="float_not_allowed")


def _no_constant(text: str) -> Any:
    raise EncodingError(f"{text} is not allowed", code="float_not_allowed")


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise EncodingError("an object has a duplicate key", code="not_canonical")
    return out


def loads_strict(data: bytes) -> Any:
    """Parse JSON bytes refusing floats, NaN and duplicate keys (not yet canonical-checked)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError(f"bytes are not UTF-8 (at offset {exc.start})",
                            code="invalid_text") from None
    try:
        return json.loads(text, parse_float=_no_float, parse_constant=_no_constant,
                          object_pairs_hook=_pairs)
    except RecursionError:
        raise EncodingError("nesting too deep", code="depth_exceeded") from None
    except ValueError as exc:
        if isinstance(exc, EncodingError):
            raise
        raise EncodingError(f"not valid JSON: {exc}", code="invalid_json") from None


def _text_ok(text: str) -> bool:
    if len(text) > limits.MAX_STRING_CHARS:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return unicodedata.is_normalized("NFC", text)


def _leaf_ok(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return _text_ok(value)
    if kind is int:
        return -limits.MAX_INT <= value <= limits.MAX_INT
    return value is None or value is True or value is False


def _plain(value: Any, depth: int) -> bool:
    """True if ``value`` (fresh from ``json.loads``) passes every rule of :func:`_check`.

    The fast path of :func:`parse_canonical`: no paths, no messages. Anything it does not
    pass goes through :func:`_check`, which names the rule broken."""
    if depth > limits.MAX_DEPTH:
        return False
    kind = type(value)
    if kind is dict:
        if len(value) > limits.MAX_ITEMS:
            return False
        for key, item in value.items():
            if key not in _GOOD_KEYS:
                if not _KEY_RE.match(key):
                    return False
                if len(_GOOD_KEYS) < 4096:
                    _GOOD_KEYS.add(key)
            if not _plain(item, depth + 1):
                return False
        return True
    if kind is list:
        return len(value) <= limits.MAX_ITEMS and all(_plain(v, depth + 1) for v in value)
    return _leaf_ok(value)


_GOOD_KEYS: set[str] = set()     # keys seen to match _KEY_RE (bounded)
_decoder = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_constant)


def parse_canonical(data: bytes, max_bytes: int = limits.MAX_EVENT_BYTES) -> Any:
    """Parse bytes from a peer, refusing anything that is not exactly canonical.

    Fast path: plain ``json.loads`` (floats and NaN still refused), :func:`_plain`, then
    the bytes must equal their re-encoding, which also refuses duplicate keys (the object
    re-encodes shorter). Anything else is parsed again the slow way, for the exact error."""
    if len(data) > max_bytes:
        raise EncodingError(f"{len(data)} bytes exceed the limit of {max_bytes}",
                            code="too_large")
    try:
        value = _decoder.decode(data.decode("utf-8"))
        if _plain(value, 1) and _encoder.encode(value).encode("utf-8") == data:
            return value
    except (ValueError, RecursionError):
        pass
    return _parse_slow(data)


def _parse_slow(data: bytes) -> Any:
    value = loads_strict(data)
    _check(value, 1, "$", normalise=False)
    if _encoder.encode(value).encode("utf-8") != data:
        raise EncodingError("bytes are not in canonical form (key order, white space or "
                            "escaping differ)", code="not_canonical")
    return value
