"""Benchmark: a township's busy day pushed to the hub over a slow, lossy link.

    scripts/bench sync [--cases 300] [--loss 0.05 0.20] [--rate 64000] [--rtt 0.5]
                       [--emulation auto|netns|proxy]

For each loss rate: a fresh hub (``central-hub serve``), a fresh node enrolled and synced
on a clean link (configuration pulled), then ``--cases`` cases simulated in one day, then
``SyncClient.sync_until_acknowledged`` over the shaped link, timed to full
acknowledgement. Bytes on the wire are counted by the proxy (TCP payload both ways:
HTTP framing included, IP/TCP headers not).

Link emulation (the kernel here has no netem):

* ``netns``: the hub runs in a network namespace behind a veth pair; ``tc tbf`` shapes
  each direction to ``--rate``; iptables' ``statistic`` match drops ``--loss`` of the
  packets in each direction; scripts/faultproxy.py on the host adds half the RTT each
  way. Needs root, iproute2 and iptables (installed with apt-get when missing).
* ``proxy``: where namespaces cannot be made, the proxy emulates all three (rate,
  delay, and loss as a retransmission penalty per 1460-byte segment).

The script prints which emulation ran. Loopback and namespace addresses only. Hub ingest
throughput: ``scripts/bench sync-ingest`` (figures in docs/sync.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from central_hub.operations.bootstrap import init_hub  # noqa: E402
from central_hub.config import HubConfig  # noqa: E402
from central_hub.sync.enrolment import issue_token  # noqa: E402
from central_hub.store import open_store  # noqa: E402
from edge_node.node import init_node  # noqa: E402
from edge_node.demo.simulate import simulate  # noqa: E402
from edge_node.sync.client import SyncClient  # noqa: E402

_spec = importlib.util.spec_from_file_location("faultproxy", ROOT / "scripts" / "faultproxy.py")
faultproxy = importlib.util.module_from_spec(_spec)
sys.modules["faultproxy"] = faultproxy
_spec.loader.exec_module(faultproxy)

BIN = Path(sys.executable).parent
NS = "tsbench-hub"
VETH_HOST, VETH_NS = "tsb-h0", "tsb-h1"
HOST_IP, NS_IP = "10.231.77.1", "10.231.77.2"
HUB_PORT = 8650


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def ensure_tools() -> bool:
    """iproute2 and iptables present (installed with apt-get when missing)."""
    if shutil.which("ip") and shutil.which("tc") and shutil.which("iptables"):
        return True
    if shutil.which("apt-get"):
        print("installing iproute2 and iptables with apt-get ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "iproute2", "iptables"],
                       capture_output=True)
    return bool(shutil.which("ip") and shutil.which("tc") and shutil.which("iptables"))


class Netns:
    """The hub's namespace, veth pair, tbf on both ends and iptables drops."""

    def __init__(self, rate_bps: int) -> None:
        self.rate = rate_bps

    def create(self) -> None:
        self.destroy()
        kbit = f"{self.rate // 1000}kbit"
        steps = [
            ("ip", "netns", "add", NS),
            ("ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS),
            ("ip", "link", "set", VETH_NS, "netns", NS),
            ("ip", "addr", "add", f"{HOST_IP}/24", "dev", VETH_HOST),
            ("ip", "link", "set", VETH_HOST, "up"),
            ("ip", "netns", "exec", NS, "ip", "addr", "add", f"{NS_IP}/24", "dev", VETH_NS),
            ("ip", "netns", "exec", NS, "ip", "link", "set", VETH_NS, "up"),
            ("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"),
            ("tc", "qdisc", "add", "dev", VETH_HOST, "root", "tbf", "rate", kbit,
             "burst", "4kb", "latency", "5s"),
            ("ip", "netns", "exec", NS, "tc", "qdisc", "add", "dev", VETH_NS, "root", "tbf",
             "rate", kbit, "burst", "4kb", "latency", "5s"),
        ]
        for step in steps:
            run(*step)

    def set_loss(self, loss: float) -> None:
        run("ip", "netns", "exec", NS, "iptables", "-F")
        if loss > 0:
            for chain in ("INPUT", "OUTPUT"):
                run("ip", "netns", "exec", NS, "iptables", "-A", chain, "-p", "tcp", "-m",
                    "statistic", "--mode", "random", "--probability", str(loss), "-j", "DROP")

    def destroy(self) -> None:
        run("ip", "link", "del", VETH_HOST, check=False)
        run("ip", "netns", "del", NS, check=False)


class Hub:
    def __init__(self, path: Path, netns: bool) -> None:
        self.path = path
        self.netns = netns
        init_hub(path, "县级平台")
        self.config = HubConfig.load(path, background_jobs=False)
        self.host = NS_IP if netns else "127.0.0.1"
        self.proc: subprocess.Popen | None = None

    def start(self, port: int) -> None:
        self.port = port
        cmd = [str(BIN / "central-hub"), "serve", str(self.path), "--host", self.host,
               "--port", str(port)]
        if self.netns:
            cmd = ["ip", "netns", "exec", NS, *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with httpx.Client(trust_env=False, timeout=2) as c:
                    if c.get(f"http://{self.host}:{port}/sync/v1/keys").status_code == 200:
                        return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("hub did not start")

    def token(self, code: str) -> str:
        store = open_store(self.config.db_path, self.config.now_ts())
        try:
            return issue_token(store, self.config, code, "青山镇便民服务中心")[0]
        finally:
            store.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def one_run(work: Path, loss: float, args, mode: str, netns: Netns | None) -> dict:
    hub = Hub(work / f"hub-{loss}", netns is not None)
    if netns is not None:
        netns.set_loss(0.0)
    hub.start(HUB_PORT + int(loss * 1000))
    proxy = faultproxy.FaultProxy(hub.port, upstream_host=hub.host, seed=int(loss * 1000))
    proxy.start()
    node, _ = init_node(work / f"node-{loss}", "XZ-001", "青山镇便民服务中心",
                        admin_password="lantern-ridge-7294")
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        http = httpx.Client(timeout=httpx.Timeout(120.0, connect=30.0), trust_env=False,
                            limits=httpx.Limits(keepalive_expiry=4.0))
        client = SyncClient(node, http=http, max_batch_events=args.batch_events)
        client.enroll(url, hub.token(node.code))
        client.sync_until_acknowledged()             # clean link: configuration pulled
        day = date.today() - timedelta(days=1)
        report = simulate(node, cases=args.cases, start=day - timedelta(days=args.days - 1),
                          days=args.days, seed=1)
        events = node.store.unacked_count()
        # shape the link
        if netns is not None:
            netns.set_loss(loss)
            proxy.link = faultproxy.Link(latency_s=args.rtt / 2)
        else:
            proxy.link = faultproxy.Link(latency_s=args.rtt / 2, rate_bps=args.rate, loss=loss)
        before = proxy.counters.total_bytes
        up0, down0 = proxy.counters.upstream_bytes, proxy.counters.downstream_bytes
        requests0 = client.link.traffic.requests
        started = time.monotonic()
        final = client.sync_until_acknowledged(retries=100)
        seconds = time.monotonic() - started
        wire = proxy.counters.total_bytes - before
        assert final.complete
        http.close()
        return {"loss": loss, "cases": report.cases, "events": events, "seconds": seconds,
                "wire_bytes": wire, "bytes_per_event": wire / events,
                "requests": client.link.traffic.requests - requests0,
                "up": proxy.counters.upstream_bytes - up0,
                "down": proxy.counters.downstream_bytes - down0}
    finally:
        node.close()
        proxy.stop()
        hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--loss", type=float, nargs="+", default=[0.05, 0.20])
    parser.add_argument("--rate", type=int, default=64_000, help="bits/s each way")
    parser.add_argument("--rtt", type=float, default=0.5, help="round trip, seconds")
    parser.add_argument("--batch-events", type=int, default=250)
    parser.add_argument("--days", type=int, default=20,
                        help="days the cases are spread over (so they reach completion: "
                             "300 cases make about 2,000 events)")
    parser.add_argument("--emulation", choices=("auto", "netns", "proxy"), default="auto")
    args = parser.parse_args()

    netns = None
    mode = "proxy"
    if args.emulation in ("auto", "netns"):
        try:
            if not ensure_tools():
                raise RuntimeError("iproute2/iptables not available")
            netns = Netns(args.rate)
            netns.create()
            netns.set_loss(0.0)
            mode = "netns"
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            if netns is not None:
                netns.destroy()
            netns = None
            if args.emulation == "netns":
                sys.exit(f"cannot make the network namespace: {detail.strip()}")
            print(f"network namespaces unavailable ({detail.strip()[:120]}); "
                  "falling back to the userland proxy", flush=True)
    if mode == "netns":
        print(f"emulation: netns (tc tbf {args.rate // 1000} kbit/s each way, iptables "
              f"statistic drops, faultproxy delay {args.rtt * 500:.0f} ms each way)")
    else:
        print(f"emulation: userland proxy (rate {args.rate // 1000} kbit/s each way, delay "
              f"{args.rtt * 500:.0f} ms each way, loss as a retransmission penalty per segment)")
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        for loss in args.loss:
            r = one_run(work, loss, args, mode, netns)
            print(f"loss {loss:.0%}: {r['cases']} cases, {r['events']} events fully "
                  f"acknowledged in {r['seconds']:.1f} s ({r['requests']} requests); "
                  f"{r['wire_bytes']:,} bytes on the wire "
                  f"(up {r['up']:,}, down {r['down']:,}) = {r['bytes_per_event']:.0f} "
                  "bytes/event incl. HTTP framing", flush=True)
    finally:
        if netns is not None:
            netns.destroy()
        shutil.rmtree(work, ignore_errors=True)
    print("targets: <= 90 s at 5% loss; 20% loss must complete; <= 300 bytes/event")
    print("hub ingest throughput: scripts/bench sync-ingest (figures in docs/sync.md)")


if __name__ == "__main__":
    main()
