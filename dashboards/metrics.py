"""GET /metrics in the Prometheus text format: what the pipeline has done, how far behind each
consumer is, and the health verdict with the readings behind it (dashboards/health.py), taken
on each scrape (cheap: stream and consumer info, one KV read, one SELECT)."""

from __future__ import annotations

from collections import Counter

from dashboards.health import RULES, HealthProbe, supervisor_processes
from schemas.topology import LEDGER, REJECTED, REJECTED_SUBJECTS

LEVEL = {"ok": 0, "degraded": 1, "faulty": 2}


def _gauge(lines: list[str], name: str, help_: str, kind: str = "gauge") -> None:
    lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]


def _single(lines: list[str], name: str, help_: str, value: object) -> None:
    """A gauge with one unlabelled sample."""
    _gauge(lines, name, help_)
    lines.append(f"{name} {value}")


async def render(probe: HealthProbe) -> str:
    health = await probe.check()
    r = probe.last
    lines: list[str] = []
    _single(lines, "civic_up", "1 when health is ok (every rule of README Operations passes).", int(health.status == 'ok'))
    _single(lines, "civic_ledger_alarm", "1 while the relay's ledger alarm is raised (the stream disagrees with the store).",
            int(r is not None and r.ledger_alarm is not None))
    _single(lines, "civic_health_status", "0 ok, 1 degraded, 2 faulty.", LEVEL[health.status])
    _gauge(lines, "civic_health_reason", "1 for each health reason that fires now, 0 otherwise.")
    for rule in RULES:
        lines.append(f'civic_health_reason{{reason="{rule.code}",severity="{rule.severity}"}} {int(rule.code in health.reasons)}')
    _gauge(lines, "civic_stream_messages", "Messages held by each stream.")
    last = {}
    for st in health.streams:
        lines.append(f'civic_stream_messages{{stream="{st.name}"}} {st.messages}')
        last[st.name] = st.last_sequence
    _gauge(lines, "civic_events_processed_total", "Events through each stage (stream sequences).", "counter")
    for name, seq in last.items():
        lines.append(f'civic_events_processed_total{{stream="{name}"}} {seq}')
    _gauge(lines, "civic_consumer_lag", "Messages a consumer has yet to process (for the ledger: pending + delivered, unacked).")
    if health.ledger_consumer_pending is not None:
        lines.append(f'civic_consumer_lag{{consumer="ledger"}} {health.ledger_consumer_pending}')
    if health.relay_lag is not None:
        lines.append(f'civic_consumer_lag{{consumer="relay"}} {health.relay_lag}')
    if health.dashboard_lag is not None and LEDGER in last:
        lines.append(f'civic_consumer_lag{{consumer="dashboard"}} {health.dashboard_lag}')
    for consumer, lag in sorted(health.clock_lag.items()):
        lines.append(f'civic_consumer_lag{{consumer="{consumer}"}} {lag}')
    if r is not None:
        _single(lines, "civic_intake_ack_pending", "Intake messages delivered to the ledger and not yet acknowledged.",
                r.intake_ack_pending)
        _single(lines, "civic_intake_redelivered", "Intake messages redelivered and not yet acknowledged.", r.redelivered)
        _single(lines, "civic_ledger_progress_age_seconds", "Seconds since the ledger last moved forward.",
                f"{r.progress_age:.1f}")
        if r.disk_free is not None:
            _single(lines, "civic_disk_free_bytes", "Free bytes under the data folder.", r.disk_free)
        if r.ledger is not None:
            _single(lines, "civic_store_failures", "The ledger's consecutive failed batches (0 after a commit).", r.ledger.failures)
    if probe.settings is not None:
        processes = supervisor_processes(probe.settings.supervisor_status_path)
        if processes:
            _gauge(lines, "civic_restarts_total", "Restarts of each supervised process by `civic up`.", "counter")
            for name, p in sorted(processes.items()):
                lines.append(f'civic_restarts_total{{process="{name}"}} {p.restarts}')
    _gauge(lines, "civic_rejections_total", "Rejected messages by reason code.", "counter")
    for reason, n in sorted((await rejections_by_reason(probe)).items()):
        lines.append(f'civic_rejections_total{{reason="{reason}"}} {n}')
    return "\n".join(lines) + "\n"


async def rejections_by_reason(probe: HealthProbe) -> Counter[str]:
    counts: Counter[str] = Counter()
    if probe.nc is None or not probe.nc.is_connected:
        return counts
    try:
        info = await probe.nc.jetstream().stream_info(REJECTED, subjects_filter=REJECTED_SUBJECTS)
    except Exception:
        return counts
    for subject, n in (info.state.subjects or {}).items():
        counts[subject.split(".")[2]] += n
    return counts
