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
NODE_PASSWORD = "demo-admin-2026"


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


def serve(tool: str, data_dir: Path, port: int, log_name: str) -> subprocess.Popen:
    log = open(DATA / "logs" / log_name, "ab")
    return subprocess.Popen([str(BIN / tool), "serve", str(data_dir), "--host", HOST,
                             "--port", str(port)], cwd=ROOT, stdout=log, stderr=log,
                            start_new_session=True)


def build(cases: int) -> dict:
    """Initialise hub and nodes and simulate the township workload (no network)."""
    if DATA.exists():
        shutil.rmtree(DATA)
    (DATA / "logs").mkdir(parents=True)
    print("· initialising the county hub …")
    out = run("central-hub", "init", str(DATA / "hub"))
    match = re.search(r"admin user: (\S+)\s+password: (\S+)", out)
    logins = {"hub": {"username": match.group(1) if match else "admin",
                      "password": match.group(2) if match else "(see central-hub init)"},
              "nodes": {}}
    for i, (code, name, _port) in enumerate(NODES, 1):
        print(f"· initialising {name} ({code}) and simulating {cases} cases …")
        run("edge-node", "init", str(DATA / code), "--code", code, "--name", name,
            "--admin-password", NODE_PASSWORD)
        run("edge-node", "simulate", str(DATA / code), "--cases", str(cases),
            "--seed", str(i), "--quiet")
        token = run("central-hub", "enroll-token", str(DATA / "hub"), "--node", code,
                    "--name", name).strip().splitlines()[-1]
        logins["nodes"][code] = {"username": "admin", "password": NODE_PASSWORD,
                                 "token": token, "enrolled": False}
    (DATA / "logins.json").write_text(json.dumps(logins, ensure_ascii=False, indent=1))
    return logins


def main() -> None:
    parser = argparse.ArgumentParser(description="hub + three township nodes on loopback")
    parser.add_argument("--fresh", action="store_true", help="rebuild ./demo-data")
    parser.add_argument("--cases", type=int, default=300, help="simulated cases per node")
    args = parser.parse_args()
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

    for code, _name, port in NODES:
        children.append(serve("edge-node", DATA / code, port, f"{code}.log"))
    for _code, _name, port in NODES:
        wait_http(f"http://{HOST}:{port}/health")

    hub = logins["hub"]
    print("\n县级平台 county hub")
    print(f"  {hub_url}/login      user {hub['username']}  password {hub['password']}")
    print(f"  {hub_url}/fleet      fleet status (节点同步状态)")
    for code, name, port in NODES:
        node = logins["nodes"][code]
        print(f"{name} ({code})")
        print(f"  http://{HOST}:{port}/      user {node['username']}  password {node['password']}")
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
