"""Jinja2 environment shared by both apps, template filters, and htmx-aware rendering.

An app builds its templates once in its factory::

    templates = make_templates([Path(__file__).parent / "templates"])

Its own directories come first, so an app may override any shared template; the
shared ones (``base.html``, ``partials/_form_field.html``, ``pages/error.html`` ...)
come from ``web/templates``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from web import assets
from web.flash import pop_flashes
from web.security import CSRF_FORM_FIELD, CSRF_HEADER, csrf_token

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")  # no daylight saving since 1991
DEFAULT_APP_NAME = "便民服务中心"

# --------------------------------------------------------------------------- filters


def _text(value: Any) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    return str(value).strip()


def mask_id(value: Any) -> str:
    """Mask an ID number, keeping the first 4 and last 4 characters.

    ``510104199001011234`` -> ``5101**********1234``. Short values keep less so that
    at least a third is always hidden: 8 chars keep 2+2, 4 chars keep 1+1, and 3 or
    fewer are masked entirely. None or empty -> "".
    """
    text = _text(value)
    if not text:
        return ""
    keep = min(4, (len(text) - 1) // 3)
    if keep == 0:
        return "*" * len(text)
    return text[:keep] + "*" * (len(text) - 2 * keep) + text[-keep:]


def mask_name(value: Any) -> str:
    """Mask a person's name: ``张三`` -> ``张*``, ``张小三`` -> ``张*三``, ``欧阳小明`` -> ``欧**明``.

    Two characters keep the first; three or more keep the first and last. A single
    character becomes ``*``; None or empty -> "".
    """
    text = _text(value)
    if not text:
        return ""
    if len(text) == 1:
        return "*"
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_phone(value: Any) -> str:
    """Mask a phone number keeping the first 3 and last 4 digits: ``138****5678``."""
    text = _text(value)
    if len(text) < 8:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def fen_to_yuan(value: Any) -> str:
    """An amount in fen (integer) as yuan: ``1250`` -> ``12.50 元``; ``0`` -> ``免费``; None -> ""."""
    if value is None or isinstance(value, jinja2.Undefined) or value == "":
        return ""
    if isinstance(value, bool):
        raise TypeError("fen_to_yuan expects an integer amount in fen")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("fen_to_yuan expects a whole number of fen")
    fen = int(value)
    if fen == 0:
        return "免费"
    sign = "-" if fen < 0 else ""
    yuan, rest = divmod(abs(fen), 100)
    return f"{sign}{yuan}.{rest:02d} 元"


def _to_datetime(value: Any) -> dt.datetime | dt.date | None:
    if value is None or isinstance(value, jinja2.Undefined) or value == "":
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.datetime.fromisoformat(text) if ("T" in text or " " in text) else dt.date.fromisoformat(text)
        except ValueError:
            return None
    return None


def zh_datetime(value: Any, seconds: bool = False) -> str:
    """A date/time in Chinese style: ``2024年3月5日 14:30``.

    Accepts datetime, date, ISO 8601 strings and Unix timestamps (seconds). Aware
    values are shown in China Standard Time (UTC+8); naive ones as they are. A plain
    date gives ``2024年3月5日``. None or unparsable -> the input as text ("" for None).
    """
    moment = _to_datetime(value)
    if moment is None:
        return _text(value)
    if not isinstance(moment, dt.datetime):
        return f"{moment.year}年{moment.month}月{moment.day}日"
    if moment.tzinfo is not None:
        moment = moment.astimezone(CHINA_TZ)
    clock = f"{moment.hour:02d}:{moment.minute:02d}" + (f":{moment.second:02d}" if seconds else "")
    return f"{moment.year}年{moment.month}月{moment.day}日 {clock}"


def zh_date(value: Any) -> str:
    """The date part only, in Chinese style: ``2024年3月5日``."""
    moment = _to_datetime(value)
    if moment is None:
        return _text(value)
    if isinstance(moment, dt.datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(CHINA_TZ)
    return f"{moment.year}年{moment.month}月{moment.day}日"


FILTERS = {
    "mask_id": mask_id,
    "mask_name": mask_name,
    "mask_phone": mask_phone,
    "fen_to_yuan": fen_to_yuan,
    "zh_datetime": zh_datetime,
    "zh_date": zh_date,
}

# --------------------------------------------------------------------------- environment


def _template_csrf_token(request: HTTPConnection) -> str:
    """csrf_token() for templates; "" where no session exists (e.g. some error pages)."""
    if "session" not in request.scope:
        return ""
    return csrf_token(request)  # type: ignore[arg-type]


def make_templates(
    extra_dirs: list[str | Path],
    *,
    static_prefix: str = "/static",
    app_name: str = DEFAULT_APP_NAME,
) -> Jinja2Templates:
    """Build the Jinja2Templates an app renders with.

    `extra_dirs` are searched first (the app's own templates), then ``web/templates``.
    Globals: ``static_url(name)``, ``vendor(name)``, ``csrf_token(request)``,
    ``pop_flashes(request)``, ``app_name``. Filters: see FILTERS.
    """
    search_path = [str(Path(d)) for d in extra_dirs] + [str(assets.TEMPLATES_DIR)]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search_path),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    prefix = static_prefix.rstrip("/")
    vendored = assets.vendored_files()
    fingerprints: dict[str, tuple[float, str]] = {}  # per instance: name -> (mtime, hash)

    def static_url(name: str) -> str:
        """URL of a file under web/static, with a content hash to bust caches."""
        name = name.lstrip("/")
        path = assets.STATIC_DIR / name
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return f"{prefix}/{name}"
        cached = fingerprints.get(name)
        if cached is None or cached[0] != mtime:
            cached = (mtime, assets.file_fingerprint(path))
            fingerprints[name] = cached
        return f"{prefix}/{name}?v={cached[1]}"

    def vendor(name: str) -> str:
        """URL of a vendored library by short name ("htmx", "echarts"); version in the file name."""
        try:
            return f"{prefix}/{vendored[name]}"
        except KeyError:
            raise LookupError(f"no vendored asset named {name!r}; see web/static/vendor/VENDORED.json") from None

    env.globals.update(
        static_url=static_url,
        vendor=vendor,
        csrf_token=_template_csrf_token,
        csrf_field_name=CSRF_FORM_FIELD,
        csrf_header_name=CSRF_HEADER,
        pop_flashes=pop_flashes,
        app_name=app_name,
    )
    env.filters.update(FILTERS)
    return Jinja2Templates(env=env)


def static_mount(path: str = "/static", name: str = "static") -> Mount:
    """A route serving web/static (app.css, print.css, vendor/ ...) at `path`."""
    return Mount(path, app=StaticFiles(directory=assets.STATIC_DIR), name=name)


# --------------------------------------------------------------------------- htmx


def is_htmx(request: HTTPConnection) -> bool:
    """True when the request was made by htmx (``HX-Request: true``)."""
    return request.headers.get("HX-Request") == "true"


def wants_partial(request: HTTPConnection) -> bool:
    """True when only the page's fragment should be returned.

    Boosted links/forms and history-restore requests are htmx requests that swap the
    whole <body>, so they get the full page.
    """
    return (
        is_htmx(request)
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def patch_vary(response: Response, header: str = "HX-Request") -> Response:
    """Add `header` to the response's Vary header (once)."""
    current = response.headers.get("Vary")
    names = [h.strip() for h in current.split(",")] if current else []
    if header.lower() not in {n.lower() for n in names}:
        names.append(header)
        response.headers["Vary"] = ", ".join(names)
    return response


def render(
    templates: Jinja2Templates,
    request: Request,
    page: str,
    partial: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render `partial` alone for an htmx request, the full `page` otherwise.

    The page should ``{% include %}`` the partial so both show the same markup.
    The response always carries ``Vary: HX-Request`` so caches keep the two apart.
    """
    name = partial if wants_partial(request) else page
    response = templates.TemplateResponse(
        request, name, dict(context or {}), status_code=status_code, headers=headers
    )
    return patch_vary(response)
