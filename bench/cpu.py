"""Where each event's CPU goes: every process's CPU time (user + system, all its threads) read
at a phase's start and end, per event, and the floor it sets on throughput.

Why CPU time and not wall time: on a shared 2-core machine the wall time of a phase moves with
the other load by 2-7x, while the CPU a process spends on an event is its own work. And it gives
a floor that no tuning of waits, batch sizes or overlaps can beat: if the processes of a pipeline
spend C µs of CPU per event between them, `cores` cores cannot carry more than cores x 1e6 / C
events per second. A target above that needs less work per event, not better scheduling.

Processes are read from /proc/<pid>/stat (utime + stime, in clock ticks: 10 ms on Linux, so a
figure is good to about 10 ms / events per process). Helpers the bench starts and reaps within
a phase (the load generator, the chain's hop) are read from their rusage once reaped
(getrusage(RUSAGE_CHILDREN) counts only children that have been waited for).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MANY_CORES = frozenset({"nats-server", "postgres"})
"""Processes whose work spreads over every core (Go's; PostgreSQL's server, a process per
connection). Every other process here is Python: its
own work runs under one GIL, so it carries at most 1e6 / (its us per event) events per second
whatever the core count (SQLite and the kernel release the GIL, which is why this is an estimate
of the bound rather than the bound itself)."""


def cpu_seconds(pid: int, proc: Path = Path("/proc")) -> float:
    """User + system CPU seconds a process (all its threads) has used so far."""
    # The command name (field 2) is in parentheses and may itself hold spaces or ')': the fields
    # that follow start after its last ')'. Field 3 (state) is then fields[0], so utime (14) and
    # stime (15) are fields[11] and fields[12]; ppid (4) is fields[1].
    fields = _stat_fields(pid, proc)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _stat_fields(pid: int, proc: Path) -> list[str]:
    stat = (proc / str(pid) / "stat").read_text()
    return stat[stat.rindex(")") + 2:].split()


def parent_of(pid: int, proc: Path = Path("/proc")) -> int:
    """A process's parent's pid (field 4 of /proc/<pid>/stat)."""
    return int(_stat_fields(pid, proc)[1])


def tree_seconds(pid: int, proc: Path = Path("/proc")) -> float:
    """User + system CPU seconds of a server and every process under it so far: the PostgreSQL
    server on this machine is a postmaster and a process per connection, which come and go within
    a phase. Its own time, its reaped children's (cutime + cstime: a backend that exited counts
    there in full), and each live child's own and reaped time; so a child that exits mid-phase
    moves from the live sum to the reaped one and the difference over the phase stays its work."""
    fields = _stat_fields(pid, proc)
    total = sum(int(f) for f in fields[11:15])
    for entry in proc.iterdir():
        if not entry.name.isdigit() or entry.name == str(pid):
            continue
        try:
            child = _stat_fields(int(entry.name), proc)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # gone between the listing and the read: its time is in the parent's cutime now
        if child[1] == str(pid):
            total += sum(int(f) for f in child[11:15])
    return total / CLOCK_TICKS


def reaped_children_seconds() -> float:
    """User + system CPU seconds of every child this process has reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Phase:
    """One phase's CPU, per process, and what it bounds."""
    name: str
    count: int = 0
    """Events (or requests) the phase carried: set by the caller once known."""
    unit: str = "event"
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    cores: int = os.cpu_count() or 1

    @property
    def us_per_unit(self) -> dict[str, float]:
        return {name: seconds * 1e6 / self.count for name, seconds in self.cpu_s.items()} if self.count else {}

    @property
    def us_per_unit_sum(self) -> float:
        return sum(self.us_per_unit.values())

    @property
    def floor(self) -> float:
        """The most units per second `cores` cores could carry at this much CPU per unit."""
        total = self.us_per_unit_sum
        return self.cores * 1e6 / total if total else 0.0

    @property
    def one_core(self) -> tuple[str, float]:
        """The Python process with the most CPU per unit, and the most units per second it could
        carry on the one core its GIL lets it use."""
        per = {who: us for who, us in self.us_per_unit.items() if who not in MANY_CORES and us > 0}
        if not per:
            return "", 0.0
        who = max(per, key=lambda name: per[name])
        return who, 1e6 / per[who]

    @property
    def bound(self) -> float:
        """The lower of the two bounds: all cores for all the work, one core for the busiest Python process."""
        who, one = self.one_core
        return min(self.floor, one) if who else self.floor

    @property
    def busiest(self) -> tuple[str, float]:
        """The process that spent the most CPU per unit, and how much."""
        per = self.us_per_unit
        return max(per.items(), key=lambda item: item[1]) if per else ("", 0.0)

    @property
    def cores_busy(self) -> float:
        """CPU seconds per wall second over the phase: 2.0 on 2 cores means the phase was CPU-bound
        (by its own work or a neighbour's); much less means it waited (round trips, pacing, polls)."""
        return sum(self.cpu_s.values()) / self.wall_s if self.wall_s else 0.0

    def as_json(self) -> dict[str, object]:
        name, us = self.busiest
        return {"phase": self.name, "count": self.count, "unit": self.unit, "wall_s": self.wall_s, "cores": self.cores,
                "cpu_s": self.cpu_s, "us_per_unit": self.us_per_unit, "us_per_unit_sum": self.us_per_unit_sum,
                "floor_per_s": self.floor, "one_core_bound_per_s": self.one_core[1], "bound_per_s": self.bound,
                "busiest": name, "busiest_us": us, "cores_busy": self.cores_busy}


class Meter:
    """Phases measured on this process and the ones `processes()` names at the phase's start
    ({name: pid}), and the servers `trees()` names, each with every process under it."""

    def __init__(self, processes: Callable[[], dict[str, int]] = dict, cores: int | None = None,
                 trees: Callable[[], dict[str, int]] = dict):
        self.processes, self.trees = processes, trees
        self.cores = cores or os.cpu_count() or 1
        self.phases: list[Phase] = []

    @contextmanager
    def phase(self, name: str, unit: str = "event", own: str = "bench", reaped: str = "") -> Iterator[Phase]:
        """Measure the block; the caller sets `count` on the yielded Phase. `own` names this
        process's part in the phase (the publisher, the rebuild...); `reaped` the helpers the block
        starts and waits for (their CPU is counted once they are reaped)."""
        readers = {who: (pid, cpu_seconds) for who, pid in {own: os.getpid(), **self.processes()}.items()} | \
            {who: (pid, tree_seconds) for who, pid in self.trees().items()}
        before = {who: seconds(pid) for who, (pid, seconds) in readers.items()}
        children, start = reaped_children_seconds(), time.perf_counter()
        phase = Phase(name, unit=unit, cores=self.cores)
        yield phase
        phase.wall_s = time.perf_counter() - start
        for who, (pid, seconds) in readers.items():
            try:
                phase.cpu_s[who] = seconds(pid) - before[who]
            except FileNotFoundError:  # a process gone mid-phase: its CPU is not known, so it is not guessed
                continue
        if reaped:
            phase.cpu_s[reaped] = reaped_children_seconds() - children
        self.phases.append(phase)

    def __getitem__(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)
