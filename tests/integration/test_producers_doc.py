"""docs/producers.md runs as written: its Python blocks, in order, against a real pipeline."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from schemas import topology
from tests.support import caught_up, read_stream, stream_count

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


async def test_the_four_orders_example_runs_and_the_ledger_accepts_every_event(js, pipeline, settings, nats_server, tmp_path):
    text = (ROOT / "docs" / "producers.md").read_text(encoding="utf-8")
    code = "\n\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    assert 'URL = "nats://127.0.0.1:4222"' in code and 'CREDS = "producer-district-app.nk"' in code
    # As the page says: the system's own key, from `civic producer add district-app --org '*'`.
    from adapters.credentials import Credentials

    Credentials(nats_server.credentials.folder).add_producer("district-app", ["*"], tmp_path / "producer-district-app.nk")
    nats_server.reload()
    script = tmp_path / "example.py"
    script.write_text(code.replace('URL = "nats://127.0.0.1:4222"', f'URL = "{nats_server.plain_url}"'), encoding="utf-8")
    done = await asyncio.to_thread(subprocess.run, [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 12 and all(line.startswith("accepted ") for line in lines), done.stdout

    await caught_up(settings, js, intake=12)
    assert await stream_count(js, topology.INTAKE) == await stream_count(js, topology.LEDGER) == 12
    ledger = [msgspec.json.decode(m.data) for m in await read_stream(js, topology.LEDGER, topology.LEDGER_SUBJECTS)]
    assert [e["type"] for e in ledger][-7:] == ["TicketRaised", "TicketDispatched", "TicketAccepted", "TicketProgressNoted",
                                                "TicketResolved", "TicketRated", "TicketClosed"]
    assert await stream_count(js, topology.REJECTED) == 0
