"""chassisd's CRDs (``crds/``): their shape, and that their schemas judge resource documents the way
``chassisd.config`` does, so a standalone config document is a valid cluster object and back.

The schemas are checked as Draft 7 JSON Schema (``crd_helpers.json_schema``). CEL rules cannot be
evaluated here; the cases only CEL rejects are checked against a real kube-apiserver in
``test_crds_apiserver.py``. Every case the CRD rejects, chassisd.config rejects too.
"""

from __future__ import annotations

import copy
import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chassisd import model
from chassisd.config import check_template, parse_documents, parse_duration
from chassisd.demo import config_documents
from chassisd.errors import ConfigError
from tests.crds.crd_helpers import (
    API_VERSION,
    CASES,
    CRD_FILES,
    GROUP,
    PLURALS,
    SECRET,
    VALID,
    VERSION,
    Case,
    apply_defaults,
    config_documents_for,
    json_schema,
    load_crd,
    openapi_schema,
    schema_errors,
    validator,
)

KINDS = tuple(CRD_FILES)
SHORT_NAMES = {"Chassis": ["chs"], "NodePool": ["np"], "PowerAction": ["pa"]}
COLUMNS = {
    "Chassis": ["Driver", "Address", "Reachable", "Reason", "Nodes", "Last Success", "Age"],
    "NodePool": ["Catch-All", "Nodes", "Ready", "Conflict", "Age"],
    "PowerAction": ["Node", "Action", "Phase", "Power", "Deadline", "Age"],
}
COLUMN_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean", "date": "string"}


def walk(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema node under ``node`` with its path (``.spec.members[]``)."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), Mapping):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def schema_at(kind: str, json_path: str) -> Mapping[str, Any] | None:
    """The schema node a printer column's JSONPath selects, or None if the schema lacks it."""
    plain = re.sub(r"\[\?\(@\.[^]]*\)\]", "[]", json_path)
    nodes = dict(walk(openapi_schema(kind)))
    return nodes.get(plain)


def parse(docs: list[dict[str, Any]]) -> Any:
    """chassisd.config's view of ``docs``."""
    return parse_documents(docs, source="test")


# --- shape ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_crd_is_a_namespaced_v1alpha1_chassisd_io_resource(kind: str) -> None:
    """Each file is one apiextensions.k8s.io/v1 CRD: group chassisd.io, namespaced, v1alpha1
    served and stored, with the expected names, short name and category."""
    crd = load_crd(kind)
    plural = PLURALS[kind]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{plural}.{GROUP}"
    spec = crd["spec"]
    assert spec["group"] == GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": plural if kind == "Chassis" else kind.lower(),
        "shortNames": SHORT_NAMES[kind],
        "categories": ["chassisd"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert CRD_FILES[kind].name == f"{GROUP}_{plural}.yaml"


@pytest.mark.parametrize("kind", KINDS)
def test_status_is_a_subresource_with_a_schema(kind: str) -> None:
    """Each CRD has the status subresource and a status schema, and requires spec."""
    (version,) = load_crd(kind)["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    schema = openapi_schema(kind)
    assert schema["properties"]["status"]["type"] == "object"
    assert schema["properties"]["status"]["properties"]
    assert schema["required"] == ["spec"]


@pytest.mark.parametrize("kind", KINDS)
def test_printer_columns_point_at_declared_fields(kind: str) -> None:
    """The default columns are the agreed ones, and each JSONPath selects a schema field whose
    type fits the column's type."""
    (version,) = load_crd(kind)["spec"]["versions"]
    columns = version["additionalPrinterColumns"]
    assert [c["name"] for c in columns if c.get("priority", 0) == 0] == COLUMNS[kind]
    for column in columns:
        if column["jsonPath"] == ".metadata.creationTimestamp":
            assert column["type"] == "date"
            continue
        node = schema_at(kind, column["jsonPath"])
        assert node is not None, f"{column['name']}: {column['jsonPath']} is not in the schema"
        assert node["type"] == COLUMN_TYPES[column["type"]], column["name"]
        if column["type"] == "date":
            assert node.get("format") == "date-time", column["name"]


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_structural_and_its_defaults_are_valid(kind: str) -> None:
    """Every schema node has a type, no node mixes properties with additionalProperties, and
    every default validates against its own node (the API server insists on all three)."""
    for path, node in walk(openapi_schema(kind)):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("type") == "array":
            assert "items" in node, path
        if "default" in node:
            errors = list(
                validator(kind).evolve(schema=json_schema(node)).iter_errors(node["default"])
            )
            assert not errors, f"{path}: default {node['default']!r}: {errors}"


@pytest.mark.parametrize("kind", KINDS)
def test_every_spec_and_status_field_is_described(kind: str) -> None:
    """Each field under spec and status has a description, so ``kubectl explain`` helps (condition
    fields, whose meaning is the standard metav1.Condition one, excepted)."""
    undocumented = [
        path
        for path, node in walk(openapi_schema(kind))
        if re.match(r"^\.(spec|status)\.", path)
        and not path.startswith(".status.conditions[].")
        and not re.search(r"(\[\]|\{\})$", path)
        and not node.get("description")
    ]
    assert not undocumented


# --- the CRDs and chassisd.config agree -----------------------------------------------------------


def test_demo_config_documents_are_valid_cluster_objects() -> None:
    """``make demo``'s config: every Chassis and NodePool validates against its CRD schema, and
    the whole stream parses with chassisd.config."""
    docs = config_documents({"moonshot-1": 2201, "moonshot-2": 2202}, "")
    checked = [doc for doc in docs if doc["apiVersion"] == API_VERSION]
    assert sorted(str(doc["kind"]) for doc in checked) == ["Chassis"] * 2 + ["NodePool"] * 3
    for doc in checked:
        assert schema_errors(doc) == [], doc["metadata"]
    config = parse(docs)
    assert (len(config.chassis), len(config.pools)) == (2, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_valid_documents_pass_the_schema(kind: str) -> None:
    """The reference valid document of each kind passes its schema."""
    assert schema_errors(VALID[kind]) == []


def test_valid_documents_parse_with_config_py() -> None:
    """The reference Chassis and NodePool parse with chassisd.config, as written."""
    config = parse([SECRET, VALID["Chassis"], VALID["NodePool"]])
    assert config.chassis[0].command_timeout == 90
    assert config.pools[0].static_ips


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}-{c.id}")
def test_case_against_the_schema(case: Case) -> None:
    """A case marked ``schema`` fails the OpenAPI schema at its field; a CEL-only or config-only
    case passes it (CEL needs the API server; cross-document checks need chassisd.config)."""
    errors = schema_errors(case.document())
    if "schema" in case.rejected_by:
        last = re.sub(r"\[\d+\]$", "", case.error_field.rsplit(".", 1)[-1])
        assert any(last in error for error in errors), errors
    else:
        assert errors == []


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=f"{c.kind}-{c.id}") for c in CASES if c.kind in ("Chassis", "NodePool")],
)
def test_case_against_config_py(case: Case) -> None:
    """What the CRD rejects, chassisd.config rejects too."""
    assert case.rejected_by & {"schema", "cel", "config"}
    with pytest.raises(ConfigError):
        parse(config_documents_for(case.document()))


MINIMAL: dict[str, dict[str, Any]] = {
    "chassis": {
        "apiVersion": API_VERSION,
        "kind": "Chassis",
        "metadata": {"name": "moonshot-1"},
        "spec": {
            "driver": "moonshot",
            "address": "10.0.0.5",
            "credentialsSecretRef": {"name": "moonshot-credentials"},
            "knownHostsSecretRef": {"name": "chassis-host-keys"},
            "caBundleSecretRef": {"name": "chassis-ca"},
        },
    },
    "pool": {
        "apiVersion": API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": "cluster-a"},
        "spec": {"members": [{"chassis": "moonshot-1"}], "dhcp": {"setTags": ["a"]}},
    },
    "catch-all": {
        "apiVersion": API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": "unknown-nodes"},
        "spec": {"catchAll": True},
    },
}


def test_schema_defaults_equal_config_py_defaults() -> None:
    """Minimal documents mean the same to chassisd.config with and without the CRD's defaults filled
    in, and the defaults do fill in fields (so the comparison is not vacuous)."""
    raw = list(MINIMAL.values())
    defaulted = [apply_defaults(openapi_schema(doc["kind"]), doc) for doc in raw]
    for doc in defaulted:
        assert schema_errors(doc) == [], doc["metadata"]
    assert defaulted != raw
    assert defaulted[0]["spec"]["pollInterval"] == "5m"
    assert defaulted[1]["spec"]["members"][0]["nodes"] == ["all"]
    assert parse([SECRET, *raw]) == parse([SECRET, *defaulted])


def test_model_values_match_the_schema_enums() -> None:
    """Power states, health levels and power actions in the CRDs are exactly the model's."""
    nodes = openapi_schema("Chassis")["properties"]["status"]["properties"]["nodes"]["items"]
    action = openapi_schema("PowerAction")["properties"]
    assert nodes["properties"]["power"]["enum"] == [s.value for s in model.PowerState]
    assert nodes["properties"]["health"]["enum"] == [h.value for h in model.Health]
    # `status` only reads the state (chassisctl power status --live); the rest are the model's.
    actions = [a.value for a in model.PowerAction]
    assert action["spec"]["properties"]["action"]["enum"] == [*actions, "status"]
    power_state = action["status"]["properties"]["powerState"]["enum"]
    assert power_state == [s.value for s in model.PowerState]


# --- status --------------------------------------------------------------------------------------

CONDITION = {
    "type": "Reachable",
    "status": "True",
    "reason": "PollSucceeded",
    "message": "",
    "lastTransitionTime": "2026-01-01T10:00:00Z",
    "observedGeneration": 1,
}
STATUS: dict[str, dict[str, Any]] = {
    "Chassis": {
        "conditions": [CONDITION, dict(CONDITION, type="InventoryValid", reason="Parsed")],
        "observedGeneration": 1,
        "lastPollTime": "2026-01-01T10:05:00Z",
        "lastSuccessTime": "2026-01-01T10:05:00.123456+00:00",
        "consecutiveFailures": 0,
        "model": "HPE Moonshot 1500 Chassis",
        "firmware": "1.58",
        "nodeCount": 1,
        "nodes": [
            {
                "id": "c43n1",
                "name": "c1n43",
                "cartridge": 43,
                "node": 1,
                "macs": ["02:e5:00:01:2b:00", "02:e5:00:01:2b:01"],
                "macsKnown": True,
                "power": "off",
                "health": "ok",
                "product": "ProLiant m710x Server Cartridge",
                "serial": "CN7501V0R1",
                "firstSeen": "2026-01-01T10:00:00Z",
                "lastSeen": "2026-01-01T10:05:00Z",
            }
        ],
    },
    "NodePool": {
        "conditions": [
            dict(CONDITION, type="Ready"),
            dict(CONDITION, type="Conflict", status="False"),
        ],
        "observedGeneration": 3,
        "memberCount": 1,
        "members": [
            {
                "node": "c1n43",
                "chassis": "moonshot-1",
                "id": "c43n1",
                "macs": ["02:e5:00:01:2b:00"],
                "ip": "10.0.0.43",
                "hostname": "c1n43",
            }
        ],
        "allocations": {"moonshot-1/c43n1": "10.0.0.43"},
        "written": [
            {
                "apiVersion": "dnsmasq.kvaps.cf/v1beta1",
                "kind": "DhcpHosts",
                "namespace": "kubefarm",
                "name": "chassisd-cluster-a",
            }
        ],
    },
    "PowerAction": {
        "phase": "Succeeded",
        "message": "powered on",
        "resolvedNode": "moonshot-1/c43n1",
        "powerState": "on",
        "driver": "moonshot",
        "startTime": "2026-01-01T10:00:00Z",
        "completionTime": "2026-01-01T10:00:04Z",
    },
}
BAD_STATUS = [
    ("Chassis", "nodes.0.macs.0", "02:E5:00:01:2B:00"),
    ("Chassis", "nodes.0.power", "ON"),
    ("Chassis", "nodes.0.health", "degraded"),
    ("Chassis", "lastSuccessTime", "yesterday"),
    ("Chassis", "conditions.0.status", "true"),
    ("Chassis", "consecutiveFailures", -1),
    ("NodePool", "members.0.ip", "10.0.0.256"),
    ("NodePool", "allocations.moonshot-1/c43n1", "n/a"),
    ("NodePool", "written.0.name", None),
    ("PowerAction", "phase", "Done"),
    ("PowerAction", "powerState", "standby"),
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_status_validates(kind: str) -> None:
    """A status with every field chassisd writes passes the schema."""
    assert schema_errors(dict(VALID[kind], status=STATUS[kind])) == []


@pytest.mark.parametrize(("kind", "path", "value"), BAD_STATUS)
def test_a_bad_status_value_is_rejected(kind: str, path: str, value: Any) -> None:
    """Upper-case MACs, unknown states, bad times and IPs in status fail the schema."""
    doc = copy.deepcopy(dict(VALID[kind], status=STATUS[kind]))
    target: Any = doc["status"]
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    assert schema_errors(doc)


# --- property tests: every value the schema accepts, chassisd.config accepts the same way ---------


def _schema_accepts(kind: str, dotted: str, value: str) -> bool:
    doc: Any = {**VALID[kind], "spec": {**VALID[kind]["spec"]}}
    doc["spec"][dotted] = value
    return not list(validator(kind).iter_errors(doc))


@given(st.text(alphabet="0123456789hms", max_size=8))
def test_schema_durations_are_config_durations(text: str) -> None:
    """A duration passes the schema plus its CEL rule (a non-zero digit, evaluated here by hand)
    exactly when chassisd.config parses it, for text without spaces."""
    try:
        parse_duration(text, document="t", path="p")
        config_ok = True
    except ConfigError:
        config_ok = False
    cel_ok = re.search("[1-9]", text) is not None  # the rule self.matches('[1-9]')
    assert (_schema_accepts("Chassis", "pollInterval", text) and cel_ok) == config_ok


TEMPLATE_PIECES = ["{chassis}", "{cartridge}", "{node}", "{id}", "{name}", "{slot}", "{}"]
TEMPLATE_PIECES += ["{", "}", "{{", "}}", "m1c", "-", ".", "x", "h", "1", " ", "A", "/", ","]


def _cel_accepts(kind: str, spec_field: str, template: str) -> bool:
    """The template's CEL rules, evaluated by hand: ``replace`` of each field by its example
    value, then the two ``matches`` (the CRD's own rule text is read, not restated)."""
    prop = load_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    rules = [r["rule"] for r in prop["spec"]["properties"][spec_field]["x-kubernetes-validations"]]
    ok = True
    for rule in rules:
        negate = rule.startswith("!")
        rendered = template
        for name, value in re.findall(r"\.replace\('(\{[a-z]+\})', '([^']*)'\)", rule):
            rendered = rendered.replace(name, value)
        [pattern] = re.findall(r"\.matches\('([^']*)'\)", rule)
        ok &= (re.search(pattern, rendered) is None) == negate
    return ok


@given(st.lists(st.sampled_from(TEMPLATE_PIECES), min_size=1, max_size=6).map("".join))
@example("{cartridge}h")
@example("{cartridge}{node}")
@example("c{cartridge}n{node}")
def test_schema_templates_are_config_templates(template: str) -> None:
    """A naming template passes the schema and its CEL rules exactly when chassisd.config
    accepts it, and then renders with str.format."""
    fields = frozenset({"chassis", "cartridge", "node", "id"})
    for kind, spec_field, allowed in (
        ("Chassis", "nodeNameTemplate", fields),
        ("NodePool", "hostnameTemplate", fields | {"name"}),
    ):
        try:
            check_template(template, allowed, document="t", path="p")
            config_ok = True
        except ConfigError:
            config_ok = False
        crd_ok = _schema_accepts(kind, spec_field, template) and _cel_accepts(
            kind, spec_field, template
        )
        assert crd_ok == config_ok, (kind, template)
        if config_ok:
            template.format(**{name: "v" for name in allowed})


@given(
    st.lists(
        st.sampled_from([*string.digits, ".", "-", "a", "300", "255", "256", "025", "1"]),
        max_size=9,
    ).map("".join)
)
def test_schema_ipv4_is_config_ipv4(text: str) -> None:
    """An IPv4 address string passes the schema exactly when chassisd.config's parser takes it."""
    doc: Any = {**VALID["NodePool"]}
    doc["spec"] = {**doc["spec"], "addressing": {"nodes": {"n": text}}}
    schema_ok = not list(validator("NodePool").iter_errors(doc))
    try:
        parse(config_documents_for(doc))
        config_ok = True
    except ConfigError:
        config_ok = False
    assert schema_ok == config_ok


@given(
    st.lists(
        st.sampled_from(["sha256:", "SHA256:", "sha1:", ":", "ab", "0F", "g0", "a"]),
        max_size=40,
    ).map("".join)
)
@example("")
@example("ab" * 32)
@example("sha256:" + ":".join(["0F"] * 32))
@example("SHA256:" + ":".join(["0F"] * 32) + ":")
@example("ab" * 33)
def test_schema_fingerprints_are_config_fingerprints(text: str) -> None:
    """A certificate fingerprint passes the schema exactly when chassisd.config accepts it."""
    try:
        parse(
            [
                SECRET,
                dict(
                    VALID["Chassis"],
                    spec={**VALID["Chassis"]["spec"], "certificateFingerprint": text},
                ),
            ]
        )
        config_ok = True
    except ConfigError:
        config_ok = False
    assert _schema_accepts("Chassis", "certificateFingerprint", text) == config_ok


@given(st.text(alphabet="cCnN0123456789-m.x:_ ", min_size=1, max_size=10))
@example("c1-30m1")
@example("c5n1-")
@example("c12")
@example("cn1")
def test_schema_member_entries_are_config_member_entries(entry: str) -> None:
    """A member node entry passes the CRD's pattern exactly when chassisd.config accepts it
    (an entry that starts like a range must be a whole range, in both)."""
    props = openapi_schema("NodePool")["properties"]["spec"]["properties"]["members"]["items"]
    pattern = props["properties"]["nodes"]["items"]["pattern"]
    schema_ok = re.search(pattern, entry) is not None
    doc = copy.deepcopy(VALID["NodePool"])
    doc["spec"]["members"] = [{"chassis": "moonshot-1", "nodes": [entry]}]
    try:
        parse_documents(config_documents_for(doc))
        config_ok = True
    except ConfigError:
        config_ok = False
    assert schema_ok == config_ok, entry


def _cel_address_accepts(driver: str, address: str, where: str = "spec") -> bool:
    """The address CEL rules of the spec (or of a fallback item), evaluated by hand: the rule
    applies when ``driver`` is in its list, then its ``matches`` (the CRD's rule text is read)."""
    spec = load_crd("Chassis")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    node = spec if where == "spec" else spec["properties"]["fallback"]["items"]
    for rule in (r["rule"] for r in node["x-kubernetes-validations"]):
        [drivers] = re.findall(r"self\.driver in \[([^]]*)\]", rule)
        [pattern] = re.findall(r"\.matches\('(.*)'\)", rule)
        applies = driver in re.findall(r"'([^']*)'", drivers)
        if applies and re.search(pattern.replace("\\\\", "\\"), address) is None:
            return False
    return True


ADDRESSES = [
    "10.0.0.5", "10.0.0.5:22", "bmc-1.example.net", "bmc-1.example.net:8443", "[::1]:22",
    "[fe80::1%eth0]:623", "::1", "2001:db8::5", "10.0.0.5:https", "10.0.0.5:99999",
    "10.0.0.5:0", "10.0.0.5:65535", "10.0.0.5:065", "http://bmc", "https://bmc",
    "HTTPS://bmc:443/", "https://[::1]:8443", "bmc/", "-bmc", "bmc:", "[::1]", "[::1]:",
    "[bmc]:22", "a", "host:port:1", "fake://farm/c1", "bmc_1", "bmc..x",
]  # fmt: skip


@pytest.mark.parametrize("address", ADDRESSES)
@pytest.mark.parametrize("driver", ["moonshot", "ipmi", "redfish", "moonshot-rest", "fake"])
def test_schema_addresses_are_config_addresses(driver: str, address: str) -> None:
    """An address passes the CRD's CEL rules for a driver exactly when chassisd.config takes
    it for that driver (as spec.address and as a fallback's), and what is taken is what the
    driver's ``host_port`` can use."""
    from chassisd.config.specs import check_address
    from chassisd.driver import ChassisTarget, Credentials

    problem: ConfigError | None = None
    try:
        check_address(driver, address, document="t", path="spec.address")
    except ConfigError as exc:
        problem = exc
    config_ok = problem is None
    if problem is not None:
        assert problem.path == "spec.address" and driver in str(problem)
    assert _cel_address_accepts(driver, address) == config_ok
    assert _cel_address_accepts(driver, address, "fallback") == config_ok
    if config_ok and driver != "fake":
        bare = re.sub(r"(?i)^https://", "", address).rstrip("/")
        ChassisTarget(name="x", address=bare, credentials=Credentials("a")).host_port(1)
