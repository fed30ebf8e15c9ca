"""Sign-in hardening on both apps: server-side sessions (logout, idle timeout, lifetime,
password reset), the dummy hash for unknown users, the shared password rules,
``Retry-After`` on 429 answers, and the hub's TOTP second factor. All through HTTP (and
the CLIs), with the settable clock of tests/conftest.py."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from central_hub.accounts import create_account
from central_hub.app import create_app as create_hub_app
from central_hub.bootstrap import init_hub
from central_hub.cli import main as hub_main
from central_hub.config import HubConfig
from edge_node.app import create_app as create_node_app
from edge_node.cli import main as node_main
from web import passwords, security, totp

from conftest import EDGE_ADMIN_PASSWORD, EDGE_STAFF_PASSWORD

HUB_PASSWORD = "county-river-lamp-58"
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: TestClient, path: str = "/login") -> str:
    match = _CSRF_RE.search(client.get(path).text)
    assert match, path
    return match.group(1)


# --------------------------------------------------------------------------- hub helpers


class Hub:
    def __init__(self, path, clock, **overrides):
        result = init_hub(path, "test-hub", publish_samples=False)
        self.admin_password = result.admin_password
        self.admin_passwords = dict(result.admins.values())    # admin, secadmin, auditadmin
        self.config = HubConfig.load(path, background_jobs=False, clock=clock, **overrides)
        self.app = create_hub_app(self.config)
        self.ctx = self.app.state.hub
        self.store = self.ctx.store
        for username, role in (("super", "supervisor"), ("viewer", "viewer")):
            create_account(self.store, self.config.now_ts(), username=username,
                           password=HUB_PASSWORD, role=role)

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def login(self, client: TestClient, username: str, password: str | None = None):
        password = password or self.admin_passwords.get(username, HUB_PASSWORD)
        return client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf(client)})

    def signed_in(self, username: str) -> TestClient:
        client = self.client()
        assert self.login(client, username).headers["location"] == "/"
        return client


@pytest.fixture
def hub(tmp_path, settable_clock):
    hub = Hub(tmp_path / "hub", settable_clock)
    yield hub
    hub.ctx.close()


def replay(app, cookie_name: str, cookie: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(cookie_name, cookie)
    return client


# --------------------------------------------------------------------------- hub: sessions


def test_hub_logout_ends_the_session_on_the_server(hub):
    client = hub.signed_in("viewer")
    copied = client.cookies.get("hub_session")
    assert client.get("/").status_code == 200
    token = csrf(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    thief = replay(hub.app, "hub_session", copied)
    answer = thief.get("/")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert thief.post("/logout", data={"csrf_token": token}).status_code == 303
    assert thief.get("/cases", headers={"accept": "application/json"}).status_code == 401


def test_hub_other_sessions_survive_a_logout(hub):
    first, second = hub.signed_in("viewer"), hub.signed_in("viewer")
    first.post("/logout", data={"csrf_token": csrf(first, "/")})
    assert second.get("/").status_code == 200


def test_hub_idle_timeout_and_lifetime(hub, settable_clock):
    client = hub.signed_in("viewer")
    settable_clock.advance(minutes=29)
    assert client.get("/").status_code == 200          # 29 min idle: still signed in
    settable_clock.advance(minutes=29)
    assert client.get("/").status_code == 200          # the last request reset the idle clock
    settable_clock.advance(minutes=31)
    assert client.get("/").headers["location"] == "/login"
    # busy all day: the absolute lifetime (12 h) ends it anyway
    client = hub.signed_in("viewer")
    for _ in range(35):                                 # 35 x 20 min = 11 h 40 min
        settable_clock.advance(minutes=20)
        assert client.get("/").status_code == 200
    settable_clock.advance(minutes=20)                  # 12 h since sign-in
    assert client.get("/").headers["location"] == "/login"


def test_hub_session_limits_are_configurable(tmp_path, settable_clock):
    hub = Hub(tmp_path / "hub", settable_clock, session_idle_seconds=300,
              session_lifetime_seconds=3600)
    try:
        client = hub.signed_in("viewer")
        settable_clock.advance(minutes=6)
        assert client.get("/").headers["location"] == "/login"
        client = hub.signed_in("viewer")
        for _ in range(14):
            settable_clock.advance(minutes=4)
            assert client.get("/").status_code == 200
        settable_clock.advance(minutes=4)
        assert client.get("/").headers["location"] == "/login"
    finally:
        hub.ctx.close()


def test_hub_last_seen_is_written_at_most_once_a_minute(hub, settable_clock):
    client = hub.signed_in("viewer")

    def last_seen():
        return hub.store.conn.execute("SELECT last_seen FROM sessions").fetchone()[0]

    start = last_seen()
    settable_clock.advance(seconds=30)
    client.get("/")
    client.get("/cases")
    assert last_seen() == start
    settable_clock.advance(seconds=31)
    client.get("/")
    assert last_seen() == start + 61


def test_hub_password_change_still_ends_the_other_sessions(hub):
    victim = hub.signed_in("viewer")
    admin = hub.signed_in("secadmin")
    answer = admin.post("/admin/accounts/viewer/password",
                        data={"password": "another-river-lamp-77",
                              "csrf_token": csrf(admin, "/admin/accounts/viewer")})
    assert answer.status_code == 303
    assert victim.get("/").headers["location"] == "/login"


# --------------------------------------------------------------------------- hub: login


def count_scrypt(monkeypatch) -> list:
    calls = []
    real = security._scrypt

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(security, "_scrypt", spy)
    return calls


def test_hub_unknown_user_costs_a_scrypt_too(hub, monkeypatch):
    client = hub.client()
    token = csrf(client)
    calls = count_scrypt(monkeypatch)
    answer = client.post("/login", data={"username": "nobody", "password": "guess-one-two",
                                         "csrf_token": token})
    assert answer.status_code == 401 and calls == ["guess-one-two"]
    answer = client.post("/login", data={"username": "viewer", "password": "guess-one-two",
                                         "csrf_token": token})
    assert answer.status_code == 401 and len(calls) == 2


def test_hub_login_throttle_answers_retry_after(hub):
    client = hub.client()
    token = csrf(client)
    for _ in range(5):
        client.post("/login", data={"username": "viewer", "password": "wrong-wrong-1",
                                    "csrf_token": token})
    answer = client.post("/login", data={"username": "viewer", "password": HUB_PASSWORD,
                                         "csrf_token": token})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1


def test_hub_enrol_rate_limit_answers_retry_after(hub):
    client = hub.client()
    statuses = [client.post("/sync/v1/enroll", json={}) for _ in range(12)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited and all(int(r.headers["retry-after"]) >= 1 for r in limited)


@pytest.mark.parametrize("password,message", [
    ("short-1A!", "至少 12 个字符"),
    ("password1234", "太容易被猜中"),
    ("qwertyuiop123", "太容易被猜中"),
    ("newclerk-river-77", "不能包含用户名"),
])
def test_hub_password_rules_on_account_forms(hub, password, message):
    admin = hub.signed_in("secadmin")
    answer = admin.post("/admin/accounts", data={
        "username": "newclerk", "display_name": "新同事", "role": "viewer", "org_unit": "",
        "password": password, "csrf_token": csrf(admin, "/admin/accounts")})
    assert answer.status_code == 422 and message in answer.text
    assert hub.store.account("newclerk") is None
    answer = admin.post("/admin/accounts/viewer/password", data={
        "password": password.replace("newclerk", "viewer"),
        "csrf_token": csrf(admin, "/admin/accounts/viewer")})
    assert answer.status_code == 422 and message in answer.text


def test_hub_cli_password_rules(hub, tmp_path):
    runner = CliRunner()
    data_dir = str(tmp_path / "hub")
    weak = runner.invoke(hub_main, ["user", "add", data_dir, "clerk9", "--role", "viewer",
                                    "--password", "password1234"])
    assert weak.exit_code != 0 and "太容易被猜中" in weak.output
    weak = runner.invoke(hub_main, ["user", "passwd", data_dir, "viewer", "--password",
                                    "viewer-2026-lamp"])
    assert weak.exit_code != 0 and "不能包含用户名" in weak.output
    good = runner.invoke(hub_main, ["user", "passwd", data_dir, "viewer", "--password",
                                    "granite-otter-4412"])
    assert good.exit_code == 0, good.output


def test_generated_passwords_pass_the_rules(tmp_path):
    result = init_hub(tmp_path / "h", "x", publish_samples=False)
    assert passwords.password_problem(result.admin_password, username="admin") is None
    for _ in range(20):
        assert passwords.password_problem(passwords.generate_password(username="clerk"), username="clerk") is None


# --------------------------------------------------------------------------- hub: TOTP


def enrol(hub, client, username, clock) -> str:
    page = client.get("/account/totp")
    assert page.status_code == 200 and "<svg" in page.text
    secret = hub.store.totp(username)[1]
    assert totp.grouped(secret) in page.text
    token = csrf(client, "/account/totp")
    wrong = client.post("/account/totp", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 422 and "验证码" in wrong.text
    code = totp.code_at(secret, clock().timestamp())
    assert client.post("/account/totp", data={"code": code,
                                              "csrf_token": token}).status_code == 303
    assert hub.store.account(username).totp_enabled
    return secret


def test_hub_totp_enrol_then_sign_in_in_two_steps(hub, settable_clock):
    client = hub.signed_in("super")
    secret = enrol(hub, client, "super", settable_clock)
    now = settable_clock().timestamp()
    client.post("/logout", data={"csrf_token": csrf(client, "/")})

    client = hub.client()
    answer = hub.login(client, "super")
    assert answer.headers["location"] == "/login/totp"
    assert client.get("/").headers["location"] == "/login"        # not signed in yet
    token = csrf(client, "/login/totp")
    # the code used for enrolment is spent: replaying it is refused
    replayed = client.post("/login/totp", data={"code": totp.code_at(secret, now),
                                                "csrf_token": token})
    assert replayed.status_code == 401 and "已使用" in replayed.text
    settable_clock.advance(seconds=30)
    code = totp.code_at(secret, settable_clock().timestamp())
    answer = client.post("/login/totp", data={"code": code[:3] + " " + code[3:],
                                              "csrf_token": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert client.get("/").status_code == 200
    # the same code once more, in a new sign-in within its window: refused
    other = hub.client()
    hub.login(other, "super")
    again = other.post("/login/totp", data={"code": code,
                                            "csrf_token": csrf(other, "/login/totp")})
    assert again.status_code == 401
    assert other.get("/").headers["location"] == "/login"


def test_hub_totp_wrong_codes_are_throttled(hub, settable_clock):
    enrol(hub, hub.signed_in("super"), "super", settable_clock)
    client = hub.client()
    hub.login(client, "super")
    token = csrf(client, "/login/totp")
    for _ in range(5):
        assert client.post("/login/totp", data={"code": "123456",
                                                "csrf_token": token}).status_code == 401
    answer = client.post("/login/totp", data={"code": "123456", "csrf_token": token})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1


def test_hub_totp_pending_step_expires(hub, settable_clock):
    secret = enrol(hub, hub.signed_in("super"), "super", settable_clock)
    client = hub.client()
    hub.login(client, "super")
    token = csrf(client, "/login/totp")
    settable_clock.advance(minutes=6)
    code = totp.code_at(secret, settable_clock().timestamp())
    answer = client.post("/login/totp", data={"code": code, "csrf_token": token})
    assert answer.headers["location"] == "/login"
    assert client.get("/").headers["location"] == "/login"


def test_hub_totp_is_for_admins_and_supervisors(hub):
    viewer = hub.signed_in("viewer")
    assert viewer.get("/account/totp").status_code == 403
    assert hub.client().get("/account/totp").headers["location"] == "/login"


def test_hub_can_require_totp_of_administrators(tmp_path, settable_clock):
    hub = Hub(tmp_path / "hub", settable_clock, require_totp_for_admins=True)
    try:
        admin = hub.signed_in("secadmin")
        assert admin.get("/").headers["location"] == "/account/totp"
        assert admin.get("/admin/accounts").headers["location"] == "/account/totp"
        refused = admin.post("/admin/accounts", data={
            "username": "x1", "role": "viewer", "password": "granite-otter-4412",
            "csrf_token": csrf(admin, "/account/totp")})
        assert refused.status_code == 403
        assert hub.store.account("x1") is None
        assert hub.signed_in("super").get("/").status_code == 200   # not an admin role
        enrol(hub, admin, "secadmin", settable_clock)
        assert admin.get("/admin/accounts").status_code == 200
    finally:
        hub.ctx.close()


def test_hub_cli_reset_totp(hub, settable_clock, tmp_path):
    client = hub.signed_in("super")
    enrol(hub, client, "super", settable_clock)
    result = CliRunner().invoke(hub_main, ["user", "reset-totp", str(tmp_path / "hub"),
                                           "super"])
    assert result.exit_code == 0, result.output
    assert client.get("/").headers["location"] == "/login"          # its sessions ended
    assert hub.login(hub.client(), "super").headers["location"] == "/"


# --------------------------------------------------------------------------- node


@pytest.fixture
def node_app(edge_node, edge_staff):
    return create_node_app(edge_node.config, node=edge_node)


def node_client(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


def node_sign_in(app, username: str, password: str | None = None) -> TestClient:
    client = node_client(app)
    password = password or (EDGE_ADMIN_PASSWORD if username == "admin" else EDGE_STAFF_PASSWORD)
    answer = client.post("/login", data={"username": username, "password": password,
                                         "csrf_token": csrf(client)})
    assert answer.status_code == 303, answer.text
    return client


def refused(client: TestClient) -> bool:
    answer = client.get("/")
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_node_logout_ends_the_session_on_the_server(node_app):
    client = node_sign_in(node_app, "clerk")
    copied = client.cookies.get("node_session")
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf(client, "/")}).status_code == 303
    assert refused(replay(node_app, "node_session", copied))


def test_node_api_logout_ends_the_session_on_the_server(node_app):
    client = node_client(node_app)
    token = client.post("/api/login", json={"username": "clerk",
                                            "password": EDGE_STAFF_PASSWORD}).json()["csrf_token"]
    copied = client.cookies.get("node_session")
    assert client.get("/api/cases/NOPE-1").status_code == 404          # signed in
    assert client.post("/api/logout", headers={"X-CSRF-Token": token}).status_code == 200
    thief = replay(node_app, "node_session", copied)
    assert thief.get("/api/cases/NOPE-1").status_code == 401


def test_node_admin_password_reset_ends_the_users_sessions(node_app, edge_node):
    clerk = node_sign_in(node_app, "clerk")
    other = node_sign_in(node_app, "handler")
    admin = node_sign_in(node_app, "admin")
    user_id = edge_node.store.user_by_username("clerk")["id"]
    answer = admin.post(f"/admin/users/{user_id}/password",
                        data={"password": "", "csrf_token": csrf(admin, "/admin/users")})
    assert answer.status_code == 200
    assert refused(clerk)
    assert other.get("/").status_code == 200                        # only that user's


def test_node_cli_password_reset_ends_the_users_sessions(node_app, edge_node):
    clerk = node_sign_in(node_app, "clerk")
    result = CliRunner().invoke(node_main, ["reset-password", str(edge_node.config.data_dir),
                                            "clerk", "--password", "granite-otter-4412"])
    assert result.exit_code == 0, result.output
    assert refused(clerk)
    assert node_sign_in(node_app, "clerk", "granite-otter-4412").get("/").status_code == 200


def test_node_idle_timeout_and_lifetime(node_app, settable_clock):
    client = node_sign_in(node_app, "clerk")
    settable_clock.advance(minutes=29)
    assert client.get("/").status_code == 200
    settable_clock.advance(minutes=31)
    assert refused(client)
    client = node_sign_in(node_app, "clerk")
    for _ in range(35):
        settable_clock.advance(minutes=20)
        assert client.get("/").status_code == 200
    settable_clock.advance(minutes=20)
    assert refused(client)


def test_node_session_limits_come_from_settings(edge_node, edge_staff, settable_clock):
    config = edge_node.config.__class__(**{**edge_node.config.__dict__,
                                           "session_idle_seconds": 120})
    app = create_node_app(config, node=edge_node)
    client = node_sign_in(app, "clerk")
    settable_clock.advance(minutes=3)
    assert refused(client)


def test_node_unknown_user_costs_a_scrypt_too(node_app, monkeypatch):
    client = node_client(node_app)
    calls = count_scrypt(monkeypatch)
    answer = client.post("/api/login", json={"username": "nobody", "password": "guess-one-two"})
    assert answer.status_code == 403 and calls == ["guess-one-two"]


def test_node_login_throttle_answers_retry_after(node_app):
    client = node_client(node_app)
    token = csrf(client)
    for _ in range(5):
        client.post("/login", data={"username": "clerk", "password": "wrong-wrong-1",
                                    "csrf_token": token})
    answer = client.post("/login", data={"username": "clerk", "password": "x",
                                         "csrf_token": token})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1


@pytest.mark.parametrize("password,message", [
    ("short-1A!", "至少 12 个字符"),
    ("password1234", "太容易被猜中"),
    ("newclerk-river-77", "不能包含用户名"),
])
def test_node_password_rules_on_the_accounts_page(node_app, edge_node, password, message):
    admin = node_sign_in(node_app, "admin")
    answer = admin.post("/admin/users", data={
        "username": "newclerk", "name": "新同事", "roles": "clerk", "password": password,
        "csrf_token": csrf(admin, "/admin/users")})
    assert answer.status_code == 422 and message in answer.text
    assert edge_node.store.user_by_username("newclerk") is None
    user_id = edge_node.store.user_by_username("clerk")["id"]
    answer = admin.post(f"/admin/users/{user_id}/password", data={
        "password": password.replace("newclerk", "clerk"),
        "csrf_token": csrf(admin, "/admin/users")})
    assert answer.status_code == 422 and message in answer.text


def test_node_init_refuses_a_weak_admin_password(tmp_path):
    result = CliRunner().invoke(node_main, ["init", str(tmp_path / "n"), "--code", "XZ-009",
                                            "--name", "某镇", "--admin-password",
                                            "admin12345678"])
    assert result.exit_code != 0 and "不能包含用户名" in result.output
    result = CliRunner().invoke(node_main, ["init", str(tmp_path / "m"), "--code", "XZ-009",
                                            "--name", "某镇"])
    assert result.exit_code == 0, result.output
    printed = re.search(r"初始密码：(\S+?)（", result.output).group(1)
    assert passwords.password_problem(printed, username="admin") is None


# --------------------------------------------------------------------------- session ended: told why


TIMED_OUT = "登录已超时（超过 30 分钟未操作或登录时间过长），请重新登录"


def test_hub_login_page_says_the_session_timed_out(hub, settable_clock):
    client = hub.signed_in("viewer")
    settable_clock.advance(minutes=31)
    answer = client.get("/cases")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    page = client.get("/login").text
    assert TIMED_OUT in page and page.count(TIMED_OUT) == 1
    assert TIMED_OUT not in client.get("/login").text           # said once, not every time
    # a form posted after the timeout: the refusal itself says why
    client = hub.signed_in("viewer")
    token = csrf(client, "/")
    settable_clock.advance(minutes=31)
    answer = client.post("/notices", data={"csrf_token": token})
    assert answer.status_code == 401 and answer.text.count(TIMED_OUT) == 1
    assert TIMED_OUT not in client.get("/login").text


def test_hub_login_page_says_the_session_was_ended(hub):
    client = hub.signed_in("viewer")
    admin = hub.signed_in("secadmin")
    admin.post("/admin/accounts/viewer/password",
               data={"password": "another-river-lamp-77", "csrf_token": csrf(admin, "/")})
    assert client.get("/").headers["location"] == "/login"
    assert "登录已失效" in client.get("/login").text


def test_hub_logout_says_so(hub):
    client = hub.signed_in("viewer")
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    page = client.get("/login").text
    assert "已退出登录" in page and "登录已超时" not in page and "登录已失效" not in page


def test_node_login_page_says_the_session_timed_out(node_app, settable_clock):
    client = node_sign_in(node_app, "clerk")
    settable_clock.advance(minutes=31)
    assert refused(client)
    page = client.get("/login").text
    assert page.count(TIMED_OUT) == 1
    assert TIMED_OUT not in client.get("/login").text
    client = node_sign_in(node_app, "clerk")
    settable_clock.advance(minutes=31)
    answer = client.get("/api/cases/NO-SUCH")
    assert answer.status_code == 401 and answer.json()["error"]["detail"] == TIMED_OUT


def test_node_login_page_says_the_session_was_ended(node_app, edge_node):
    client = node_sign_in(node_app, "clerk")
    result = CliRunner().invoke(node_main, ["reset-password", str(edge_node.config.data_dir),
                                            "clerk", "--password", "another-river-lamp-77"])
    assert result.exit_code == 0, result.output
    assert refused(client)
    page = client.get("/login").text
    assert "登录已失效" in page and "登录已超时" not in page


def test_hub_screens_name_roles_duties_and_audit_actions_in_chinese(hub):
    admin = hub.signed_in("secadmin")
    page = admin.get("/admin/accounts").text
    assert "安全管理员（账号、角色、密码、会话与接口令牌）" in page
    assert "审计管理员（查阅和导出审计日志）" in page and "至少 12 个字符" in page
    assert "至少 10 个字符" not in page
    auditor = hub.signed_in("auditadmin")
    page = auditor.get("/audit").text
    # the action by its Chinese name (code beside it), the person by name
    assert "登录<br><span class=\"muted\"><code>login</code>" in page
    assert "安全管理员<br><span class=\"muted\">secadmin" in page


def test_hub_totp_code_error_is_beside_its_field(hub):
    client = hub.signed_in("super")
    token = csrf(client, "/account/totp")
    page = client.post("/account/totp", data={"code": "000000", "csrf_token": token}).text
    assert 'id="field-code-error"' in page and "验证码：不正确" in page
