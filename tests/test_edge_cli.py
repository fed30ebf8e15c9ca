"""The edge-node command line (click.testing.CliRunner)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edge_node.cli import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def data_dir(tmp_path, runner):
    path = tmp_path / "node"
    result = runner.invoke(main, ["init", str(path), "--code", "CLI01", "--name", "青山镇便民服务中心",
                                  "--admin-password", "lantern-ridge-41"])
    assert result.exit_code == 0, result.output
    return path


@pytest.mark.parametrize("command", [[], ["init"], ["serve"], ["status"], ["reset-password"],
                                     ["simulate"]])
def test_help(runner, command):
    result = runner.invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_init_prints_a_generated_password_once(tmp_path, runner):
    path = tmp_path / "n"
    result = runner.invoke(main, ["init", str(path), "--code", "N1", "--name", "某镇"])
    assert result.exit_code == 0
    assert "初始密码" in result.output
    assert (path / "node.key").stat().st_mode & 0o777 == 0o600
    assert json.loads((path / "node.json").read_text("utf-8"))["code"] == "N1"
    again = runner.invoke(main, ["init", str(path), "--code", "N1", "--name", "某镇"])
    assert again.exit_code == 1
    assert again.output.strip().count("\n") == 0 and "已有节点" in again.output
    assert "Traceback" not in again.output


def test_init_refuses_bad_code(tmp_path, runner):
    result = runner.invoke(main, ["init", str(tmp_path / "x"), "--code", "青山", "--name", "x"])
    assert result.exit_code == 1 and "节点编码" in result.output


def test_status_json_and_text(data_dir, runner):
    result = runner.invoke(main, ["status", str(data_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["chain"]["verifies"] is True
    assert report["events"]["total"] == report["events"]["unacked"] == 4
    assert report["chain"]["head_seq"] == 4
    text = runner.invoke(main, ["status", str(data_dir), "--full"])
    assert "链校验：通过" in text.output


def test_status_of_a_missing_dir(tmp_path, runner):
    result = runner.invoke(main, ["status", str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "edge-node init" in result.output


def test_reset_password(data_dir, runner):
    from edge_node.accounts import users
    from edge_node.node import open_data_dir

    result = runner.invoke(main, ["reset-password", str(data_dir), "admin"])
    assert result.exit_code == 0 and "新密码" in result.output
    new = result.output.strip().rsplit("：", 1)[1]
    node = open_data_dir(data_dir)
    try:
        assert users.authenticate(node, "admin", new) is not None
        assert users.authenticate(node, "admin", "lantern-ridge-41") is None
    finally:
        node.close()
    missing = runner.invoke(main, ["reset-password", str(data_dir), "nobody"])
    assert missing.exit_code == 1 and "不存在" in missing.output
    short = runner.invoke(main, ["reset-password", str(data_dir), "admin", "--password", "x"])
    assert short.exit_code == 1 and "至少 12 个字符" in short.output


def test_simulate_then_chain_verifies(data_dir, runner):
    result = runner.invoke(main, ["simulate", str(data_dir), "--cases", "300", "--start",
                                  "2026-03-02", "--days", "30", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "模拟完成：300 件" in result.output
    report = json.loads(runner.invoke(main, ["status", str(data_dir), "--json", "--full"]).output)
    assert report["cases"]["total"] == 300
    assert report["chain"]["verifies"] is True
    by_state = report["cases"]["by_state"]
    for state in ("delivered", "refused", "withdrawn", "accepted"):
        assert by_state.get(state, 0) > 0, by_state
    assert report["cases"]["overdue"] > 0
    from edge_node.node import open_data_dir

    node = open_data_dir(data_dir)
    try:
        types = node.store.event_types()
    finally:
        node.close()
    for t in ("case.supplement_requested", "case.resubmitted", "case.suspended",
              "case.resumed", "case.extended", "fee.charged", "case.delivered"):
        assert types.get(t, 0) > 0, (t, types)


def test_status_detects_tampering(data_dir, runner):
    import sqlite3

    conn = sqlite3.connect(data_dir / "node.db")
    conn.execute("UPDATE events SET canonical = CAST(replace(canonical, '系统管理员', '管理员甲') AS BLOB) "
                 "WHERE type = 'user.created'")
    conn.commit()
    conn.close()
    result = runner.invoke(main, ["status", str(data_dir), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output)["chain"]["verifies"] is False
