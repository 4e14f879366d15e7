import pytest
@pytest.mark.parametrize("stage", ["raised","dispatched","accepted","returned","resolved","rated","reopened","closed","voided"])
def test_tree(tree, stage):
    assert tree.path("k1") == ("d1", "t1", "v1", "h1", "k1")
    tree.drive_ticket(stage)
