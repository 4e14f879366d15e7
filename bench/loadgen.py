"""A load generator in its own process: keep-alive HTTP/1.1 GETs over raw asyncio streams
(an HTTP client library would cost more than the server we measure), `concurrency`
connections per target, for `seconds`; prints JSON {target: {p50_ms, p99_ms, max_ms, rps, errors}}.

    python -m bench.loadgen PORT SECONDS CONCURRENCY TOKEN PATH [PATH ...]    (TOKEN: a reader's bearer token)
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def worker(port: int, path: str, token: str, until: float, latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
               "Connection: keep-alive\r\n\r\n").encode()
    while time.perf_counter() < until:
        start = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
        if not head.startswith(b"HTTP/1.1 200"):
            errors.append(1)
    writer.close()


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


ROUNDS = 5
"""Each target is measured in this many slices, the targets taking turns: a figure and its
baseline then see the same moments of a shared machine's load, not one of them its quiet minute."""


async def main(port: int, seconds: float, concurrency: int, token: str, paths: list[str]) -> dict[str, dict[str, float]]:
    latencies: dict[str, list[float]] = {path: [] for path in paths}
    errors: dict[str, list[int]] = {path: [] for path in paths}
    for _ in range(ROUNDS):
        for path in paths:  # one target at a time, so each figure is its own
            until = time.perf_counter() + seconds / ROUNDS
            await asyncio.gather(*(worker(port, path, token, until, latencies[path], errors[path]) for _ in range(concurrency)))
    results = {}
    for path, times in latencies.items():
        times.sort()
        results[path] = {"p50_ms": percentile(times, 0.5) * 1000, "p99_ms": percentile(times, 0.99) * 1000,
                         "max_ms": times[-1] * 1000, "rps": len(times) / seconds, "requests": len(times),
                         "errors": len(errors[path])}
    return results


if __name__ == "__main__":
    port, seconds, concurrency, token, *paths = sys.argv[1:]
    print(json.dumps(asyncio.run(main(int(port), float(seconds), int(concurrency), token, paths))))
