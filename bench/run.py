"""`civic bench`: a fresh embedded stack in a temporary folder, each workload measured beside the
raw limit of the same machine in the same run; writes bench.json and bench.md.

Workloads: live throughput (until visible in the dashboard read model) against a no-work nats-py
chain; freshness at a steady 1,000 events/s; rebuild against a raw ordered read + decode;
dashboard reads from a load generator process; peak RSS of every service process; HTTP ingest
against raw acked publishes.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import nats
from nats.js import JetStreamContext
from nats.js.api import PubAck

from rich.console import Console
from rich.table import Table

from bench import chain
from bench.cpu import CLOCK_TICKS, Meter, Phase, parent_of
from bench.store import batched_insert, store_kind
from bench.district import events
from adapters.natsserver import NatsServer, fixture_password
from config import Settings
from adapters.bus import ensure_streams
from schemas.topology import INTAKE, LEDGER
from projections.follow import follow
from projections.rebuild import rebuild
from schemas import decode

console = Console(stderr=True)
PING = "/api/ping"
CHAIN = "nats-py chain: acked publish -> consume + acked republish -> stream, no work"
STORE = "eventsourcing's batched insert (1,000 events and a position per transaction)"


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Id(msgspec.Struct):
    event_id: str


_event_id = msgspec.json.Decoder(_Id).decode


async def publish(js: JetStreamContext, messages: Iterable[tuple[str, bytes]], window: int = 2000,
                  rate: float | None = None, acked: list[tuple[int, float]] | None = None) -> None:
    """Acked publishes, `window` in flight (as fast as acks allow), or paced at `rate` per second.

    Each with Nats-Msg-Id = its event id, as every producer path sends it (the SDK, the gateway,
    Open311): without it the event index reads each intake body back by a request of its own
    (projections/projector.py, for producers outside the SDK), one round trip per event that no
    real producer causes (measured: ... us of CPU per event, docs/benchmarks.md)."""
    pending: list[asyncio.Future[PubAck]] = []

    def record(f: asyncio.Future[PubAck]) -> None:  # when the ack came, for acked
        if acked is not None and not f.cancelled() and f.exception() is None:
            acked.append((f.result().seq, time.perf_counter()))

    start = time.perf_counter()
    for i, (subject, data) in enumerate(messages):
        if rate:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        future = await js.publish_async(subject, data, headers={"Nats-Msg-Id": _event_id(data).event_id})
        if acked is not None:
            future.add_done_callback(record)

        pending.append(future)
        if len(pending) >= window:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.01) -> float:
    deadline = time.perf_counter() + timeout
    while not await predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not done after {timeout}s")
        await asyncio.sleep(interval)
    return time.perf_counter()


def reader_token(data_dir: Path) -> str:
    """A bearer token of a district-wide auditor account: the dashboards answer signed-in readers
    only. Made through the CLI, as an operator would (accounts are the composition root's)."""
    cli = [sys.executable, "-c", "from civic.cli import app; app()", "users"]
    subprocess.run([*cli, "add", "bench-reader", "--role", "auditor", "--password", os.urandom(16).hex(),
                    "--data", str(data_dir)], check=True, capture_output=True)
    done = subprocess.run([*cli, "token", "bench-reader", "--data", str(data_dir)], check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Stack:
    """The service's roles as real processes, on one nats-server, in a temporary data folder."""

    def __init__(self, root: Path, server: NatsServer, database_url: str | None = None):
        self.settings = Settings(data_dir=root / "data", nats_url=server.url, port=free_port(), database_url=database_url)
        self.settings.data_dir.mkdir()
        self.token = reader_token(self.settings.data_dir)
        self.root = root
        self.roles: dict[str, subprocess.Popen[bytes]] = {}
        self.readers = threading.local()  # a kept-alive connection per worker thread that asks for the position

    def start(self, *names: str) -> None:
        env = {**os.environ, "CIVIC_NATS_URL": self.settings.nats_url or "", "CIVIC_DATA_DIR": str(self.settings.data_dir)}
        if self.settings.database_url:
            env["CIVIC_DATABASE_URL"] = self.settings.database_url
        for name in names:
            args = [sys.executable, "-m", "civic.roles", name, "--data", str(self.settings.data_dir)]
            if name == "web":
                args += ["--port", str(self.settings.port)]
            with open(self.root / f"{name}.log", "ab") as log:
                self.roles[name] = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)

    def position(self) -> int:
        for name, p in self.roles.items():  # a role that died would stall the run: say so at once
            if p.poll() is not None:
                tail = (self.root / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {p.returncode}:\n{tail}")
        # Over a kept-alive connection: the live and freshness phases ask every 2-50 ms, and a new
        # connection and urllib opener per question cost the bench's process and the web's about
        # 1.5 ms of CPU each time, on the cores the pipeline under test needs.
        reader = getattr(self.readers, "client", None)
        if reader is None:
            reader = self.readers.client = KeptAlive(self.settings.port, self.token)
        answer: int = reader.get_json("/api/position")["dashboard"]
        return answer

    def peak_rss(self) -> dict[str, float]:
        return {name: rss_mb(p.pid) for name, p in self.roles.items() if p.poll() is None}

    def stop(self) -> None:
        for p in self.roles.values():
            p.terminate()
        for p in self.roles.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


async def baseline_chain(url: str, messages: list[tuple[str, bytes]]) -> float:
    """Events/s through the no-work chain. Its hop process is reaped before this returns, so a
    Meter phase around it counts the hop's CPU."""
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=4000)
    await chain.setup(js)
    hop = subprocess.Popen([sys.executable, "-m", "bench.chain", url, str(len(messages))])
    await asyncio.sleep(1.0)  # let the hop process connect and bind
    renamed = [("bench.bench_in." + subject.split(".", 2)[2], data) for subject, data in messages]
    start = time.perf_counter()
    await publish(js, renamed)
    end = await until(lambda: _count(js, chain.OUT, len(messages)), 900)
    hop.wait(30)
    for name in (chain.IN, chain.OUT):
        await js.delete_stream(name)
    await nc.close()
    return len(messages) / (end - start)


async def _count(js: JetStreamContext, stream: str, n: int) -> bool:
    return (await js.stream_info(stream)).state.last_seq >= n


async def live(stack: Stack, js: JetStreamContext, n: int, rss_samples: dict[str, list[float]]) -> float:
    """Acked publishes of the district -> ledger -> relay -> projector, until the API shows all of it."""
    start = time.perf_counter()
    publisher = asyncio.create_task(publish(js, events(n)))

    async def visible() -> bool:
        position = await asyncio.to_thread(stack.position)
        for name, mb in stack.peak_rss().items():
            rss_samples.setdefault(name, []).append(mb)
        return position >= n
    end = await until(visible, 3600, 0.05)
    await publisher
    return n / (end - start)


async def freshness(stack: Stack, js: JetStreamContext, seconds: float, rate: float) -> list[float]:
    """Seconds from a producer's ack to the dashboard API answering at or past that event."""
    acked: list[tuple[int, float]] = []
    seen: list[tuple[int, float]] = []
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            seen.append((await asyncio.to_thread(stack.position), time.perf_counter()))
            await asyncio.sleep(0.002)
    watcher = asyncio.create_task(watch())
    n = int(seconds * rate)
    messages = _renamed(list(events(5000 + n, seed=2)), f"fresh{time.time_ns()}-")[:n]  # new ids each round
    await publish(js, messages, window=50, rate=rate, acked=acked)
    await asyncio.sleep(2.0)
    stop.set()
    await watcher
    delays = []
    for seq, t in acked:
        seen_at = next((when for position, when in seen if position >= seq), None)
        if seen_at is not None:
            delays.append(max(0.0, seen_at - t))
    return sorted(delays)


def _renamed(messages: list[tuple[str, bytes]], prefix: str) -> list[tuple[str, bytes]]:
    """New ids for a second round of tickets, so they are new events rather than duplicates."""
    out = []
    for subject, data in messages:
        if b'"OrgUnitRegistered"' in data[:40]:
            continue
        # Every event id, whatever its form (the district's are uuids: bench/district.py event_id).
        out.append((subject, data.replace(b'"ticket_id":"T', b'"ticket_id":"' + prefix.encode() + b"T")
                    .replace(b'"event_id":"', b'"event_id":"' + prefix.encode())))
    return out


async def raw_read(js: JetStreamContext, end: int) -> float:
    """Reading the whole ledger in order with a nats-py consumer and decoding it, nothing else."""
    start, count = time.perf_counter(), 0
    async for msgs in follow(js, 0, 2000, until=end, push=True):
        for m in msgs:
            decode(m.data, max_bytes=None)
        count += len(msgs)
    return count / (time.perf_counter() - start)


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine()}


def postgres_server(database_url: str) -> int | None:
    """The PostgreSQL server's postmaster, if it runs on this machine (the parent of the backend
    serving a connection of ours), so that its CPU counts in each phase beside the roles': on
    PostgreSQL the server does part of every event's work. None for a server elsewhere."""
    import psycopg

    with psycopg.connect(database_url) as conn:  # read while the backend lives: it exits with the connection
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        backend = Path("/proc") / str(row[0] if row else 0)
        try:
            if b"postgres" not in (backend / "cmdline").read_bytes():
                return None  # the same number is another process here: the server runs elsewhere
            return parent_of(int(backend.name))
        except (FileNotFoundError, PermissionError):
            return None


async def run(n: int, out: Path, quick: bool = False, database_url: str | None = None) -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="civic-bench-") as tmp:
        root = Path(tmp)
        server = NatsServer(root / "nats", password=fixture_password()).start()
        stack = Stack(root, server, database_url)
        postmaster = postgres_server(database_url) if database_url else None
        meter = Meter(lambda: {"nats-server": server.process.pid if server.process else 0,
                               **{name: p.pid for name, p in stack.roles.items() if p.poll() is None}},
                      trees=lambda: {"postgres": postmaster} if postmaster else {})
        try:
            nc = await nats.connect(server.url)
            js = nc.jetstream(publish_async_max_pending=4000)
            await ensure_streams(js)
            where = urllib.parse.urlsplit(server.url)  # its address, not the admin password in the URL
            console.print(f"[bold]civic bench[/]: {n:,} events, 5,000 org units, event store on {store_kind(stack.settings)}, "
                          f"nats-server at {where.hostname}:{where.port}")

            sample = list(events(min(n, 200_000)))
            with meter.phase("raw chain", own="publisher", reaped="chain hop") as phase:
                raw = await baseline_chain(server.url, sample)
                phase.count = len(sample)
            console.print(f"raw chain: {raw:,.0f} events/s")
            with meter.phase("raw store insert", own="insert") as phase:
                inserted = await asyncio.to_thread(batched_insert, stack.settings, sample)
                phase.count = len(sample)
            console.print(f"raw store: {inserted:,.0f} events/s (eventsourcing's batched insert, {store_kind(stack.settings)})")
            floor, floor_name = min((raw, CHAIN), (inserted, f"{STORE} into {store_kind(stack.settings)}"))

            stack.start("web", "ledger", "relay", "projector")
            await until(lambda: _ready(stack, js), 60, 0.2)
            rss: dict[str, list[float]] = {}
            with meter.phase("live", own="publisher") as phase:
                rate = await live(stack, js, n, rss)
                phase.count = n
            phases = {"live": stack.peak_rss()}  # the high-water mark after each phase: which one raised it
            console.print(f"live: {rate:,.0f} events/s until visible in the dashboard read model")
            figures += [Figure("live throughput: acked publish -> dashboard read model", rate, "events/s", floor,
                               f"the lower raw baseline: {floor_name}", ">= 0.6 x", rate >= 0.6 * floor),
                        Figure("raw baseline: no-work chain", raw, "events/s", baseline_name=CHAIN),
                        Figure(f"raw baseline: batched insert into {store_kind(stack.settings)}", inserted, "events/s", baseline_name=STORE)]

            for offered, target in ((rate / 4, True), (1000.0, False)):
                seconds = 3 if quick else 20
                with meter.phase(f"freshness at {offered:,.0f}/s", own="publisher") as phase:
                    delays = await freshness(stack, js, seconds, offered)
                    phase.count = int(seconds * offered)
                p50, p99, worst = (delays[int(q * (len(delays) - 1))] * 1000 for q in (0.5, 0.99, 1.0))
                console.print(f"freshness at {offered:,.0f}/s: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {worst:.0f} ms ({len(delays)} events)")
                at = f"at {offered:,.0f} events/s" + (" (a quarter of live)" if target else "")
                figures.append(Figure(f"freshness {at}, ack -> API: p99 (p50 {p50:.0f} ms, max {worst:.0f} ms)", p99, "ms",
                                      target="<= 250 ms" if target else "", met=p99 <= 250 if target else None))

            phases["freshness"] = stack.peak_rss()
            with meter.phase("reads", unit="request", reaped="loadgen") as phase:
                # A ticket's timeline: T1000, or T1 in a run too small to hold T1000 (the tests').
                reads = await dashboard_reads(stack, 3 if quick else 10, "T1000" if n >= 12_000 else "T1")
                phase.count = sum(int(r["requests"]) for r in reads.values())
            ping = reads.pop(PING)
            figures.append(Figure(f"raw read {PING} (a fixed answer, same auth): p99 (p50 {ping['p50_ms']:.1f} ms, "
                                  f"{ping['rps']:,.0f} req/s, 4 connections)", ping["p99_ms"], "ms"))
            for path, r in reads.items():
                figures.append(Figure(f"dashboard read {path}: p99 (p50 {r['p50_ms']:.1f} ms, {r['rps']:,.0f} req/s, 4 connections)",
                                      r["p99_ms"], "ms", ping["p99_ms"], f"{PING} p99, same load", "<= 2 x", r["p99_ms"] <= 2 * ping["p99_ms"]))
            for org, (p50, p99) in (await uncached_reads(stack, js, 5 if quick else 30)).items():
                figures.append(Figure(f"dashboard {org}, first answer after a new event (uncached): p99 (p50 {p50:.1f} ms)",
                                      p99, "ms", ping["p99_ms"], f"{PING} p99", "<= 10 x" if org == "d" else "",
                                      p99 <= 10 * ping["p99_ms"] if org == "d" else None))

            phases["reads"] = stack.peak_rss()
            with meter.phase("gateway", own="gateway client") as phase:
                phase.count, gateway = await gateway_ingest(stack, min(n, 20_000 if quick else 100_000))
            console.print(f"gateway: {gateway:,.0f} events/s")
            phases["gateway"] = stack.peak_rss()

            for name, samples in sorted(rss.items()):
                peak = max([*samples, stack.peak_rss().get(name, 0.0)])
                half = samples[len(samples) // 2] if samples else 0.0
                steps = ", ".join(f"{phase} {marks.get(name, 0.0):.0f}" for phase, marks in phases.items())
                figures.append(Figure(f"peak RSS {name} (at half the live run: {half:.0f} MB; high-water after {steps} MB)",
                                      peak, "MB", target="<= 300 MB", met=peak <= 300))
            stack.stop()

            end = (await js.stream_info(LEDGER)).state.last_seq
            with meter.phase("rebuild raw read", own="raw read") as phase:
                read_rate = await raw_read(js, end)
                phase.count = end
            # A long ledger is rebuilt in one process per core (projections/rebuild.py shares): their
            # CPU counts once they are reaped.
            with meter.phase("rebuild", own="rebuild", reaped="rebuild shares") as phase:
                done = await rebuild(stack.settings, switch=False, show_progress=not quick)
                phase.count = done.events
            processes = f"{done.shares} process" + ("es" if done.shares > 1 else "")
            console.print(f"rebuild: {done.rate:,.0f} events/s in {processes}; "
                          f"raw ordered read + decode: {read_rate:,.0f} events/s")
            figures.append(Figure(f"rebuild of {end:,} ledger events ({processes})", done.rate, "events/s", read_rate,
                                  f"nats-py ordered read of {LEDGER} + msgspec decode", ">= 0.5 x", done.rate >= 0.5 * read_rate))
            from bench.replay import measure as replay_rates

            replayed = await replay_rates(js, meter)
            console.print(f"audit replay: {replayed.replay:,.0f} events/s; its raw read: {replayed.raw_read_decode:,.0f}")
            figures.append(Figure(f"civic audit replay of {replayed.events:,} ledger events", replayed.replay, "events/s",
                                  replayed.raw_read_decode, f"ordered read of {LEDGER} + msgspec decode", ">= 0.5 x",
                                  replayed.ratio >= 0.5))
            from bench.producers import measure as producer_rates

            rates = await producer_rates(min(n, 20_000 if quick else 100_000))
            console.print(f"SDK {rates['sdk']:,.0f} events/s, raw acked publish {rates['raw']:,.0f} events/s")
            figures += [Figure("ingest: Python SDK publish_many", rates["sdk"], "events/s", rates["raw"], "nats-py publish_async, acked"),
                        Figure("ingest: HTTP gateway, arrays of 1,000", gateway, "events/s", rates["raw"], "nats-py publish_async, acked")]
            figures += floors(meter, floor, floor_name, read_rate, replayed.raw_read_decode)
            await nc.close()
        finally:
            stack.stop()
            server.stop()
    report(figures, out, n, meter.phases)
    return figures


async def _ready(stack: Stack, js: JetStreamContext) -> bool:
    try:
        await js.consumer_info(INTAKE, "ledger")
        return await asyncio.to_thread(stack.position) >= 0
    except Exception:
        return False


async def dashboard_reads(stack: Stack, seconds: float, ticket: str = "T1000") -> dict[str, dict[str, float]]:
    paths = [PING, "/api/orgs/d/dashboard", "/api/orgs/t3/dashboard", "/api/orgs/t3v5/dashboard", f"/api/tickets/{ticket}"]
    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bench.loadgen", str(stack.settings.port),
                                                      str(seconds), "4", stack.token, *paths], capture_output=True, text=True, check=True)
    reads: dict[str, dict[str, float]] = msgspec.json.decode(result.stdout.strip().splitlines()[-1])
    failed = {path: r["errors"] for path, r in reads.items() if r["errors"]}
    if failed:  # a latency of refusals (401, 404) is no dashboard figure
        raise RuntimeError(f"dashboard reads answered other than 200: {failed}")
    return reads


async def gateway_ingest(stack: Stack, n: int) -> tuple[int, float]:
    """POST /v1/events with arrays of 1,000 new events, one request after another: the events
    accepted (the warm-up array included) and events/s accepted after the warm-up."""
    import httpx

    from producers.gateway import Tokens, tokens_path

    token = Tokens(tokens_path(stack.settings.data_dir)).issue("bench", ["*"])
    messages = [data for _, data in _renamed(list(events(5000 + n, seed=3)), "gw-")[:n]]
    bodies = [b"[" + b",".join(messages[i:i + 1000]) + b"]" for i in range(0, len(messages), 1000)]
    accepted = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.settings.port}", timeout=60,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as client:
        # the gateway's NATS connection and org directory, warmed
        warm = (await client.post("/v1/events", content=bodies[0])).json()["accepted"]
        start = time.perf_counter()
        for body in bodies[1:]:
            answer = (await client.post("/v1/events", content=body)).json()
            accepted += answer["accepted"]
    return warm + accepted, accepted / (time.perf_counter() - start)


class KeptAlive:
    """GETs over one kept-alive connection, as the load generator makes them: the time of an
    answer, not of a TCP handshake."""

    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> float:
        start = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        answer = self.conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {path} answered {answer.status}")
        return (time.perf_counter() - start) * 1000

    def get_json(self, path: str) -> dict[str, Any]:
        """The answer to a GET, once more on a new connection if the server closed the idle one."""
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path, headers=self.headers)
                answer = self.conn.getresponse()
                body = answer.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                self.conn.close()  # http.client connects again at the next request
                if attempt == 2:
                    raise
        if answer.status != 200:
            raise RuntimeError(f"GET {path} answered {answer.status}")
        answer_json: dict[str, Any] = json.loads(body)
        return answer_json

    def close(self) -> None:
        self.conn.close()


async def uncached_reads(stack: Stack, js: JetStreamContext, samples: int, query: str = "") -> dict[str, tuple[float, float]]:
    """What a cache miss costs in the web process: one new ticket, wait until the dashboards
    answer past it, then the first read of each unit's dashboard (p50, p99 in ms)."""
    raised = (m for m in _renamed(list(events(5000 + samples * 40, seed=4)), f"un{time.time_ns()}-")
              if b'"TicketRaised"' in m[1][:40])
    client, out = KeptAlive(stack.settings.port, stack.token), {}
    try:
        reads = {org: f"/api/orgs/{org}/dashboard{query}" for org in ("d", "t3", "t3v5")}
        reads["d deadlines"] = f"/api/orgs/d/deadlines{query}"  # every deadline, per unit: the widest
        for org, path in reads.items():
            times = []
            for _ in range(samples):
                before = await asyncio.to_thread(stack.position)
                subject, data = next(raised)
                await js.publish(subject, data, headers={"Nats-Msg-Id": _event_id(data).event_id})
                await until(lambda: _moved(stack, before), 60, 0.005)
                times.append(await asyncio.to_thread(client.get, path))
            times.sort()
            out[org] = (times[len(times) // 2], times[int(0.99 * (len(times) - 1))])
    finally:
        client.close()
    return out


async def _moved(stack: Stack, before: int) -> bool:
    return await asyncio.to_thread(stack.position) > before


def floors(meter: Meter, live_baseline: float, live_baseline_name: str, rebuild_read: float, replay_read: float) -> list[Figure]:
    """Each throughput target beside the most its workload could reach at the CPU it spent per
    event (bench/cpu.py): a target above that floor is out of reach without less work per event."""
    out = []
    for name, baseline, baseline_name, share, raw in (
            ("live", live_baseline, f"the lower raw baseline: {live_baseline_name}", 0.6, "raw chain"),
            ("rebuild", rebuild_read, f"nats-py ordered read of {LEDGER} + msgspec decode", 0.5, "rebuild raw read"),
            ("replay", replay_read, f"ordered read of {LEDGER} + msgspec decode", 0.5, "replay raw read")):
        phase = meter[name]
        who, us = phase.busiest
        python, one_core = phase.one_core
        out.append(Figure(f"floor: {name} throughput at most {phase.cores} cores x 1e6 / {phase.us_per_unit_sum:,.0f} us of CPU "
                          f"per event = {phase.floor:,.0f}/s, and {python} on the one core its GIL allows at most {one_core:,.0f}/s "
                          f"(busiest: {who} {us:,.0f} us; {raw}: {meter[raw].us_per_unit_sum:,.0f} us per event, so where both are "
                          f"CPU-bound the ratio is at most {meter[raw].us_per_unit_sum / phase.us_per_unit_sum:.2f}): is the target reachable?",
                          phase.bound, "events/s", baseline, baseline_name, f">= {share} x", phase.bound >= share * baseline))
    return out


def cpu_lines(phases: Sequence[Phase]) -> list[str]:
    """bench.md's section on where each phase's CPU went."""
    lines = ["", "## Where the CPU goes", "",
             "CPU time (user + system) of every process over each phase, per event (per request for reads), "
             "from /proc/<pid>/stat; `floor` is cores x 1e6 / the sum: the most the phase's processes could "
             "carry at this much work per event; `one core`: 1e6 / the busiest Python process's share, the most it can carry "
             "on the one core its GIL lets it use. `cores busy`: CPU seconds per wall second (at the machine's "
             "core count the phase was CPU-bound). In brackets: the share of one core each process used.", "",
             "| phase | count | wall s | cores busy | CPU us per unit, sum | floor per s | one core per s | per process: us per unit (share of a core) |",
             "|---|---|---|---|---|---|---|---|"]
    for p in phases:
        parts = ", ".join(f"{who} {us:,.1f} ({p.cpu_s[who] / p.wall_s if p.wall_s else 0:.2f})"
                          for who, us in sorted(p.us_per_unit.items(), key=lambda item: -item[1]))
        lines.append(f"| {p.name} | {p.count:,} {p.unit}s | {p.wall_s:,.1f} | {p.cores_busy:.2f} of {p.cores} | "
                     f"{p.us_per_unit_sum:,.1f} | {p.floor:,.0f} | {p.one_core[1]:,.0f} ({p.one_core[0]}) | {parts} |")
    return lines


def report(figures: list[Figure], out: Path, n_events: int, phases: Sequence[Phase] = ()) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {"events": n_events, "machine": machine(), "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
            "cpu": {"clock_ticks_per_s": CLOCK_TICKS, "phases": [p.as_json() for p in phases]}}
    (out / "bench.json").write_text(json.dumps(data, indent=2))
    lines = [f"civic bench, {n_events:,} events. Machine: {data['machine']}", "",
             "| figure | value | raw baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
    table = Table(title=f"civic bench ({n_events:,} events)")
    for col in ("figure", "value", "raw baseline", "ratio", "target", "met"):
        table.add_column(col)
    for f in figures:
        row = (f.name, f"{f.value:,.1f} {f.unit}", f"{f.baseline:,.0f} {f.unit} ({f.baseline_name})" if f.baseline else "",
               f"{f.ratio:.2f}" if f.ratio else "", f.target, "" if f.met is None else ("yes" if f.met else "NO"))
        table.add_row(*row)
        lines.append("| " + " | ".join(row) + " |")
    lines += cpu_lines(phases)
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    Console().print(table)
    cpu = Table(title="where the CPU goes (us per event or request)")
    for col in ("phase", "count", "cores busy", "sum", "floor per s", "per process"):
        cpu.add_column(col)
    for p in phases:
        cpu.add_row(p.name, f"{p.count:,}", f"{p.cores_busy:.2f}", f"{p.us_per_unit_sum:,.0f}", f"{p.floor:,.0f}",
                    ", ".join(f"{who} {us:,.0f}" for who, us in sorted(p.us_per_unit.items(), key=lambda item: -item[1])))
    Console().print(cpu)
