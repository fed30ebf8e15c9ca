"""Cells for CSV and XLSX exports: no formula injection, no characters XML refuses.

Every CSV and XLSX export of both apps passes each cell through ``safe_cell`` (or a row
through ``safe_row``):

- text starting with ``=`` ``+`` ``-`` ``@``, a TAB or a CR would be read by Excel,
  LibreOffice or WPS as a formula (``=HYPERLINK(...)``, ``=cmd|...``); it gets a leading
  ``'`` so the spreadsheet shows it as text;
- control characters that XML 1.0 cannot carry (NUL, \\x01-\\x08, \\x0b, \\x0c,
  \\x0e-\\x1f) make openpyxl raise ``IllegalCharacterError``; they become U+FFFD.

Numbers, dates and None pass unchanged. ``unquote_cell`` undoes the quote on import
(the catalogue's XLSX round trip).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet may hold it: text is never a formula, never illegal XML."""
    if not isinstance(value, str):
        return value
    value = _ILLEGAL.sub("\ufffd", value)
    if value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def safe_row(cells: Iterable[object]) -> list[object]:
    return [safe_cell(c) for c in cells]


def unquote_cell(value: object) -> object:
    """The text ``safe_cell`` quoted, as it was (for importing an exported sheet)."""
    if isinstance(value, str) and value[:1] == "'" and value[1:2] in FORMULA_STARTS:
        return value[1:]
    return value
