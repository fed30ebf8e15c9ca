"""Hostile request values and the route walk of the "never a 5xx" property tests of both
apps (tests/test_hub_core.py, tests/test_edge_ui_routes.py)."""

from __future__ import annotations

import pathlib
import re
from urllib.parse import quote

from starlette.routing import Mount, Route

# Values that once gave 500s: "²" passes str.isdigit() but not int(); "é" is not ASCII
# (secrets.compare_digest refuses str); NUL is illegal in XLSX cells; deep JSON recurses.
HOSTILE = ("²", "١٢", "٣", "é", "\x00", "1\x00", "-1", " 7 ", "1e400", "inf", "0" * 40,
           "9" * 5000, "𝟙𝟚", "=HYPERLINK(\"http://x\")", "../../etc/passwd", "%00", "'",
           "2026-13-45", "长" * 300, "")
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
_QUERY_NAME = re.compile(r"""(?:query_params|\bq|values)\.get\(\s*"(\w+)"|\bq\["(\w+)"\]"""
                         r"""|_(?:q|date_param)\(request,\s*"(\w+)\"""")


def query_names(package: str) -> list[str]:
    """Every query-string name the package's views read (so a new parameter is fuzzed too)."""
    root = pathlib.Path(__file__).resolve().parent.parent / package
    names = set()
    for source in root.rglob("*.py"):
        for groups in _QUERY_NAME.findall(source.read_text(encoding="utf-8")):
            names.update(g for g in groups if g)
    return sorted(names | {"page", "year", "no", "code", "head", "after", "version", "have"})


def every_route(app) -> list[tuple[str, str]]:
    """(method, path) of every route, with the sub-routes of Mounts (static files: {path})."""
    out = []
    for route in app.routes:
        if isinstance(route, Mount):
            subs = route.routes or []
            out += [(m, route.path + r.path) for r in subs if isinstance(r, Route)
                    for m in sorted(r.methods - {"HEAD"})]
            out.append(("GET", route.path + "/{path}"))
        elif isinstance(route, Route):
            out += [(m, route.path) for m in sorted(route.methods - {"HEAD"})]
    return out


def fill_path(path: str, value: str) -> str:
    """``path`` with every {parameter} replaced by ``value``, percent-encoded."""
    return re.sub(r"\{[^}]+\}", quote(value, safe="") or "x", path)
