"""Node naming and reference resolution."""

from __future__ import annotations

import pytest

from chassisd.errors import NodeRefError
from chassisd.model import NodeRecord
from chassisd.noderef import NamedNode, node_name, resolve


def named(chassis: str, template: str, cartridge: int, node: int = 1) -> NamedNode:
    record = NodeRecord(id=f"c{cartridge}n{node}", cartridge=cartridge, node=node)
    return NamedNode(node_name(template, chassis, record), chassis, record)


FARM = [named("moonshot-1", "c1n{cartridge}", c) for c in (1, 2, 43)] + [
    named("moonshot-2", "{chassis}-{id}", c) for c in (1, 43, 44)
]


def test_template_fields() -> None:
    """{chassis}, {cartridge}, {node} and {id} fill in; the default names chassis and id."""
    record = NodeRecord(id="c43n1", cartridge=43, node=1)
    assert node_name("m1c{cartridge}", "x", record) == "m1c43"
    assert node_name("{chassis}-{id}", "moonshot-1", record) == "moonshot-1-c43n1"
    assert node_name("{chassis}-c{cartridge}-{node}", "a", record) == "a-c43-1"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("c1n43", "moonshot-1/c43n1"),  # a name (template c1n{cartridge})
        ("moonshot-2-c43n1", "moonshot-2/c43n1"),
        ("moonshot-2/C43N1", "moonshot-2/c43n1"),  # chassis/id, any case
        ("c44n1", "moonshot-2/c44n1"),  # a native id only one chassis has
        ("c2n1", "moonshot-1/c2n1"),  # the name c1n2 is another node's; c2n1 is one node
    ],
)
def test_resolve(reference: str, expected: str) -> None:
    """CHASSIS/ID structurally; otherwise a name or native id that names one node."""
    assert resolve(reference, FARM).ref == expected


def test_a_name_that_is_another_nodes_native_id_is_ambiguous() -> None:
    """c1n1 is the name of moonshot-1/c1n1 and the native id of moonshot-2/c1n1: both are
    listed, nothing is chosen silently."""
    with pytest.raises(NodeRefError, match="ambiguous") as info:
        resolve("c1n1", FARM)
    assert info.value.candidates == ("c1n1 (moonshot-1/c1n1)", "moonshot-2-c1n1 (moonshot-2/c1n1)")


def test_chassis_slash_id_never_matches_a_name_containing_a_slash() -> None:
    """A node on chassis x whose (old-style) name is "moonshot-1/c43n1" is not what
    moonshot-1/c43n1 means: the reference is taken apart and goes to moonshot-1's c43n1."""
    record = NodeRecord(id="c5n1", cartridge=5, node=1)
    decoy = NamedNode("moonshot-1/c43n1", "x", record)
    assert resolve("moonshot-1/c43n1", [decoy, *FARM]).ref == "moonshot-1/c43n1"
    with pytest.raises(NodeRefError, match="chassis 'moonshot-1' has no node 'c99n1'"):
        resolve("moonshot-1/c99n1", [decoy, *FARM])


def test_ambiguous_native_id_lists_candidates() -> None:
    """c43n1 is on both chassis: the error lists both and suggests CHASSIS/ID."""
    with pytest.raises(NodeRefError) as info:
        resolve("c43n1", FARM)
    assert info.value.candidates == (
        "c1n43 (moonshot-1/c43n1)",
        "moonshot-2-c43n1 (moonshot-2/c43n1)",
    )
    assert "CHASSIS/ID" in str(info.value)


def test_unknown_reference_suggests_close_names() -> None:
    """A reference that matches nothing says so and offers near matches."""
    with pytest.raises(NodeRefError, match="no node matches 'c1n44'") as info:
        resolve("c1n44", FARM)
    assert "c1n43" in info.value.candidates


def test_unknown_chassis_lists_chassis() -> None:
    """CHASSIS/ID with an unknown chassis lists the chassis there are."""
    with pytest.raises(NodeRefError, match="moonshot-1, moonshot-2"):
        resolve("moonshot-9/c1n1", FARM)


def test_a_native_id_typo_suggests_chassis_slash_ids() -> None:
    """A typo in a native id suggests the CHASSIS/ID of close ids (on every chassis that has
    them), not only node names."""
    with pytest.raises(NodeRefError, match="no node matches 'c43n2'") as info:
        resolve("c43n2", FARM)
    assert {"moonshot-1/c43n1", "moonshot-2/c43n1"} <= set(info.value.candidates)
    assert "did you mean: moonshot-1/c43n1" in str(info.value)
