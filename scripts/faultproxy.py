#!/usr/bin/env python3
"""A TCP proxy that injects network faults and emulates a slow, lossy link.

Between a node and a hub on loopback::

    node --> 127.0.0.1:LISTEN --[faultproxy]--> 127.0.0.1:UPSTREAM (hub)

Per connection, with the given probabilities (``Faults``):

* ``drop``      accept, then close at once without forwarding anything;
* ``reset``     forward part of the request, then reset the connection (RST);
* ``truncate``  forward the request, then only part of the answer, then close;
* ``error5xx``  answer ``503`` itself without forwarding;
* ``delay``     add ``delay_s`` to every chunk in both directions.

Link emulation (``Link``; used by ``scripts/bench sync`` when network namespaces cannot
be made, and for the delay inside namespaces): a one-way ``latency_s`` on every chunk,
``rate_bps`` serialisation per direction, and ``loss`` emulated per 1460-byte segment as
a retransmission penalty (the segment, and everything after it, arrives one
retransmission timeout later: ``max(0.2, 2 * latency_s) + latency_s``), which is what a
lost packet costs a TCP stream. Bytes each way are counted (TCP payload: HTTP framing
included, IP/TCP headers not).

Only the standard library; runs in a thread (``FaultProxy(...).start()``, used by tests)
or as a command::

    scripts/faultproxy.py --listen 9001 --upstream 8600 --drop 0.1 --reset 0.1 \\
        --truncate 0.1 --error5xx 0.1 --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

SEGMENT = 1460


@dataclass
class Faults:
    drop: float = 0.0
    reset: float = 0.0
    truncate: float = 0.0
    error5xx: float = 0.0
    delay: float = 0.0       # probability of a delayed connection
    delay_s: float = 0.2

    def any(self) -> bool:
        return any((self.drop, self.reset, self.truncate, self.error5xx, self.delay))


@dataclass
class Link:
    latency_s: float = 0.0   # one way
    rate_bps: float = 0.0    # bits per second per direction; 0: unlimited
    loss: float = 0.0        # share of segments "lost" (retransmitted after an RTO)


@dataclass
class Counters:
    connections: int = 0
    upstream_bytes: int = 0      # client -> server
    downstream_bytes: int = 0    # server -> client
    faults: dict = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return self.upstream_bytes + self.downstream_bytes


class _Pipe:
    """One direction: delivers chunks in order after latency, rate and loss penalties."""

    def __init__(self, writer: asyncio.StreamWriter, link: Link, rng: random.Random,
                 extra_delay: float = 0.0) -> None:
        self.writer = writer
        self.link = link
        self.rng = rng
        self.extra = extra_delay
        self.queue: asyncio.Queue = asyncio.Queue()
        self.wire_free_at = 0.0
        self.task = asyncio.ensure_future(self._deliver())

    def send(self, data: bytes | None) -> None:
        now = time.monotonic()
        if data is None:
            self.queue.put_nowait((now + self.link.latency_s + self.extra, None))
            return
        for i in range(0, len(data), SEGMENT):
            seg = data[i:i + SEGMENT]
            start = max(now, self.wire_free_at)
            if self.link.rate_bps:
                start += len(seg) * 8 / self.link.rate_bps
            self.wire_free_at = start
            due = start + self.link.latency_s + self.extra
            if self.link.loss and self.rng.random() < self.link.loss:
                due += max(0.2, 2 * self.link.latency_s) + self.link.latency_s
                self.wire_free_at = max(self.wire_free_at, due - self.link.latency_s)
            self.queue.put_nowait((due, seg))

    async def _deliver(self) -> None:
        last_due = 0.0
        try:
            while True:
                due, seg = await self.queue.get()
                due = max(due, last_due)       # TCP delivers in order
                last_due = due
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if seg is None:
                    try:
                        if self.writer.can_write_eof():
                            self.writer.write_eof()
                    except OSError:
                        pass
                    return
                self.writer.write(seg)
                await self.writer.drain()
        except (OSError, asyncio.CancelledError):
            return


class FaultProxy:
    """The proxy; ``start()`` runs it in a daemon thread, ``stop()`` ends it."""

    def __init__(self, upstream_port: int, *, listen_port: int = 0,
                 host: str = "127.0.0.1", upstream_host: str = "127.0.0.1",
                 faults: Faults | None = None, link: Link | None = None,
                 seed: int | None = None) -> None:
        self.host = host
        self.port = listen_port
        self.upstream = (upstream_host, upstream_port)
        self.faults = faults or Faults()
        self.link = link or Link()
        self.rng = random.Random(seed)
        self.counters = Counters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    # -- control

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._run, name="faultproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()

    async def serve_forever(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        async with self._server:
            await self._server.serve_forever()

    # -- a connection

    def _pick_fault(self) -> str | None:
        f = self.faults
        r = self.rng.random()
        for name, p in (("drop", f.drop), ("reset", f.reset), ("truncate", f.truncate),
                        ("error5xx", f.error5xx), ("delay", f.delay)):
            if r < p:
                return name
            r -= p
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._connection(reader, writer)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self.counters.connections += 1
        fault = self._pick_fault()
        if fault:
            self.counters.faults[fault] = self.counters.faults.get(fault, 0) + 1
        try:
            if fault == "drop":
                writer.close()
                return
            if fault == "error5xx":
                await reader.read(65536)
                body = b'{"error":{"code":"proxy_unavailable","message":"injected 503"}}'
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                             b"application/json\r\nConnection: close\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
                writer.close()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                _reset(writer)
                return
            self._writers.add(up_writer)
            extra = self.faults.delay_s if fault == "delay" else 0.0
            to_up = _Pipe(up_writer, self.link, self.rng, extra)
            to_down = _Pipe(writer, self.link, self.rng, extra)
            budget_up = self.rng.randint(1, 600) if fault == "reset" else None
            budget_down = self.rng.randint(1, 400) if fault == "truncate" else None
            await asyncio.gather(
                self._pump(reader, to_up, "up", budget_up, writer, up_writer),
                self._pump(up_reader, to_down, "down", budget_down, writer, up_writer))
            await asyncio.gather(to_up.task, to_down.task, return_exceptions=True)
            self._writers.discard(up_writer)
            up_writer.close()
        except (OSError, asyncio.CancelledError):
            pass

    async def _pump(self, reader, pipe: _Pipe, direction: str, budget: int | None,
                    client_writer, upstream_writer) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    pipe.send(None)
                    return
                if budget is not None and len(data) >= budget:
                    data = data[:budget]
                    self._count(direction, len(data))
                    pipe.send(data)
                    while not pipe.queue.empty():      # let the cut data arrive first
                        await asyncio.sleep(0.01)
                    await asyncio.sleep(self.link.latency_s + 0.02)
                    # cut the connection: RST to the client, and drop upstream
                    _reset(client_writer)
                    _reset(upstream_writer)
                    return
                if budget is not None:
                    budget -= len(data)
                self._count(direction, len(data))
                pipe.send(data)
        except (OSError, asyncio.CancelledError):
            pipe.send(None)

    def _count(self, direction: str, n: int) -> None:
        if direction == "up":
            self.counters.upstream_bytes += n
        else:
            self.counters.downstream_bytes += n


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
    except OSError:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--upstream-host", default="127.0.0.1")
    for name in ("drop", "reset", "truncate", "error5xx", "delay"):
        parser.add_argument(f"--{name}", type=float, default=0.0)
    parser.add_argument("--delay-s", type=float, default=0.2)
    parser.add_argument("--latency", type=float, default=0.0, help="one-way seconds")
    parser.add_argument("--rate", type=float, default=0.0, help="bits/s per direction")
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream, listen_port=args.listen, host=args.host,
                       upstream_host=args.upstream_host,
                       faults=Faults(args.drop, args.reset, args.truncate, args.error5xx,
                                     args.delay, args.delay_s),
                       link=Link(args.latency, args.rate, args.loss), seed=args.seed)
    try:
        asyncio.run(proxy.serve_forever())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
