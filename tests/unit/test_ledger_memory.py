"""What the ledger keeps in memory so that a new event does not read history (application/ledger.py):
the org tree pinned (bounded by the tree), one look-up per batch for the aggregates it names,
tickets in the library's bounded LRU cache; and a batch that is not committed leaves none of it
behind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from application.ledger import Ledger
from civic_kit import TREE, Desk
from domain.aggregate import aggregate_id


def counting_reads(ledger: Ledger) -> list[Any]:
    """Record every aggregate the ledger reads from the store one at a time."""
    reads: list[Any] = []
    original: Callable[..., Any] = ledger.repository.get

    def get(key: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(key)
        return original(key, *args, **kwargs)

    ledger.repository.get = get  # type: ignore[method-assign]
    return reads


def test_new_tickets_and_the_org_tree_cost_no_read_each(tree: Desk) -> None:
    reads = counting_reads(tree.ledger)
    lookups: list[int] = []
    recorder: Any = tree.ledger.recorder
    original = recorder.stored_aggregates
    recorder.stored_aggregates = lambda ids: lookups.append(len(ids)) or original(ids)

    tree.ok(*(tree.ev("TicketRaised", org=org, ticket_id=f"T{org}{i}") for i in range(20) for org in ("c1", "g1", "h1")))
    assert reads == [] and len(lookups) == 1  # 60 new tickets at 3 units: one IN list, no read one at a time
    assert len(tree.ledger.org_units) == len(TREE)  # the tree stays in memory, all of it and no more


def test_a_ticket_only_in_the_store_is_found(ledger_files: Callable[[], Desk]) -> None:
    first = ledger_files()
    first.build_tree()
    first.ok(first.ev("TicketRaised", ticket_id="T1"))
    again = ledger_files()  # a restart: empty caches, the store holds T1
    again.parent = dict(first.parent)
    again.n, again.seq = first.n, first.seq
    assert again.ledger.org_units == {}
    again.refused(again.ev("TicketRaised", ticket_id="T1", event_id="another-id"), "ticket_exists")
    again.ok(again.ev("TicketDispatched", ticket_id="T1", to_unit="c1"))


def test_the_org_cache_is_bounded_by_the_tree_not_by_history(tree: Desk) -> None:
    for day in range(30):
        tree.ok(*(tree.ev("TicketRaised", org="g1", ticket_id=f"D{day}-{i}") for i in range(40)))
    assert len(tree.ledger.org_units) == len(TREE)
    cache: Any = tree.ledger.repository.cache
    assert cache is not None and len(cache.cache) <= int(tree.ledger.env["AGGREGATE_CACHE_MAXSIZE"])


def test_a_batch_not_committed_leaves_no_unit_and_no_path(tree: Desk) -> None:
    ledger = tree.ledger
    pending = ledger.check([tree.msg(tree.ev("OrgUnitRegistered", org="g9", kind="grid", parent_id="c1"))])
    assert pending.outcome.rejections == []
    assert aggregate_id("org", "g9") in ledger.org_units  # the checked batch's unit is in memory...
    ledger.discard()  # ...and the batch is dropped (the consumer failed before the commit)
    assert ledger.org_units == {} and ledger.org_paths == {}
    tree.parent.pop("g9")
    raised = tree.ev("TicketRaised", org="g9", ticket_id="T9")
    rejection = tree.refused(tree.msg(raised, subject=f"civic.intake.TicketRaised.d1.t1.c1.g9"), "unknown_org")
    assert rejection.event_id == raised.event_id
    tree.ok(tree.ev("TicketRaised", org="g1", ticket_id="T10"))  # the tree is read again from the store


def test_a_move_reaches_the_paths_in_memory(tree: Desk) -> None:
    tree.ok(tree.ev("TicketRaised", org="g1", ticket_id="T1"))
    assert tree.ledger.org_paths.get("g1") == ("d1", "t1", "c1", "g1")
    tree.ok(tree.ev("OrgUnitMoved", org="c1", new_parent_id="t2"))
    assert tree.ledger.org_paths.get("g1") in (None, ("d1", "t2", "c1", "g1"))
    tree.ok(tree.ev("TicketRaised", org="g1", ticket_id="T2"))
    assert tree.ledger.org_paths["g1"] == ("d1", "t2", "c1", "g1")


@pytest.mark.parametrize("size", [1, 3])
def test_the_library_cache_keeps_its_bound(keys: Any, size: int) -> None:
    from civic_kit import MEMORY_ENV

    desk = Desk(Ledger(env={**MEMORY_ENV, "AGGREGATE_CACHE_MAXSIZE": str(size)}, keys=keys), keys)
    desk.build_tree()
    desk.ok(*(desk.ev("TicketRaised", org="g1", ticket_id=f"T{i}") for i in range(10)))
    cache: Any = desk.ledger.repository.cache
    assert len(cache.cache) <= size
    desk.ok(*(desk.ev("TicketDispatched", org="g1", ticket_id=f"T{i}", to_unit="g1") for i in range(10)))
