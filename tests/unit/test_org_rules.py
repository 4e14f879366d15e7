"""OrgUnit rules through Ledger.process: registration, rename, move, grid workers."""

from __future__ import annotations

import pytest

from civic_kit import TREE, UNIT_OF_KIND, Desk
from domain.org import ALLOWED_PARENTS, OrgUnit

KINDS = sorted(ALLOWED_PARENTS)


def register(desk: Desk, org: str, kind: str, parent: str | None, **kw: object):
    return desk.ev("OrgUnitRegistered", org=org, kind=kind, name=f"unit {org}", parent_id=parent, **kw)


# -- registration ------------------------------------------------------------------------------


def test_standard_tree_is_stored_with_paths(tree: Desk) -> None:
    stored = tree.stored_events()
    assert [e.org_id for e in stored] == [org for org, _, _ in TREE]
    by_id = {e.org_id: e for e in stored}
    assert by_id["k1"].org_path == ("d1", "t1", "v1", "h1", "k1")
    assert by_id["e1"].org_path == ("z1", "w1", "p1", "e1")
    assert by_id["d1"].org_path == ("d1",)
    unit = tree.get("org", "g1")
    assert isinstance(unit, OrgUnit)
    assert (unit.org_id, unit.kind, unit.parent_id, unit.name, unit.workers) == ("g1", "grid", "c1", "unit g1", set())


def test_every_kind_under_every_parent_kind(tree: Desk) -> None:
    """Accepted exactly where ALLOWED_PARENTS says; everywhere else bad_parent."""
    wrong = []
    expected_allowed = {
        "district": set(), "zone": set(), "town": {"district"}, "street": {"district"},
        "community": {"town", "street"}, "village": {"town", "street"}, "hamlet": {"village"},
        "grid": {"community", "village", "hamlet", "park_committee"},
        "work_committee": {"zone", "district"}, "park_committee": {"work_committee", "zone"},
        "enterprise": {"park_committee", "street", "town"},
        "party_branch": {"community", "village", "hamlet", "street", "town", "park_committee", "enterprise", "work_committee"},
        "council": {"village", "hamlet", "community", "park_committee"},
    }
    assert sorted(expected_allowed) == KINDS
    for i, kind in enumerate(KINDS):
        for j, parent_kind in enumerate(sorted(UNIT_OF_KIND)):
            outcome = tree.send(register(tree, f"n{i}x{j}", kind, UNIT_OF_KIND[parent_kind]))
            got = "accepted" if outcome.accepted == 1 else outcome.rejections[0].code
            want = "accepted" if parent_kind in expected_allowed[kind] else "bad_parent"
            if got != want:
                wrong.append((kind, parent_kind, got))
    assert wrong == []


@pytest.mark.parametrize("kind", KINDS)
def test_only_districts_and_zones_may_be_roots(desk: Desk, kind: str) -> None:
    event = register(desk, "r0", kind, None)
    if kind in ("district", "zone"):
        desk.ok(event)
        assert desk.get("org", "r0").parent_id is None
    else:
        desk.refused(event, "bad_parent")


def test_unknown_parent_is_bad_parent(tree: Desk) -> None:
    tree.refused(register(tree, "c9", "community", "t9", ), "bad_parent")


def test_registering_twice_is_org_exists(tree: Desk) -> None:
    tree.refused(register(tree, "c1", "community", "t1"), "org_exists")
    tree.refused(register(tree, "c1", "community", "t2"), "org_exists")  # even elsewhere
    tree.refused(register(tree, "d1", "district", None), "org_exists")


def test_registering_twice_in_one_batch(desk: Desk) -> None:
    outcome = desk.send(register(desk, "d1", "district", None), register(desk, "d1", "district", None))
    assert outcome.accepted == 1
    assert [r.code for r in outcome.rejections] == ["org_exists"]


def test_a_unit_and_its_children_in_one_batch(desk: Desk) -> None:
    desk.ok(register(desk, "d1", "district", None), register(desk, "t1", "town", "d1"), register(desk, "c1", "community", "t1"))
    assert desk.get("org", "c1").parent_id == "t1"


def test_registration_subject_must_be_parent_path_plus_id(tree: Desk) -> None:
    e = register(tree, "c9", "community", "t1")
    tree.refused(tree.msg(e, subject="civic.intake.OrgUnitRegistered.t1.c9"), "subject_mismatch")
    tree.refused(tree.msg(e, subject="civic.intake.OrgUnitRegistered.d1.t2.c9"), "subject_mismatch")
    tree.refused(tree.msg(e, subject="civic.intake.OrgUnitRegistered.c9"), "subject_mismatch")
    tree.ok(tree.msg(e, subject="civic.intake.OrgUnitRegistered.d1.t1.c9"))


def test_root_subject_path_is_its_own_id(desk: Desk) -> None:
    e = register(desk, "d1", "district", None)
    desk.refused(desk.msg(e, subject="civic.intake.OrgUnitRegistered.x.d1"), "subject_mismatch")
    desk.ok(desk.msg(e, subject="civic.intake.OrgUnitRegistered.d1"))


@pytest.mark.parametrize("role", ["resident", "dispatcher", "grid_worker", "council", "mediator", "auditor"])
def test_registration_role_not_allowed(desk: Desk, role: str) -> None:
    desk.refused(register(desk, "d1", "district", None, role=role), "role_not_allowed")


def test_registration_by_unit_is_allowed(desk: Desk) -> None:
    desk.ok(register(desk, "d1", "district", None, role="unit"))


# -- rename --------------------------------------------------------------------------------------


def test_rename(tree: Desk) -> None:
    tree.ok(tree.ev("OrgUnitRenamed", org="c1", name="Longxiang East"))
    tree.ok(tree.ev("OrgUnitRenamed", org="c1", name="Longxiang", role="unit"))
    assert tree.get("org", "c1").name == "Longxiang"


@pytest.mark.parametrize("role", ["resident", "dispatcher", "grid_worker", "council"])
def test_rename_role_not_allowed(tree: Desk, role: str) -> None:
    tree.refused(tree.ev("OrgUnitRenamed", org="c1", role=role), "role_not_allowed")


def test_rename_of_unknown_unit(tree: Desk) -> None:
    tree.refused(tree.ev("OrgUnitRenamed", org="c9"), "unknown_org")


# -- move ------------------------------------------------------------------------------------------


def test_move_changes_the_path_of_the_subtree(tree: Desk) -> None:
    tree.raise_ticket("T1", org="g1")
    tree.ok(tree.msg(tree.ev("OrgUnitMoved", org="c1", new_parent_id="t2"), subject="civic.intake.OrgUnitMoved.d1.t1.c1"))
    assert tree.get("org", "c1").parent_id == "t2"
    # The move itself is stored with the path it happened at.
    assert tree.stored_events()[-1].org_path == ("d1", "t1", "c1")

    # Events at the moved unit and below must now name the new path...
    for org in ("c1", "g1"):
        old = "civic.intake.OrgUnitRenamed.d1.t1.c1" + (".g1" if org == "g1" else "")
        tree.refused(tree.msg(tree.ev("OrgUnitRenamed", org=org), subject=old), "subject_mismatch")
    accept = tree.ev("TicketDispatched", org="g1", to_unit="g1")
    tree.refused(tree.msg(accept, subject="civic.intake.TicketDispatched.d1.t1.c1.g1"), "subject_mismatch")
    tree.ok(tree.msg(accept, subject="civic.intake.TicketDispatched.d1.t2.c1.g1"))
    assert tree.stored_events()[-1].org_path == ("d1", "t2", "c1", "g1")
    # ...and a new child registers under the new path.
    tree.ok(tree.msg(register(tree, "g2", "grid", "c1"), subject="civic.intake.OrgUnitRegistered.d1.t2.c1.g2"))
    # Units outside the subtree keep theirs.
    tree.ok(tree.msg(tree.ev("OrgUnitRenamed", org="v1"), subject="civic.intake.OrgUnitRenamed.d1.t1.v1"))


def test_move_to_street_is_allowed(tree: Desk) -> None:
    tree.ok(tree.ev("OrgUnitMoved", org="c1", new_parent_id="s1"))
    assert tree.path("g1") == ("d1", "s1", "c1", "g1")


@pytest.mark.parametrize(("org", "new_parent"), [
    ("c1", "t9"),  # unknown
    ("c1", "c2"),  # a community may not hold a community
    ("c1", "g1"),  # nor sit under its own grid (a grid holds nothing)
    ("c1", "c1"),  # nor under itself
    ("g1", "t2"),  # a grid may not sit under a town
    ("t1", "z1"),  # a town may not sit under a zone
    ("d1", "z1"),  # a root stays a root
])
def test_move_to_bad_parent(tree: Desk, org: str, new_parent: str) -> None:
    tree.refused(tree.ev("OrgUnitMoved", org=org, new_parent_id=new_parent), "bad_parent")
    assert tree.get("org", org).parent_id == dict((o, p) for o, _, p in TREE)[org]


def test_move_of_unknown_unit(tree: Desk) -> None:
    tree.refused(tree.ev("OrgUnitMoved", org="c9", new_parent_id="t2"), "unknown_org")


@pytest.mark.parametrize("role", ["resident", "dispatcher", "grid_worker"])
def test_move_role_not_allowed(tree: Desk, role: str) -> None:
    tree.refused(tree.ev("OrgUnitMoved", org="c1", new_parent_id="t2", role=role), "role_not_allowed")


def test_kind_graph_is_acyclic() -> None:
    """With the real kind table a cycle can never be built; the move_cycle rule is a second guard."""
    seen: dict[str, int] = {}

    def depth(kind: str, trail: tuple[str, ...] = ()) -> int:
        assert kind not in trail, trail
        if kind not in seen:
            seen[kind] = 1 + max((depth(p, (*trail, kind)) for p in ALLOWED_PARENTS[kind] if p), default=0)
        return seen[kind]

    assert all(depth(k) >= 1 for k in KINDS)


def test_move_cycle(tree: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend towns may sit under communities and under towns, so that a cycle is expressible.
    monkeypatch.setitem(ALLOWED_PARENTS, "town", frozenset({"district", "community", "town"}))
    tree.refused(tree.ev("OrgUnitMoved", org="t1", new_parent_id="c1"), "move_cycle")  # its own child
    tree.refused(tree.ev("OrgUnitMoved", org="t1", new_parent_id="t1"), "move_cycle")  # itself
    assert tree.get("org", "t1").parent_id == "d1"
    tree.ok(tree.ev("OrgUnitMoved", org="t1", new_parent_id="c2"))  # another subtree: fine
    assert tree.path("g1") == ("d1", "t2", "c2", "t1", "c1", "g1")
    # and now t2 cannot go under t1, which sits below it
    tree.refused(tree.ev("OrgUnitMoved", org="t2", new_parent_id="t1"), "move_cycle")


def test_move_then_events_in_the_same_batch_use_the_new_path(tree: Desk) -> None:
    move = tree.msg(tree.ev("OrgUnitMoved", org="c1", new_parent_id="t2"))
    rename = tree.msg(tree.ev("OrgUnitRenamed", org="g1"), subject="civic.intake.OrgUnitRenamed.d1.t2.c1.g1")
    tree.ok(move, rename)


# -- grid workers --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["system", "unit", "dispatcher"])
def test_grid_worker_assigned(tree: Desk, role: str) -> None:
    tree.ok(tree.ev("GridWorkerAssigned", org="g1", worker_id="w-7", role=role))
    tree.ok(tree.ev("GridWorkerAssigned", org="g1", worker_id="w-8"))
    assert tree.get("org", "g1").workers == {"w-7", "w-8"}


@pytest.mark.parametrize("org", ["c1", "h1", "p1", "d1", "k1"])
def test_grid_worker_to_non_grid(tree: Desk, org: str) -> None:
    tree.refused(tree.ev("GridWorkerAssigned", org=org), "not_a_grid")


@pytest.mark.parametrize("role", ["resident", "grid_worker", "receiver", "council"])
def test_grid_worker_role_not_allowed(tree: Desk, role: str) -> None:
    tree.refused(tree.ev("GridWorkerAssigned", org="g1", role=role), "role_not_allowed")


def test_grid_worker_to_unknown_unit(tree: Desk) -> None:
    tree.refused(tree.ev("GridWorkerAssigned", org="g9"), "unknown_org")
