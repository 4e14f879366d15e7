"""The layers, checked from the imports: which top-level package may import which (the table
docs/architecture.md shows), read with `ast` from every module of ours, imports inside functions
included, and no cycle between packages. A failure names the file and line."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Low to high: each package may import itself and the packages listed, nothing else of ours.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "config": frozenset(),
    "schemas": frozenset(),
    "domain": frozenset({"schemas"}),
    "adapters": frozenset({"config", "schemas"}),
    "application": frozenset({"config", "schemas", "domain", "adapters"}),
    "projections": frozenset({"config", "schemas", "adapters"}),
    "producers": frozenset({"config", "schemas", "adapters", "projections"}),
    "consumers": frozenset({"config", "schemas", "adapters", "application"}),
    "dashboards": frozenset({"config", "schemas", "adapters", "projections"}),
    "audit": frozenset({"config", "schemas", "adapters", "projections"}),
    # The benchmark drives the roles as processes (as `civic up` would), so it needs no consumers/.
    "bench": frozenset({"config", "schemas", "adapters", "projections", "producers", "audit"}),
    "civic": frozenset({"config", "schemas", "domain", "adapters", "application", "projections", "producers",
                        "consumers", "dashboards", "audit", "bench"}),
}
OURS = frozenset(MAY_IMPORT)

# Libraries the inner layers must not touch: the contract is pure names and shapes, the domain
# knows no database or bus, and config is a leaf that acts on nothing.
NO_INFRASTRUCTURE = frozenset({"sqlite3", "nats", "faststream", "litestar", "uvicorn", "psycopg", "httpx"})
MAY_NOT_USE: dict[str, frozenset[str]] = {
    "config": NO_INFRASTRUCTURE | {"eventsourcing", "msgspec"},
    "schemas": NO_INFRASTRUCTURE | {"eventsourcing"},
    "domain": NO_INFRASTRUCTURE,
}


def imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, top-level name) of every absolute import anywhere in a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def violations(package: str, path: str, source: str) -> list[str]:
    """What in one module of `package` breaks the table, as `file:line: ...`."""
    out = []
    for line, name in imported(ast.parse(source, path)):
        if name in OURS and name != package and name not in MAY_IMPORT[package]:
            out.append(f"{path}:{line}: {package}/ may not import {name}/")
        elif name in MAY_NOT_USE.get(package, ()):
            out.append(f"{path}:{line}: {package}/ may not use {name}")
    return out


def modules() -> Iterator[tuple[str, Path]]:
    for package in sorted(OURS):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "node_modules" not in path.parts:
                yield package, path


def package_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {p: set() for p in OURS}
    for package, path in modules():
        for _, name in imported(ast.parse(path.read_text(), str(path))):
            if name in OURS and name != package:
                edges[package].add(name)
    return edges


def cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of the graph, as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


# -- the rules hold for our code -------------------------------------------------------------


def test_every_package_is_in_the_table() -> None:
    ours = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert ours == OURS, f"add {sorted(ours - OURS)} to MAY_IMPORT (and docs/architecture.md); drop {sorted(OURS - ours)}"


def test_every_import_follows_the_table() -> None:
    found = [v for package, path in modules()
             for v in violations(package, str(path.relative_to(ROOT)), path.read_text())]
    assert not found, "imports against the layers (docs/architecture.md):\n" + "\n".join(found)


def test_no_cycle_between_packages() -> None:
    assert cycle(package_edges()) is None
    assert cycle(MAY_IMPORT) is None, "the table itself must be a one-way order"


def test_only_the_composition_root_imports_the_consumers() -> None:
    assert {p for p, edges in package_edges().items() if "consumers" in edges} <= {"civic"}
    assert not any("civic" in allowed for allowed in MAY_IMPORT.values())


def test_the_document_shows_the_table_the_test_enforces() -> None:
    doc = (ROOT / "docs/architecture.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)/` \| ([^|]*) \|", doc, re.M))
    shown = {package: frozenset(re.findall(r"`(\w+)/`", cell)) for package, cell in rows.items()}
    assert shown == MAY_IMPORT


# -- the checks can fail ---------------------------------------------------------------------

BAD = [
    ("domain", "from adapters.keys import KeyStore\n", "domain/ may not import adapters/"),
    ("domain", "import sqlite3\n", "domain/ may not use sqlite3"),
    ("schemas", "def f():\n    import nats\n", "schemas/ may not use nats"),
    ("config", "def f():\n    from civic.cli import app\n", "config/ may not import civic/"),
    ("dashboards", "from producers.gateway import Gateway\n", "dashboards/ may not import producers/"),
    ("projections", "from consumers import relay\n", "projections/ may not import consumers/"),
    ("bench", "class C:\n    def m(self):\n        from civic.natsserver import NatsServer\n", "bench/ may not import civic/"),
    ("application", "import consumers.ledger\n", "application/ may not import consumers/"),
]


@pytest.mark.parametrize(("package", "source", "message"), BAD)
def test_a_bad_import_is_named_with_its_line(package: str, source: str, message: str) -> None:
    lines = source.count("\n")
    assert violations(package, f"{package}/bad.py", source) == [f"{package}/bad.py:{lines}: {message}"]


@pytest.mark.parametrize(("package", "source"), [
    ("domain", "import schemas as s\nfrom domain.refusal import require\nfrom eventsourcing.domain import Aggregate\n"),
    ("civic", "def f():\n    from consumers.ledger import LedgerWorker\n    from bench.run import run\n"),
    ("adapters", "from config import Settings\nfrom schemas.topology import INTAKE\nimport nats\n"),
    ("producers", "from . import sdk\nfrom projections.event_index import event_status\n"),
])
def test_an_allowed_import_passes(package: str, source: str) -> None:
    assert violations(package, f"{package}/ok.py", source) == []


def test_a_cycle_is_found() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
