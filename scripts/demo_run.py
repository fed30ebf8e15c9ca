"""Orchestrates scripts/demo: builds ./demo-data once, then serves hub and nodes.

Every step goes through the two command lines (central-hub, edge-node), exactly as an
administrator would type them, so the demo also shows how the system is set up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
DATA = ROOT / "demo-data"
HOST = "127.0.0.1"
HUB_PORT = 8700
NODES = [("XZ-001", "青岚镇便民服务中心", 8701), ("XZ-002", "白溪乡便民服务中心", 8702),
         ("XZ-003", "龙泉镇便民服务中心", 8703)]
NODE_PASSWORD = "demo-lantern-2026"
# A county department desk is a node too (issue #11): 青岚县民政局's window, which decides the
# 初审 cases townships forward to it (docs/cross-level.md).
COUNTY_NODE = ("XJ-MZ", "青岚县民政局审批窗口", 8704, "510829-MZ")
TOWNSHIP_UNITS = {"XZ-001": "510829100"}
STAFF_PASSWORD = "demo-staff-2026"


def run(*args: str, capture: bool = True) -> str:
    result = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=ROOT, text=True,
                            capture_output=capture)
    if result.returncode != 0:
        sys.exit(f"demo: `{' '.join(args)}` failed:\n{result.stderr or result.stdout}")
    return result.stdout or ""


def has_command(tool: str, command: str) -> bool:
    out = subprocess.run([str(BIN / tool), "--help"], capture_output=True, text=True).stdout
    return re.search(rf"^\s+{re.escape(command)}\s", out, re.M) is not None


def wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"demo: {url} did not answer within {seconds:.0f} s")


def port_free(port: int) -> bool:
    import socket
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def serve(tool: str, data_dir: Path, port: int, log_name: str) -> subprocess.Popen:
    log = open(DATA / "logs" / log_name, "ab")
    return subprocess.Popen([str(BIN / tool), "serve", str(data_dir), "--host", HOST,
                             "--port", str(port)], cwd=ROOT, stdout=log, stderr=log,
                            start_new_session=True)


WINDOW_STAFF = (("demo-window", "窗口人员", ("clerk", "handler")),
                ("demo-head", "中心负责人", ("reviewer", "approver", "head")))


def add_window_staff(data_dir: Path) -> None:
    """Two staff accounts on a township node, so the demo shows the staff screens (the
    administrator manages accounts only and sees no cases)."""
    from edge_node.accounts import users
    from edge_node.node import open_data_dir
    node = open_data_dir(data_dir)
    try:
        admin = node.store.user_by_username("admin")
        for username, name, roles in WINDOW_STAFF:
            if node.store.user_by_username(username) is None:
                users.create_user(node, username, name, roles, STAFF_PASSWORD,
                                  actor={"id": admin["id"], "role": "admin"})
    finally:
        node.close()


def build(cases: int) -> dict:
    """Initialise hub and nodes and simulate the township workload (no network)."""
    if DATA.exists():
        shutil.rmtree(DATA)
    (DATA / "logs").mkdir(parents=True)
    print("· initialising the county hub …")
    out = run("central-hub", "init", str(DATA / "hub"))
    # the three administrators (三权分立): system, security and audit
    admins = re.findall(r"^(\w+) user: (\S+)\s+password: (\S+)", out, re.M)
    logins = {"hub": {"admins": [{"role": r, "username": u, "password": p}
                                 for r, u, p in admins]},
              "nodes": {}}
    for i, (code, name, _port) in enumerate(NODES, 1):
        print(f"· initialising {name} ({code}) and simulating {cases} cases …")
        run("edge-node", "init", str(DATA / code), "--code", code, "--name", name,
            "--admin-password", NODE_PASSWORD)
        run("edge-node", "simulate", str(DATA / code), "--cases", str(cases),
            "--seed", str(i), "--quiet")
        add_window_staff(DATA / code)
        token = run("central-hub", "enroll-token", str(DATA / "hub"), "--node", code,
                    "--name", name).strip().splitlines()[-1]
        logins["nodes"][code] = {"username": "admin", "password": NODE_PASSWORD,
                                 "token": token, "enrolled": False}
    code, name, _port, _unit = COUNTY_NODE
    print(f"· initialising the county desk {name} ({code}) …")
    run("edge-node", "init", str(DATA / code), "--code", code, "--name", name,
        "--admin-password", NODE_PASSWORD)
    token = run("central-hub", "enroll-token", str(DATA / "hub"), "--node", code,
                "--name", name).strip().splitlines()[-1]
    logins["nodes"][code] = {"username": "admin", "password": NODE_PASSWORD,
                             "token": token, "enrolled": False}
    (DATA / "logins.json").write_text(json.dumps(logins, ensure_ascii=False, indent=1))
    return logins


def crosslevel_story(hub_url: str) -> str:
    """Item 6 of issue #11: XZ-001 forwards a 初审 case (最低生活保障对象认定) to the county
    department node XJ-MZ, which decides; the result returns and XZ-001 delivers. The
    window work is done with the nodes' domain functions (what the screens call); every
    move between the nodes goes through `edge-node sync` and the hub's inboxes."""
    from edge_node.cases import inbox
    from edge_node.cases import handling as cases
    from edge_node.accounts import users
    from edge_node.node import open_data_dir

    town_code, county_code = "XZ-001", COUNTY_NODE[0]

    def staff(node) -> dict:
        admin = node.store.user_by_username("admin")
        out = {}
        for role in ("clerk", "handler", "reviewer", "approver"):
            name = f"demo-{role}"
            user = node.store.user_by_username(name) or users.create_user(
                node, name, f"演示{role}", (role,), STAFF_PASSWORD,
                actor={"id": admin["id"], "role": "admin"})
            out[role] = {"id": user["id"], "role": role}
        return out

    def sync(code: str) -> None:
        run("edge-node", "sync", str(DATA / code))

    town = open_data_dir(DATA / town_code)
    try:
        t = staff(town)
        state = cases.intake(town, t["clerk"], item_code="MZ-QR-0001", applicant={
            "kind": "person", "name": "李秀兰", "id_type": "resident_id",
            "id_no": "11010519491231002X", "phone": "13800138000"},
            materials=["M1", "M2", "M3", "M4", "M5", "M7"], outcome="accept")
        no = state["case"]
        cases.complete_step(town, t["handler"], no, opinion="入户调查：家庭收入低于标准，情况属实")
        cases.complete_step(town, t["reviewer"], no, opinion="乡镇审核同意，报县民政局审批")
        inbox.forward_case(town, t["reviewer"], no, opinion="初审符合条件，同意上报",
                           to=county_code)
    finally:
        town.close()
    print(f"  {town_code} forwarded {no} (初审) to {county_code}")
    sync(town_code)
    sync(county_code)
    county = open_data_dir(DATA / county_code)
    try:
        c = staff(county)
        [entry] = [e for e in inbox.inbox_entries(county) if e["case"] == no]
        inbox.take_forwarded(county, c["reviewer"], entry["id"])
        cases.complete_step(county, c["reviewer"], no, opinion="县级审核：材料齐全，符合条件")
        cases.decide(county, c["approver"], no, outcome="approve",
                     reason="符合最低生活保障条件，予以确认")
        inbox.return_result(county, c["approver"], no, opinion="审批确认，请乡镇公示并送达")
    finally:
        county.close()
    print(f"  {county_code} took {no}, decided (approve) and returned the result")
    sync(county_code)
    sync(town_code)
    town = open_data_dir(DATA / town_code)
    try:
        t = staff(town)
        [result] = [e for e in inbox.inbox_entries(town) if e["case"] == no]
        inbox.receive_result(town, t["clerk"], result["id"])
        cases.complete_step(town, t["handler"], no, opinion="公示七日无异议")
        cases.complete(town, t["clerk"], no, result="认定为最低生活保障对象")
        cases.deliver(town, t["clerk"], no, recipient="李秀兰")
    finally:
        town.close()
    sync(town_code)
    print(f"  {town_code} received the result and delivered {no} (送达)")
    return no


def main() -> None:
    parser = argparse.ArgumentParser(description="hub + three township nodes on loopback")
    parser.add_argument("--fresh", action="store_true", help="rebuild ./demo-data")
    parser.add_argument("--cases", type=int, default=300, help="simulated cases per node")
    args = parser.parse_args()
    busy = [p for p in (HUB_PORT, COUNTY_NODE[2], *(n[2] for n in NODES)) if not port_free(p)]
    if busy:
        sys.exit(f"demo: port(s) {', '.join(map(str, busy))} on {HOST} are in use (another "
                 "demo still running?); stop it and run scripts/demo again")
    logins_file = DATA / "logins.json"
    logins = build(args.cases) if args.fresh or not logins_file.exists() \
        else json.loads(logins_file.read_text())
    (DATA / "logs").mkdir(parents=True, exist_ok=True)

    children: list[subprocess.Popen] = []

    def stop(*_args) -> None:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        print("\ndemo stopped.")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    hub_url = f"http://{HOST}:{HUB_PORT}"
    children.append(serve("central-hub", DATA / "hub", HUB_PORT, "hub.log"))
    wait_http(hub_url + "/sync/v1/keys")

    can_sync = has_command("edge-node", "enroll") and has_command("edge-node", "sync")
    for code, name, _port in NODES:
        node = logins["nodes"][code]
        if not can_sync:
            continue
        if not node.get("enrolled"):
            print(f"· enrolling {name} with the hub …")
            run("edge-node", "enroll", str(DATA / code), "--hub", hub_url,
                "--token", node["token"])
            node["enrolled"] = True
            logins_file.write_text(json.dumps(logins, ensure_ascii=False, indent=1))
        print(f"· syncing {name} …")
        run("edge-node", "sync", str(DATA / code))

    county_code, county_name, county_port, county_unit = COUNTY_NODE
    if can_sync and county_code in logins["nodes"]:
        node = logins["nodes"][county_code]
        if not node.get("enrolled"):
            print(f"· enrolling {county_name} with the hub …")
            run("edge-node", "enroll", str(DATA / county_code), "--hub", hub_url,
                "--token", node["token"])
            node["enrolled"] = True
            run("central-hub", "org", "assign-node", str(DATA / "hub"), "--node", county_code,
                "--org-unit", county_unit)
            for code, unit in TOWNSHIP_UNITS.items():
                run("central-hub", "org", "assign-node", str(DATA / "hub"), "--node", code,
                    "--org-unit", unit)
            logins_file.write_text(json.dumps(logins, ensure_ascii=False, indent=1))
        run("edge-node", "sync", str(DATA / county_code))
        if not logins.get("crosslevel_case"):
            print("· cross-level handling (上报 → 县级审批 → 结果回传 → 送达) …")
            logins["crosslevel_case"] = crosslevel_story(hub_url)
            logins_file.write_text(json.dumps(logins, ensure_ascii=False, indent=1))
        children.append(serve("edge-node", DATA / county_code, county_port,
                              f"{county_code}.log"))

    for code, _name, port in NODES:
        children.append(serve("edge-node", DATA / code, port, f"{code}.log"))
    for _code, _name, port in NODES:
        wait_http(f"http://{HOST}:{port}/health")

    hub = logins["hub"]
    print("\n县级平台 county hub (三权分立: one login per administrator)")
    labels = {"system_admin": "系统管理员", "security_admin": "安全管理员",
              "audit_admin": "审计管理员"}
    for admin in hub.get("admins") or [{"role": "system_admin", **hub}]:
        print(f"  {hub_url}/login      {labels.get(admin['role'], admin['role'])}: "
              f"user {admin['username']}  password {admin['password']}")
    print(f"  {hub_url}/fleet      fleet status (节点同步状态)")
    for code, name, port in NODES:
        node = logins["nodes"][code]
        print(f"{name} ({code})")
        print(f"  http://{HOST}:{port}/      window staff: demo-window / demo-head  password "
              f"{STAFF_PASSWORD};  accounts: {node['username']} / {node['password']}")
    if county_code in logins["nodes"] and can_sync:
        print(f"{county_name} ({county_code}, county desk)")
        print(f"  http://{HOST}:{county_port}/inbox  user demo-approver  password {STAFF_PASSWORD}")
    if logins.get("crosslevel_case"):
        no = logins["crosslevel_case"]
        print(f"cross-level case {no}: forwarded by XZ-001, decided by {county_code}, delivered")
        print(f"  {hub_url}/cases/{no}   http://{HOST}:{NODES[0][2]}/cases/{no}")
        print(f"  on-line applications: {hub_url}/portal/apply  (land in XZ-001's /inbox)")
    if not can_sync:
        print("\n(note: this build has no `edge-node sync` yet; nodes run unsynced)")
    print(f"\nlogs in {DATA / 'logs'}; press Ctrl-C to stop everything.")
    while True:
        for child in children:
            if child.poll() is not None:
                print(f"demo: a server exited (status {child.returncode}); see the logs")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
