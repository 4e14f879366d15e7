"""GET /metrics in the Prometheus text format: what the pipeline has done and how far behind
each consumer is. Read from NATS and the read model on each scrape (cheap: stream and consumer
info, one SELECT)."""

from __future__ import annotations

from collections import Counter

from dashboards.health import HealthProbe
from schemas.topology import LEDGER, REJECTED, REJECTED_SUBJECTS


async def render(probe: HealthProbe, read_model_position: int | None) -> str:
    health = await probe.check()
    lines = [
        "# HELP civic_up 1 when NATS is reachable and the streams exist.",
        "# TYPE civic_up gauge",
        f"civic_up {int(health.status == 'ok')}",
        "# HELP civic_ledger_alarm 1 while the relay's ledger alarm is raised (the stream disagrees with the store).",
        "# TYPE civic_ledger_alarm gauge",
        f"civic_ledger_alarm {int(health.status == 'faulty')}",
        "# HELP civic_stream_messages Messages held by each stream.",
        "# TYPE civic_stream_messages gauge",
    ]
    last = {}
    for st in health.streams:
        lines.append(f'civic_stream_messages{{stream="{st.name}"}} {st.messages}')
        last[st.name] = st.last_sequence
    lines += ["# HELP civic_events_processed_total Events through each stage (stream sequences).",
              "# TYPE civic_events_processed_total counter"]
    for name, seq in last.items():
        lines.append(f'civic_events_processed_total{{stream="{name}"}} {seq}')
    lines += ["# HELP civic_consumer_lag Messages a consumer has yet to process.", "# TYPE civic_consumer_lag gauge"]
    if health.ledger_consumer_pending is not None:
        lines.append(f'civic_consumer_lag{{consumer="ledger"}} {health.ledger_consumer_pending}')
    if read_model_position is not None and LEDGER in last:
        lines.append(f'civic_consumer_lag{{consumer="dashboard"}} {max(0, last[LEDGER] - read_model_position)}')
    lines += ["# HELP civic_rejections_total Rejected messages by reason code.", "# TYPE civic_rejections_total counter"]
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
