"""Runs the workloads on a fresh embedded stack in a temporary folder and reports each figure
beside its raw baseline from the same run."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nats
from rich.console import Console
from rich.table import Table

from bench import chain
from civic.natsserver import NatsServer
from civic.settings import Settings
from consumers.streams import INTAKE, LEDGER, ensure_streams
from producers.script import many_tickets
from schemas import encode

console = Console(stderr=True)


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


def workload(n_events: int) -> list[tuple[str, bytes]]:
    """A valid district: org units, then tickets through the four orders (about six events each)."""
    script = many_tickets(max(1, n_events // 6))
    return [(subject, encode(event)) for event, subject in script.events][:n_events]


async def publish(js, messages: list[tuple[str, bytes]], window: int = 2000) -> None:  # type: ignore[no-untyped-def]
    """Acked publishes, `window` in flight at a time (as fast as acks allow)."""
    pending = []
    for subject, data in messages:
        pending.append(await js.publish_async(subject, data))
        if len(pending) >= window:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def until_count(js, stream: str, n: int, timeout: float) -> float:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while (await js.stream_info(stream)).state.last_seq < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{stream} did not reach {n} messages in {timeout}s")
        await asyncio.sleep(0.005)
    return time.perf_counter()


async def baseline_chain(url: str, messages: list[tuple[str, bytes]]) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=4000)
    await chain.setup(js)
    hop = subprocess.Popen([sys.executable, "-m", "bench.chain", url, str(len(messages))])
    await asyncio.sleep(1.0)  # let the hop process connect and bind
    renamed = [("bench.bench_in." + subject.split(".", 2)[2], data) for subject, data in messages]
    start = time.perf_counter()
    await publish(js, renamed)
    end = await until_count(js, chain.OUT, len(messages), timeout=600)
    hop.wait(30)
    for name in (chain.IN, chain.OUT):
        await js.delete_stream(name)
    await nc.close()
    return len(messages) / (end - start)


def start_role(role: str, settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CIVIC_NATS_URL": settings.nats_url or "", "CIVIC_DATA_DIR": str(settings.data_dir)}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "civic.roles", role, "--data", str(settings.data_dir)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)


async def live_throughput(settings: Settings, messages: list[tuple[str, bytes]], logs: Path) -> float:
    """Acked publish to intake -> ledger (rules, sealing, SQLite) -> relay -> CIVIC_LEDGER."""
    nc = await nats.connect(settings.nats_url)  # type: ignore[arg-type]
    js = nc.jetstream(publish_async_max_pending=4000)
    await ensure_streams(js)
    roles = [start_role(r, settings, logs / f"{r}.log") for r in ("ledger", "relay")]
    try:
        while True:  # the ledger's durable consumer exists once it is ready
            try:
                await js.consumer_info(INTAKE, "ledger")
                break
            except Exception:
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        start = time.perf_counter()
        await publish(js, messages)
        end = await until_count(js, LEDGER, len(messages), timeout=900)
    finally:
        for p in roles:
            p.terminate()
            p.wait(30)
        await nc.close()
    return len(messages) / (end - start)


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine()}


async def run(n_events: int, out: Path) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="civic-bench-") as tmp:
        root = Path(tmp)
        server = NatsServer(root / "nats").start()
        try:
            messages = workload(n_events)
            console.print(f"[bold]workload[/]: {len(messages)} events, nats-server at {server.url}")
            raw = await baseline_chain(server.url, messages)
            console.print(f"baseline chain: {raw:,.0f} events/s")
            settings = Settings(data_dir=root / "data", nats_url=server.url)
            settings.data_dir.mkdir()
            live = await live_throughput(settings, messages, root)
            console.print(f"civic pipeline: {live:,.0f} events/s")
        finally:
            server.stop()
    figures = [Figure("live throughput: intake -> ledger -> CIVIC_LEDGER", live, "events/s", raw,
                      "nats-py chain: acked publish -> consume + acked republish -> stream, no work", ">= 0.6 x baseline")]
    report(figures, out, n_events)
    return figures


def report(figures: list[Figure], out: Path, n_events: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {"events": n_events, "machine": machine(), "figures": [{**asdict(f), "ratio": f.ratio} for f in figures]}
    (out / "bench.json").write_text(json.dumps(data, indent=2))
    lines = [f"Machine: {data['machine']}", "", "| figure | value | raw baseline | ratio | target |", "|---|---|---|---|---|"]
    table = Table(title=f"civic bench ({n_events} events)")
    for col in ("figure", "value", "raw baseline", "ratio", "target"):
        table.add_column(col)
    for f in figures:
        row = (f.name, f"{f.value:,.0f} {f.unit}", f"{f.baseline:,.0f} {f.unit} ({f.baseline_name})" if f.baseline else "-",
               f"{f.ratio:.2f}" if f.ratio else "-", f.target)
        table.add_row(*row)
        lines.append("| " + " | ".join(row) + " |")
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    Console().print(table)
