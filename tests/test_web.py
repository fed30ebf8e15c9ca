"""Tests of the shared web layer (web/): templates, security helpers, error handling, assets."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from web import assets
from web.errors import ValidationErrors, install_error_handlers
from web.flash import flash
from web.inputs import InputError, loads_json, parse_int, same_secret, to_int
from web.pagination import Pagination
from web.security import (
    CSRF_FAILURE_DETAIL,
    BodyLimit,
    LoginThrottle,
    RateLimiter,
    SecurityHeadersMiddleware,
    check_csrf,
    client_ip,
    hash_password,
    login_throttle_key,
    needs_rehash,
    session_middleware,
    verify_password,
)
from web.templating import fen_to_yuan, is_htmx, make_templates, mask_id, mask_name, mask_phone, render, static_mount
from web.templating import zh_date, zh_datetime

SECRET = "test-secret-key-0123456789abcdef"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --------------------------------------------------------------------------- a tiny app


@pytest.fixture
def app_templates(tmp_path: Path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "partials").mkdir()
    (tmp_path / "pages" / "cases.html").write_text(
        '{% extends "base.html" %}{% block title %}办件列表{% endblock %}'
        "{% block sync_indicator %}<span class=\"sync-indicator sync--ok\">已同步</span>{% endblock %}"
        '{% block content %}<h1>办件列表</h1>{% include "partials/_case_rows.html" %}{% endblock %}',
        encoding="utf-8",
    )
    (tmp_path / "partials" / "_case_rows.html").write_text(
        '<table id="rows"><tr><td>{{ name|mask_name }}</td><td>{{ id_number|mask_id }}</td></tr></table>',
        encoding="utf-8",
    )
    (tmp_path / "pages" / "form.html").write_text(
        '{% extends "base.html" %}{% import "partials/_form_field.html" as form %}'
        '{% block content %}{{ form.error_summary(errors) }}<form method="post">{{ form.csrf_field(request) }}'
        '{{ form.input("id_number", "身份证号码", value=value, errors=errors, required=true, hint="18位") }}'
        '{{ form.select("item", "事项", options=[("a", "甲"), "乙"], selected="乙", errors=errors) }}'
        '{{ form.textarea("remark", "备注", errors=errors) }}'
        "</form>{% endblock %}",
        encoding="utf-8",
    )
    return make_templates([tmp_path], app_name="测试便民服务中心")


def build_app(templates, *, max_body_size: int | None = None, middleware: list[Middleware] | None = None) -> Starlette:
    async def cases(request: Request):
        context = {"name": "张小三", "id_number": "510104199001011234"}
        return render(templates, request, "pages/cases.html", "partials/_case_rows.html", context)

    async def form_page(request: Request):
        errors = ValidationErrors()
        value = request.query_params.get("value")
        if value is not None and len(value) != 18:
            errors.add("id_number", "身份证号码应为18位")
        return templates.TemplateResponse(request, "pages/form.html", {"errors": errors, "value": value})

    async def submit(request: Request):
        form = await request.form()
        check_csrf(request, form)
        flash(request, "已受理", "success")
        return PlainTextResponse("ok")

    async def api_submit(request: Request):
        check_csrf(request, None)
        return JSONResponse({"ok": True})

    async def upload(request: Request):
        body = await request.body()
        return PlainTextResponse(str(len(body)))

    async def api_upload(request: Request):
        body = await request.body()
        return JSONResponse({"size": len(body)})

    async def crash(request: Request):
        raise RuntimeError("secret internal detail")

    async def forbidden(request: Request):
        raise HTTPException(403, "该办件不属于本中心")

    async def whoami(request: Request):
        return PlainTextResponse(client_ip(request))

    routes = [
        Route("/cases", cases),
        Route("/form", form_page),
        Route("/submit", submit, methods=["POST"]),
        Route("/api/submit", api_submit, methods=["POST"]),
        Route("/upload", upload, methods=["POST"]),
        Route("/api/upload", api_upload, methods=["POST"]),
        Route("/crash", crash),
        Route("/forbidden", forbidden),
        Route("/whoami", whoami),
        static_mount(),
    ]
    stack = [Middleware(SecurityHeadersMiddleware), session_middleware(SECRET, cookie_name="test_session")]
    return Starlette(
        routes=routes,
        middleware=(middleware or []) + stack,
        exception_handlers=install_error_handlers(templates),
        max_body_size=max_body_size,
    )


@pytest.fixture
def client(app_templates):
    return TestClient(build_app(app_templates))


def token_of(client: TestClient) -> str:
    page = client.get("/form").text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


# --------------------------------------------------------------------------- CSRF


def test_csrf_form_field_accepted(client):
    token = token_of(client)
    response = client.post("/submit", data={"csrf_token": token, "x": "1"})
    assert response.status_code == 200
    assert response.text == "ok"


def test_csrf_header_accepted(client):
    token = token_of(client)
    response = client.post("/api/submit", headers={"X-CSRF-Token": token})
    assert response.status_code == 200


def test_csrf_token_in_hx_headers_matches_form_token(client):
    page = client.get("/form").text
    hx = re.search(r"hx-headers='([^']+)'", page)
    assert hx
    assert json.loads(hx.group(1))["X-CSRF-Token"] == token_of(client)


@pytest.mark.parametrize("data", [{}, {"csrf_token": ""}, {"csrf_token": "wrong"}])
def test_csrf_missing_or_wrong_refused(client, data):
    token_of(client)  # the session has a token; the form does not carry it
    response = client.post("/submit", data=data)
    assert response.status_code == 403
    assert CSRF_FAILURE_DETAIL in response.text
    assert 'lang="zh-CN"' in response.text


def test_csrf_without_session_refused(app_templates):
    fresh = TestClient(build_app(app_templates))
    response = fresh.post("/submit", data={"csrf_token": "anything"})
    assert response.status_code == 403


def test_csrf_token_of_another_session_refused(app_templates):
    app = build_app(app_templates)
    alice, mallory = TestClient(app), TestClient(app)
    alice_token = token_of(alice)
    token_of(mallory)
    assert mallory.post("/submit", data={"csrf_token": alice_token}).status_code == 403
    assert alice.post("/submit", data={"csrf_token": alice_token}).status_code == 200


def test_csrf_refusal_is_json_for_api(client):
    token_of(client)
    response = client.post("/api/submit", headers={"X-CSRF-Token": "nope"})
    assert response.status_code == 403
    assert response.json()["error"]["detail"] == CSRF_FAILURE_DETAIL


def test_csrf_token_is_stable_within_a_session(client):
    assert token_of(client) == token_of(client)


# --------------------------------------------------------------------------- passwords


def test_password_hash_and_verify():
    stored = hash_password("正确的密码 correct horse")
    assert stored.startswith("scrypt$16384$8$1$")
    assert len(stored.split("$")) == 6
    assert verify_password("正确的密码 correct horse", stored)
    assert not verify_password("正确的密码 correct hors", stored)
    assert not verify_password("", stored)
    assert not needs_rehash(stored)


def test_password_hashes_are_salted():
    assert hash_password("same") != hash_password("same")


def test_needs_rehash_on_other_parameters():
    weak = hash_password("pw", n=2**10)
    assert verify_password("pw", weak)
    assert needs_rehash(weak)
    assert needs_rehash("not a hash")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "scrypt",
        "scrypt$$$$$",
        "plain-text-password",
        "bcrypt$16384$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo",
        "scrypt$16384$8$1$!!!notbase64$aGFzaA==",
        "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$",
        "scrypt$1000$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        "scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        "scrypt$16384$999999$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        "scrypt$x$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=$extra",
        None,
        12345,
    ],
)
def test_verify_password_malformed_hash_is_false(stored):
    assert verify_password("pw", stored) is False  # type: ignore[arg-type]


def test_verify_password_rejects_non_str_password():
    assert verify_password(None, hash_password("pw", n=2**10)) is False  # type: ignore[arg-type]


@given(st.text(max_size=80))
def test_verify_password_never_raises_on_arbitrary_stored_text(stored):
    assert verify_password("pw", stored) is False


# --------------------------------------------------------------------------- login throttle


def test_throttle_timeline():
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    key = ("zhangsan", "10.0.0.5")
    for _ in range(4):
        assert throttle.check(key) == 0
        throttle.failure(key)
    assert throttle.check(key) == 0  # 4 failures: still free
    throttle.failure(key)  # 5th failure
    assert throttle.check(key) == pytest.approx(30)
    clock.advance(10)
    assert throttle.check(key) == pytest.approx(20)
    clock.advance(20)
    assert throttle.check(key) == 0
    throttle.failure(key)  # 6th: delay doubles
    assert throttle.check(key) == pytest.approx(60)
    clock.advance(60)
    throttle.failure(key)  # 7th
    assert throttle.check(key) == pytest.approx(120)
    # Other keys are unaffected.
    assert throttle.check(("zhangsan", "10.0.0.6")) == 0
    assert throttle.check(("lisi", "10.0.0.5")) == 0


def test_throttle_delay_is_capped_and_never_permanent():
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    key = ("admin", "192.168.1.20")
    for _ in range(100):  # a burst of failures (e.g. parallel attempts) hits the cap
        throttle.failure(key)
    assert throttle.check(key) == pytest.approx(5 * 60)
    clock.advance(5 * 60)
    assert throttle.check(key) == 0  # allowed again after the cap, however many failures

    # A persistent guesser who always waits as told is slowed down but never locked out.
    attempts = 0
    start = clock.now
    while clock.now - start < 3600:
        wait = throttle.check(key)
        assert wait <= 5 * 60
        clock.advance(wait)
        assert throttle.check(key) == 0
        throttle.failure(key)
        attempts += 1
    assert 12 <= attempts <= 60  # a few guesses per 15 minutes, not thousands


def test_throttle_forgets_failures_after_the_window():
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    key = ("wangwu", "10.0.0.9")
    for _ in range(5):
        throttle.failure(key)
    assert throttle.check(key) > 0
    clock.advance(15 * 60 + 1)
    assert throttle.check(key) == 0
    throttle.failure(key)
    assert throttle.check(key) == 0  # one recent failure only


def test_throttle_success_resets():
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    key = ("zhaoliu", "10.0.0.1")
    for _ in range(6):
        throttle.failure(key)
    throttle.success(key)
    assert throttle.check(key) == 0


def test_throttle_memory_is_bounded():
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock, max_keys=50)
    for i in range(500):
        throttle.failure((f"user{i}", "10.0.0.1"))
        clock.advance(1)
    assert len(throttle._failures) <= 50


def test_login_throttle_key_normalises_user_name(client):
    scope = {"type": "http", "client": ("10.1.2.3", 5555), "headers": []}
    assert login_throttle_key("  ZhangSan ", Request(scope)) == ("zhangsan", "10.1.2.3")
    assert client.get("/whoami").text == "testclient"
    assert client_ip(Request({"type": "http", "client": None, "headers": []})) == "unknown"


# --------------------------------------------------------------------------- rate limiter


def test_rate_limiter_token_bucket():
    clock = FakeClock()
    limiter = RateLimiter(rate=0.5, burst=3, clock=clock)
    assert [limiter.allow("1.2.3.4") for _ in range(3)] == [True, True, True]
    assert limiter.acquire("1.2.3.4") == pytest.approx(2.0)
    assert limiter.allow("5.6.7.8")
    clock.advance(2)
    assert limiter.allow("1.2.3.4")
    assert not limiter.allow("1.2.3.4")
    clock.advance(3600)
    assert [limiter.allow("1.2.3.4") for _ in range(4)] == [True, True, True, False]


def test_rate_limiter_memory_is_bounded():
    clock = FakeClock()
    limiter = RateLimiter(rate=1, burst=2, clock=clock, max_keys=10)
    for i in range(100):
        limiter.allow(f"10.0.0.{i}")
        clock.advance(0.01)
    assert len(limiter._buckets) <= 10


# --------------------------------------------------------------------------- headers, sessions


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


@pytest.mark.parametrize("path", ["/cases", "/does-not-exist", "/static/app.css"])
def test_security_headers_present(client, path):
    response = client.get(path)
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


def test_security_headers_on_500(app_templates):
    client = TestClient(build_app(app_templates), raise_server_exceptions=False)
    response = client.get("/crash")
    assert response.status_code == 500
    assert response.headers["content-security-policy"] == CSP


def test_session_cookie_attributes(client):
    response = client.get("/form")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("test_session=")
    assert "samesite=lax" in cookie.lower()
    assert "httponly" in cookie.lower()
    assert "max-age=43200" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP on the LAN must work


def test_session_https_only_sets_secure(app_templates):
    app = Starlette(
        routes=build_app(app_templates).routes,
        middleware=[session_middleware(SECRET, https_only=True)],
    )
    cookie = TestClient(app).get("/form").headers["set-cookie"]
    assert "; secure" in cookie.lower()


def test_session_secret_must_not_be_short():
    with pytest.raises(ValueError):
        session_middleware("short")


def test_flash_shown_once(client):
    token = token_of(client)
    client.post("/submit", data={"csrf_token": token})
    first = client.get("/cases").text
    assert '<p class="flash flash--success">已受理</p>' in first
    assert "已受理" not in client.get("/cases").text


# --------------------------------------------------------------------------- rendering


def test_render_full_page(client):
    response = client.get("/cases")
    assert response.status_code == 200
    assert response.headers["vary"].startswith("HX-Request")
    assert "<!doctype html>" in response.text
    assert '<html lang="zh-CN">' in response.text
    assert '<span class="sync-indicator sync--ok">已同步</span>' in response.text
    assert '<table id="rows">' in response.text
    assert "测试便民服务中心" in response.text


def test_render_partial_for_htmx(client):
    response = client.get("/cases", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "HX-Request" in response.headers["vary"]
    assert response.text.startswith('<table id="rows">')
    assert "<html" not in response.text
    assert "张*三" in response.text and "5101**********1234" in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {"HX-Request": "true", "HX-Boosted": "true"},
        {"HX-Request": "true", "HX-History-Restore-Request": "true"},
        {"HX-Request": "false"},
    ],
)
def test_render_full_page_for_boosted_and_history_requests(client, headers):
    response = client.get("/cases", headers=headers)
    assert "<!doctype html>" in response.text
    assert "HX-Request" in response.headers["vary"]


def test_is_htmx():
    assert is_htmx(Request({"type": "http", "headers": [(b"hx-request", b"true")]}))
    assert not is_htmx(Request({"type": "http", "headers": []}))


def test_base_page_references_vendored_htmx_and_stylesheets(client):
    html = client.get("/cases").text
    htmx_file = assets.vendored_files()["htmx"]
    assert f'<script src="/static/{htmx_file}" defer></script>' in html
    assert re.search(r'<link rel="stylesheet" href="/static/app\.css\?v=[0-9a-f]{12}">', html)
    assert re.search(r'<link rel="stylesheet" href="/static/print\.css\?v=[0-9a-f]{12}" media="print">', html)
    assert '<meta charset="utf-8">' in html
    assert 'name="viewport"' in html
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html).group(1))
    assert config["allowEval"] is False and config["includeIndicatorStyles"] is False
    # The vendored file is served.
    assert client.get(f"/static/{htmx_file}").status_code == 200


def _assert_csp_clean(html: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html.replace('type="application/json"', "")), "inline script"
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.IGNORECASE), "inline event handler"
    assert not re.search(r"\sstyle\s*=", html, flags=re.IGNORECASE), "inline style attribute"
    assert "<style" not in html.lower()
    assert "javascript:" not in html.lower()


def test_rendered_pages_are_csp_clean(client):
    for path in ["/cases", "/form?value=123", "/nope"]:
        _assert_csp_clean(client.get(path).text)


def test_templates_are_csp_clean_and_version_free():
    for template in assets.TEMPLATES_DIR.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        _assert_csp_clean(re.sub(r"\{#.*?#\}", "", text, flags=re.DOTALL))
        assert not re.search(r"(htmx|echarts)-\d", text), f"{template} hard-codes a vendored version"
    for name in ["_form_field.html", "_pagination.html", "_error_message.html"]:
        assert (assets.TEMPLATES_DIR / "partials" / name).is_file()


def test_form_field_shows_error_beside_field(client):
    html = client.get("/form?value=123").text
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="field-id_number-hint field-id_number-error"' in html
    assert '<p class="field-error" id="field-id_number-error">身份证号码应为18位</p>' in html
    assert '<a href="#field-id_number">身份证号码应为18位</a>' in html
    assert 'value="123"' in html
    assert '<option value="乙" selected>乙</option>' in html
    assert 'for="field-remark"' in html


def test_form_field_without_errors(client):
    html = client.get("/form").text
    assert "aria-invalid" not in html
    assert 'aria-describedby="field-id_number-hint"' in html
    assert "error-summary" not in html


def test_form_values_are_escaped(client):
    html = client.get("/form", params={"value": '"><script>alert(1)</script>'}).text
    assert "<script>alert(1)" not in html
    assert "&#34;&gt;&lt;script&gt;" in html


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("510104199001011234", "5101**********1234"),
        ("51010419900101123X", "5101**********123X"),
        (" 510104199001011234 ", "5101**********1234"),
        ("510104900101123", "5101*******1123"),  # 15-digit old ID
        ("12345678", "12****78"),
        ("1234", "1**4"),
        ("123", "***"),
        ("1", "*"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_id(value, expected):
    assert mask_id(value) == expected


@given(st.text(alphabet="0123456789X", max_size=30))
def test_mask_id_always_hides_at_least_a_third(value):
    masked = mask_id(value)
    assert len(masked) == len(value)
    assert masked.count("*") >= len(value) / 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("张三", "张*"),
        ("张小三", "张*三"),
        ("欧阳小明", "欧**明"),
        ("阿卜杜拉·艾买提", "阿******提"),
        ("张", "*"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_name(value, expected):
    assert mask_name(value) == expected


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("123") == "***"
    assert mask_phone(None) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1250, "12.50 元"), (0, "免费"), (5, "0.05 元"), (100, "1.00 元"), (-250, "-2.50 元"), (123456789, "1234567.89 元"), (None, "")],
)
def test_fen_to_yuan(value, expected):
    assert fen_to_yuan(value) == expected


def test_fen_to_yuan_rejects_fractions():
    with pytest.raises(ValueError):
        fen_to_yuan(12.5)


@given(st.integers(min_value=1, max_value=10**12))
def test_fen_to_yuan_round_trip(fen):
    text = fen_to_yuan(fen)
    assert text.endswith(" 元")
    yuan, cents = text[:-2].split(".")
    assert int(yuan) * 100 + int(cents) == fen


def test_zh_datetime():
    assert zh_datetime(dt.datetime(2024, 3, 5, 14, 30, 9)) == "2024年3月5日 14:30"
    assert zh_datetime(dt.datetime(2024, 3, 5, 14, 30, 9), seconds=True) == "2024年3月5日 14:30:09"
    assert zh_datetime(dt.datetime(2024, 3, 5, 22, 0, tzinfo=dt.timezone.utc)) == "2024年3月6日 06:00"
    assert zh_datetime("2024-03-05T06:30:00Z") == "2024年3月5日 14:30"
    assert zh_datetime(dt.date(2024, 10, 1)) == "2024年10月1日"
    assert zh_datetime("2024-10-01") == "2024年10月1日"
    assert zh_datetime(0) == "1970年1月1日 08:00"
    assert zh_datetime(None) == ""
    assert zh_datetime("不是日期") == "不是日期"
    assert zh_date("2024-03-05T23:30:00+00:00") == "2024年3月6日"


# --------------------------------------------------------------------------- body limit


def test_body_limit_streamed_body_gives_chinese_413(app_templates):
    client = TestClient(build_app(app_templates, max_body_size=1000))
    assert client.post("/upload", content=b"x" * 1000).text == "1000"

    def chunks():
        for _ in range(10):
            yield b"x" * 500

    response = client.post("/upload", content=chunks())
    assert response.status_code == 413
    assert "提交内容过大" in response.text
    assert 'lang="zh-CN"' in response.text


def test_body_limit_declared_length_gives_chinese_413(app_templates):
    app = build_app(app_templates, middleware=[Middleware(BodyLimit, max_bytes=1000, templates=app_templates)])
    client = TestClient(app)
    assert client.post("/upload", content=b"x" * 1000).text == "1000"
    response = client.post("/upload", content=b"x" * 1001)
    assert response.status_code == 413
    assert "提交内容过大" in response.text
    # Even where the endpoint never reads the body (405 here), the answer is Chinese.
    assert "提交内容过大" in client.post("/cases", content=b"x" * 5000).text
    api = client.post("/api/upload", content=b"x" * 1001)
    assert api.status_code == 413
    assert api.json()["error"] == "payload_too_large"


def test_body_limit_streamed_through_body_limit_middleware(app_templates):
    app = build_app(app_templates, middleware=[Middleware(BodyLimit, max_bytes=1000, templates=app_templates)])

    def chunks():
        for _ in range(3):
            yield b"x" * 400

    response = TestClient(app).post("/api/upload", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"]["status"] == 413


def test_body_limit_without_templates_is_plain_chinese_text():
    async def endpoint(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", endpoint, methods=["POST"])], middleware=[Middleware(BodyLimit, max_bytes=10)])
    response = TestClient(app).post("/", content=b"x" * 11)
    assert response.status_code == 413
    assert "提交内容过大" in response.text


# --------------------------------------------------------------------------- error handlers


def test_404_is_chinese_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "页面不存在" in response.text
    assert "错误代码 404" in response.text
    assert 'href="/"' in response.text
    assert "Not Found" not in response.text


def test_404_is_json_for_api(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "title": "页面不存在", "detail": ERROR_404_DETAIL}}


ERROR_404_DETAIL = "您访问的页面不存在或已被移除，请检查地址是否正确。"


def test_404_is_json_when_accept_json(client):
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.json()["error"]["status"] == 404


def test_405_is_chinese_and_keeps_allow_header(client):
    response = client.post("/cases")
    assert response.status_code == 405
    assert "操作方式不正确" in response.text
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_http_exception_chinese_detail_is_shown(client):
    response = client.get("/forbidden")
    assert response.status_code == 403
    assert "该办件不属于本中心" in response.text
    assert "无权访问" in response.text


def test_back_link_to_same_origin_referer(client):
    response = client.get("/no-such-page", headers={"Referer": "http://testserver/cases?page=2"})
    assert 'href="/cases?page=2"' in response.text
    response = client.get("/no-such-page", headers={"Referer": "http://evil.example/phish"})
    assert "evil.example" not in response.text


def test_htmx_error_is_a_fragment_retargeted_to_messages(client):
    response = client.get("/forbidden", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response.headers["hx-retarget"] == "#messages"
    assert "<html" not in response.text
    assert "该办件不属于本中心" in response.text


def test_500_is_chinese_without_traceback_and_logged(app_templates, caplog):
    client = TestClient(build_app(app_templates), raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="web.errors"):
        response = client.get("/crash")
    assert response.status_code == 500
    assert "系统内部错误" in response.text
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    records = [r for r in caplog.records if r.name == "web.errors"]
    assert records and records[0].exc_info is not None
    assert "secret internal detail" in caplog.text


def test_validation_errors():
    errors = ValidationErrors({"name": "请填写姓名"})
    assert errors and "name" in errors and len(errors) == 1
    errors.add("name", "姓名过长")
    errors.add_form("材料不齐全")
    assert errors.get("name") == "请填写姓名"
    assert errors.all("name") == ["请填写姓名", "姓名过长"]
    assert errors.get("id_number") is None
    assert errors.form_messages == ["材料不齐全"]
    assert errors.field_items() == [("name", "请填写姓名")]
    assert not ValidationErrors()


# --------------------------------------------------------------------------- pagination


def test_pagination():
    pager = Pagination.from_query("7", total=200, per_page=20)
    assert (pager.page, pager.pages, pager.offset, pager.limit) == (7, 10, 120, 20)
    assert pager.window() == [1, None, 5, 6, 7, 8, 9, 10]
    assert Pagination.from_query("abc", total=5).page == 1
    assert Pagination.from_query("99", total=45, per_page=20).page == 3
    assert Pagination.from_query(None, total=0).pages == 1


# --------------------------------------------------------------------------- vendored assets


def test_vendored_checksums_match():
    manifest = json.loads(assets.VENDORED_MANIFEST.read_text(encoding="utf-8"))
    names = {entry["name"] for entry in manifest["assets"]}
    assert {"htmx", "echarts"} <= names
    for entry in manifest["assets"]:
        path = assets.VENDOR_DIR / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], entry["file"]
        assert entry["file"] == f"{entry['name']}-{entry['version']}.min.js"
        assert entry["source"].endswith(f"@{entry['version']}")
    assert assets.verify_vendored() == []


def test_vendored_major_versions_are_pinned():
    vendored = assets.load_vendored()
    assert vendored["htmx"].version.startswith("2.")
    assert vendored["htmx"].source.startswith("htmx.org@")
    assert vendored["echarts"].version.startswith("5.")


def test_verify_vendored_detects_tampering(tmp_path):
    manifest = json.loads(assets.VENDORED_MANIFEST.read_text(encoding="utf-8"))
    entry = manifest["assets"][0]
    (tmp_path / entry["file"]).write_bytes(b"tampered")
    (tmp_path / "VENDORED.json").write_text(json.dumps({"assets": [entry]}), encoding="utf-8")
    problems = assets.verify_vendored(tmp_path / "VENDORED.json")
    assert len(problems) == 1 and "sha256" in problems[0]


def test_vendor_global_refuses_unknown_names(app_templates):
    vendor = app_templates.env.globals["vendor"]
    assert vendor("echarts") == "/static/" + assets.vendored_files()["echarts"]
    with pytest.raises(LookupError):
        vendor("jquery")


def test_stylesheets_use_system_fonts_only():
    for name in ["app.css", "print.css"]:
        css = (assets.STATIC_DIR / name).read_text(encoding="utf-8")
        assert "@font-face" not in css and "@import" not in css and "url(" not in css
    print_css = (assets.STATIC_DIR / "print.css").read_text(encoding="utf-8")
    assert re.search(r"@page\s*\{[^}]*size:\s*A4;[^}]*margin:\s*20mm;", print_css)
    app_css = (assets.STATIC_DIR / "app.css").read_text(encoding="utf-8")
    for badge in ["ok", "warning", "yellow", "red", "overdue", "newly-overdue"]:
        assert f".badge--{badge} " in app_css
    assert ".field-error" in app_css and ":focus-visible" in app_css


# --------------------------------------------------------------------------- strict input


@given(st.text(max_size=25))
def test_to_int_accepts_only_bounded_ascii_digits(text):
    value = to_int(text, lo=0, hi=10 ** 9, max_digits=10)
    if value is not None:
        assert text.isascii() and text.isdigit() and int(text) == value <= 10 ** 9
    else:
        assert not (text.isascii() and text.isdigit() and 1 <= len(text) <= 10
                    and int(text) <= 10 ** 9)


def test_parse_int_refuses_unicode_digits_with_a_400_naming_the_field():
    for raw in ("²", "١٢", "𝟙", " 7", "7 ", "+7", "-7", "1_000", "1e3", "9" * 19):
        with pytest.raises(InputError) as caught:
            parse_int(raw, "age", "预警天数")
        assert caught.value.status_code == 400
        assert "预警天数" in caught.value.detail and "age" in caught.value.detail
    assert parse_int("007", "age", "预警天数") == 7
    assert parse_int(None, "age", "预警天数", default=3) == 3
    assert parse_int("", "age", "预警天数") is None
    with pytest.raises(InputError):
        parse_int("", "age", "预警天数", required=True)
    with pytest.raises(InputError):
        parse_int("2101", "year", "年度", lo=2000, hi=2100)


def test_same_secret_and_loads_json_never_raise_on_hostile_text():
    assert same_secret("ABC123", "ABC123")
    assert not same_secret("é", "ABC123") and not same_secret("\udcff", "x")
    assert not same_secret(None, "x")
    assert loads_json(b'{"a": [1, {"b": "[[[["}]}') == {"a": [1, {"b": "[[[["}]}
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 65 + b"1" + b"}" * 65,
                 b"\xff", b"{"):
        with pytest.raises(InputError):
            loads_json(body)
    assert loads_json(b"[" * 64 + b"]" * 64) is not None

