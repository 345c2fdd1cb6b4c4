"""Names dnsmasq and Kubernetes can use: rendered names, templates, device ids, and the poll
boundary that refuses a hostile id."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from chassisd.config import load_config
from chassisd.driver import ChassisTarget, Credentials, Driver
from chassisd.errors import ConfigError, ParseError
from chassisd.model import Feature, Inventory, MacAddress, NodeRecord
from chassisd.names import device_id_problem, label_problem, template_problem
from chassisd.noderef import NamedNode, node_name
from chassisd.poller import poll_chassis
from chassisd.reconcile import plan_pools
from chassisd.registry import Registry
from tests.unit.test_config import GOOD
from tests.unit.test_reconcile import POOLS, config


@pytest.mark.parametrize(
    "text", ["c1n5", "moonshot-1-c43n1", "m1c1n1", "a", "1-1", "x" * 63, "4x", "h40"]
)
def test_valid_labels(text: str) -> None:
    """DNS labels dnsmasq reads as host names pass."""
    assert label_problem(text) == ""


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("4", "lease time"),  # dnsmasq: a lease time, no host name
        ("40h", "lease time"),
        ("10M", "DNS label"),
        ("infinite", "keyword"),
        ("ignore", "keyword"),
        ("node 3", "DNS label"),  # dnsmasq: "bad DHCP host name", the line is dropped
        ("node.example.com", "DNS label"),  # an FQDN: dnsmasq cuts it to its first label
        ("a,b", "DNS label"),
        ("a\nb", "DNS label"),
        ("m1/c1n1", "DNS label"),
        ("C1N1", "DNS label"),
        ("-c1", "DNS label"),
        ("c1-", "DNS label"),
        ("", "empty"),
        ("x" * 64, "64 characters"),
    ],
)
def test_invalid_labels(text: str, why: str) -> None:
    """Anything dnsmasq would misread, drop or cut, or Kubernetes refuse as a node name, is
    refused with the reason."""
    assert why in label_problem(text)


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{cartridge}", "'1'"),
        ("{cartridge}h", "'1h'"),
        ("node {cartridge}", "'node 1'"),
        ("{id}.farm.example", "'c1n1.farm.example'"),
        ("-{id}", "'-c1n1'"),
        ("M1C{cartridge}", "'M1C1'"),
    ],
)
def test_template_problem_shows_the_example_rendering(template: str, rendered: str) -> None:
    """A template that cannot give valid names is refused, with what it renders."""
    assert f"renders {rendered} for chassis moonshot-1" in template_problem(template)


def test_device_ids() -> None:
    """Ids devices really use pass; ids that could carry text into DHCP data or a terminal
    do not."""
    for good in ("c43n1", "1", "System.Embedded.1", "437XR1138R2", "Self"):
        assert device_id_problem(good) == ""
    for hostile in ("1,10.0.0.1,gateway-hijack", "c1n1\n02:00:00:00:00:01", "\x1b[2Jc1n1", ""):
        assert device_id_problem(hostile)


def test_id_field_renders_lower_case_with_dashes() -> None:
    """``{id}`` is a valid label piece even for a Dell-style id."""
    record = NodeRecord(id="System.Embedded.1")
    assert node_name("{chassis}-{id}", "bmc-7", record) == "bmc-7-system-embedded-1"


@pytest.mark.parametrize(
    ("old", "new", "path", "reason"),
    [
        ('"c1n{cartridge}"', '"{cartridge}"', "spec.nodeNameTemplate", "renders '1'"),
        ('"c1n{cartridge}"', '"{cartridge}h"', "spec.nodeNameTemplate", "lease time"),
        ('"c1n{cartridge}"', '"c1/{id}"', "spec.nodeNameTemplate", "renders 'c1/c1n1'"),
        ("spec: {catchAll: true}", 'spec: {catchAll: true, hostnameTemplate: "node {node}"}',
         "spec.hostnameTemplate", "renders 'node 1'"),
    ],
)  # fmt: skip
def test_templates_are_checked_where_declared(
    tmp_path: Path, old: str, new: str, path: str, reason: str
) -> None:
    """A template that renders an invalid name is a config error naming the field, with an
    example rendering."""
    assert old in GOOD
    file = tmp_path / "c.yaml"
    file.write_text(GOOD.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert info.value.path == path
    assert reason in str(info.value)


class HostileDriver(Driver):
    """Reports one node whose id tries to add a hostsfile line."""

    name: ClassVar[str] = "hostile"
    features: ClassVar[frozenset[Feature]] = frozenset({Feature.INVENTORY})
    node_id: ClassVar[str] = ""

    def inventory(self) -> Inventory:
        node = NodeRecord(id=self.node_id, macs=(MacAddress("02:00:00:00:00:07"),))
        return Inventory(self.target.name, self.name, (node,), datetime.now(UTC))


@pytest.mark.parametrize(
    "node_id",
    ["1\n02:00:00:00:00:01,10.0.0.1,gateway-hijack,infinite", "1,10.0.0.1", "\x1b]0;pwned\x07"],
)
def test_a_hostile_node_id_is_a_parse_error_at_the_poll_boundary(node_id: str) -> None:
    """A device-provided id with ',', a newline or an escape sequence fails the poll with a
    ParseError that shows it escaped; no inventory reaches naming or reconcile."""
    HostileDriver.node_id = node_id
    registry = Registry()
    registry.register(HostileDriver)
    result = poll_chassis(registry, "hostile", ChassisTarget("bmc", "h", Credentials("u")))
    assert result.inventory is None
    assert isinstance(result.error, ParseError)
    assert repr(node_id) in str(result.error)
    assert "\n" not in str(result.error) and "\x1b" not in str(result.error)


def test_a_node_whose_rendered_name_is_invalid_is_left_out_and_reported() -> None:
    """A name that still comes out invalid (here an id dnsmasq would read as a lease time) is
    not reserved; the pool reports it."""
    pools = POOLS.replace('nodes: ["c1-3n1"]', "nodes: [all]")
    record = NodeRecord(id="40h", macs=(MacAddress("02:00:00:00:00:40"),))
    good = NodeRecord(id="7", macs=(MacAddress("02:00:00:00:00:07"),))
    nodes = [NamedNode(node_name("{id}", "m1", r), "m1", r) for r in (record, good)]
    plan = plan_pools(config(pools), nodes, {})[0]
    assert [h.hostname for h in plan.hosts] == []  # "7" is all digits: left out too
    assert plan.conflicts == (
        "m1/40h: invalid node name '40h', not reserved: dnsmasq would read it as a lease "
        "time or a keyword, not a host name",
        "m1/7: invalid node name '7', not reserved: dnsmasq would read it as a lease time or "
        "a keyword, not a host name",
    )


@pytest.mark.parametrize("typo", ["c1-30m1", "c5n1-", "C1n", "c1-x"])
def test_a_member_entry_that_looks_like_a_range_must_be_one(tmp_path: Path, typo: str) -> None:
    """``c1-30m1`` is a range typo, not a native id: a config error naming the entry, instead
    of a pool that silently matches nothing."""
    file = tmp_path / "c.yaml"
    file.write_text(GOOD.replace('"c44n1"', f'"{typo}"'))
    with pytest.raises(ConfigError, match="looks like a range") as info:
        load_config(file)
    assert info.value.path == "spec.members[0].nodes[1]"
