"""Standalone config documents: valid shapes load, mistakes name the document and field path."""

from __future__ import annotations

import ipaddress
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassisd.config import IpRange, load_config, parse_duration
from chassisd.errors import ConfigError

GOOD = """\
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {username: admin, password: pw}
---
apiVersion: v1
kind: Secret
metadata: {name: keys}
data: {known_hosts: W2xvY2FsaG9zdF06MjIyMiBzc2gtZWQyNTUxOSBBQUFB}
---
apiVersion: chassisd.io/v1alpha1
kind: Chassis
metadata: {name: moonshot-1}
spec:
  driver: moonshot
  address: 127.0.0.1:2222
  credentialsSecretRef: {name: creds}
  knownHostsSecretRef: {name: keys}
  pollInterval: 2m
  nodeNameTemplate: "c1n{cartridge}"
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: cluster-a}
spec:
  members: [{chassis: moonshot-1, nodes: ["c1-10n1", "c44n1"]}]
  addressing: {range: {start: 10.0.0.10, end: 10.0.0.20}}
  dhcp: {namespace: kubefarm, setTags: [a], leaseTime: 12h}
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: catch-all}
spec: {catchAll: true}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_config_loads(tmp_path: Path) -> None:
    """All three kinds load, Secrets (stringData and base64 data) resolve into the target."""
    config = load_config(write(tmp_path, GOOD))
    chassis = config.chassis_named("moonshot-1")
    assert chassis.poll_interval == 120
    target = config.driver_target(chassis)
    assert target.credentials.username == "admin"
    assert target.known_hosts == "[localhost]:2222 ssh-ed25519 AAAA"
    pool = {p.name: p for p in config.pools}["cluster-a"]
    assert pool.members[0].matches("moonshot-1", "c7n1", 7, 1)
    assert not pool.members[0].matches("moonshot-1", "c11n1", 11, 1)
    assert pool.members[0].matches("moonshot-1", "c44n1", 44, 1)
    assert pool.dhcp.set_tags == ("a",)
    assert {p.name for p in config.pools if p.catch_all} == {"catch-all"}


def test_password_not_in_repr(tmp_path: Path) -> None:
    """Secrets never show in a target's repr (which logs and tracebacks use)."""
    config = load_config(write(tmp_path, GOOD))
    assert "pw" not in repr(config.driver_target(config.chassis[0])).replace("pollInterval", "")


@pytest.mark.parametrize(
    ("change", "document", "path", "reason"),
    [
        (
            ("address: 127.0.0.1:2222", "address: 17"),
            "Chassis/moonshot-1",
            "spec.address",
            "string",
        ),
        (("  driver: moonshot\n", ""), "Chassis/moonshot-1", "spec.driver", "missing"),
        (
            ("pollInterval: 2m", "pollInterval: soon"),
            "Chassis/moonshot-1",
            "spec.pollInterval",
            "duration",
        ),
        (
            ('"c1n{cartridge}"', '"c1n{slot}"'),
            "Chassis/moonshot-1",
            "spec.nodeNameTemplate",
            "{slot}",
        ),
        (
            ("start: 10.0.0.10", "start: 10.0.0.300"),
            "NodePool/cluster-a",
            "spec.addressing.range.start",
            "IPv4",
        ),
        (
            ("chassis: moonshot-1, nodes", "chassis: moonshot-9, nodes"),
            "NodePool/cluster-a",
            "spec.members[0].chassis",
            "moonshot-9",
        ),
        (("name: cluster-a", "name: Cluster_A"), "#4", "metadata.name", "DNS label"),
        (
            (
                "kind: NodePool\nmetadata: {name: catch-all}",
                "kind: Nodepool\nmetadata: {name: catch-all}",
            ),
            "Nodepool/catch-all",
            "kind",
            "unsupported",
        ),
        (
            ("spec: {catchAll: true}", "spec: {catchAll: yes please}"),
            "NodePool/catch-all",
            "spec.catchAll",
            "true or false",
        ),
        (
            ("data: {known_hosts: W2xv", "data: {known_hosts: A%%W2xv"),
            "Secret/keys",
            "data.known_hosts",
            "base64",
        ),
    ],
)
def test_mistakes_name_document_and_path(
    tmp_path: Path, change: tuple[str, str], document: str, path: str, reason: str
) -> None:
    """Each mistake is a ConfigError naming the document, the field path and why."""
    assert change[0] in GOOD
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(*change)))
    assert document in info.value.document
    assert info.value.path == path
    assert reason in str(info.value)


def test_missing_secret_is_reported_when_resolving(tmp_path: Path) -> None:
    """A Chassis pointing at a Secret that does not exist fails with the field path."""
    config = load_config(
        write(
            tmp_path,
            GOOD.replace(
                "credentialsSecretRef: {name: creds}", "credentialsSecretRef: {name: nope}"
            ),
        )
    )
    with pytest.raises(ConfigError, match="'nope' not found") as info:
        config.driver_target(config.chassis[0])
    assert info.value.path == "spec.credentialsSecretRef"


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    """Unreadable or non-YAML files are config errors, not crashes."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "kind: [unclosed\n"))


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("24h", 86400), ("1h30m", 5400)]
)
def test_durations(text: str, seconds: float) -> None:
    """Durations accept Kubernetes-style units."""
    assert parse_duration(text, document="d", path="p") == seconds


def test_power_routes_follow_the_fallback_list(tmp_path: Path) -> None:
    """fallback adds routes in order, with the same credentials and another driver/address."""
    text = GOOD.replace(
        '  nodeNameTemplate: "c1n{cartridge}"',
        '  nodeNameTemplate: "c1n{cartridge}"\n'
        '  fallback: [{driver: moonshot-rest, address: "127.0.0.1:8443"}]',
    )
    config = load_config(write(tmp_path, text))
    routes = config.power_routes(config.chassis[0])
    assert [(d, t.address) for d, t in routes] == [
        ("moonshot", "127.0.0.1:2222"),
        ("moonshot-rest", "127.0.0.1:8443"),
    ]
    assert routes[1][1].credentials == routes[0][1].credentials
    bad = text.replace('address: "127.0.0.1:8443"', 'adress: "127.0.0.1:8443"')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, bad))
    assert info.value.path == "spec.fallback[0].address"


_RANGE = IpRange(ipaddress.IPv4Address("10.0.0.10"), ipaddress.IPv4Address("10.0.1.5"))


def _holds_by_ipaddress(text: str) -> bool:
    try:
        return ipaddress.IPv4Address(text) in _RANGE
    except ValueError:
        return False


@pytest.mark.parametrize(
    "text",
    ["10.0.0.10", "10.0.1.5", "10.0.1.6", "10.0.0.9", "010.0.0.10", "10.00.0.10", "10.0.0",
     "256.0.0.1", "10.0.0.10 ", "", "1.2.3.4.5", "10.0.0.1\u0663", "10.0.0.+1"],
)  # fmt: skip
def test_ip_range_holds_agrees_with_ipaddress(text: str) -> None:
    """The fast range check answers exactly as ``ipaddress`` does, garbage included."""
    assert _RANGE.holds(text) == _holds_by_ipaddress(text)


@given(st.one_of(st.text(alphabet="0123456789.+ ", max_size=17), st.integers(0, 2**32 - 1)))
def test_ip_range_holds_agrees_with_ipaddress_on_anything(value: str | int) -> None:
    text = str(ipaddress.IPv4Address(value)) if isinstance(value, int) else value
    assert _RANGE.holds(text) == _holds_by_ipaddress(text)
