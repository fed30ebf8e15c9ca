"""Strict parsing of request input: numbers, codes, secrets and JSON bodies.

Every number a request carries (path parameter, query parameter, form field) is read
with ``parse_int`` (or ``to_int`` where a form collects field errors itself): ASCII
digits only (``"²"`` and ``"٣"`` pass ``str.isdigit()`` but are refused here), a
bounded length and a bounded range. A refusal is an ``InputError``, an HTTP 400 whose
Chinese detail names the field and the rule; both apps' error handlers turn it into the
Chinese error page (or JSON for API clients).

``same_secret`` compares a submitted code with the stored one over UTF-8 bytes, so a
non-ASCII submission is a mismatch rather than a ``TypeError``. ``loads_json`` parses a
JSON body with bounded nesting: a deeply nested body is a 400, never a RecursionError.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.exceptions import HTTPException

MAX_DIGITS = 18          # below 2**63: every value fits an SQLite INTEGER
MAX_JSON_DEPTH = 64


class InputError(HTTPException):
    """A malformed request value: HTTP 400 with a Chinese message naming the field."""

    def __init__(self, field: str, label: str, rule: str) -> None:
        self.field = field
        super().__init__(400, f"参数“{label}”（{field}）{rule}")


def to_int(raw: object, *, lo: int = 0, hi: int = 10 ** MAX_DIGITS - 1,
           max_digits: int = MAX_DIGITS) -> int | None:
    """``raw`` as an int if it is 1..max_digits ASCII digits within [lo, hi], else None."""
    if not isinstance(raw, str) or not 1 <= len(raw) <= max_digits:
        return None
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if lo <= value <= hi else None


def parse_int(raw: object, field: str, label: str, *, lo: int = 0,
              hi: int = 10 ** MAX_DIGITS - 1, max_digits: int = MAX_DIGITS,
              default: int | None = None, required: bool = False) -> int | None:
    """The integer in ``raw`` (a request value), or ``default`` when it is absent or empty.

    Raises ``InputError`` (HTTP 400) when a value is given but is not ASCII digits, is
    longer than ``max_digits`` or lies outside [lo, hi]; also when ``required`` and absent.
    """
    if raw is None or raw == "":
        if required:
            raise InputError(field, label, "不能为空")
        return default
    value = to_int(raw, lo=lo, hi=hi, max_digits=max_digits)
    if value is None:
        raise InputError(field, label, f"应为 {lo} 至 {hi} 之间的整数（仅限半角数字）")
    return value


def ascii_digits(raw: object, max_len: int = MAX_DIGITS) -> bool:
    """True if ``raw`` is 1..max_len ASCII digits (unlike ``str.isdigit``)."""
    return isinstance(raw, str) and 1 <= len(raw) <= max_len and raw.isascii() and raw.isdigit()


def same_secret(given: object, expected: str) -> bool:
    """Constant-time equality of a submitted secret with the stored one, any text given."""
    if not isinstance(given, str):
        return False
    return secrets.compare_digest(given.encode("utf-8", "surrogatepass"),
                                  expected.encode("utf-8", "surrogatepass"))


def _depth_ok(text: str, max_depth: int) -> bool:
    """False if brackets outside strings nest deeper than ``max_depth``."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def loads_json(body: bytes | str, field: str = "body", label: str = "请求内容",
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The parsed JSON body; ``InputError`` (400) if it is not JSON or nests too deep."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise InputError(field, label, "应为 UTF-8 编码的 JSON") from None
    if not _depth_ok(text, max_depth):
        raise InputError(field, label, f"嵌套层数不能超过 {max_depth} 层")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise InputError(field, label, "应为合法的 JSON") from None
