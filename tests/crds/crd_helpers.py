"""Shared by the CRD tests: the CRD files, their schemas as JSON Schema, defaulting, and one table
of documents that the CRDs and ``chassisd.config`` must judge the same way.

Owns: loading ``crds/*.yaml``; ``json_schema`` (an ``openAPIV3Schema`` turned into a Draft 7 JSON
Schema); ``apply_defaults`` (the API server's structural defaulting, for comparing defaults with
chassisd.config's); ``VALID`` documents and the ``CASES`` table.

What the JSON Schema can and cannot check: it is the OpenAPI part of each CRD (types, required,
patterns, enums, lengths, unknown fields as with ``fieldValidation=Strict``). The CEL rules
(``x-kubernetes-validations``) are dropped because jsonschema cannot evaluate CEL; cases that only
CEL rejects are marked ``cel`` and checked against the real kube-apiserver in
``test_crds_apiserver.py``. ``x-kubernetes-list-type: map`` key uniqueness is not modelled either.
"""

from __future__ import annotations

import copy
import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
GROUP = "chassisd.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CRD_FILES = {
    "Chassis": CRD_DIR / "chassisd.io_chassis.yaml",
    "NodePool": CRD_DIR / "chassisd.io_nodepools.yaml",
    "PowerAction": CRD_DIR / "chassisd.io_poweractions.yaml",
}
PLURALS = {"Chassis": "chassis", "NodePool": "nodepools", "PowerAction": "poweractions"}


def load_crd(kind: str) -> dict[str, Any]:
    """The one CustomResourceDefinition in ``kind``'s file (a copy: callers may change it)."""
    return copy.deepcopy(_parsed_crd(kind))


@functools.cache
def _parsed_crd(kind: str) -> dict[str, Any]:
    # Parsed once per run: the property tests read the CRDs for every example, and the YAML
    # parser took most of hypothesis's 200 ms deadline on a busy machine.
    docs = [d for d in yaml.safe_load_all(CRD_FILES[kind].read_text()) if d is not None]
    assert len(docs) == 1, f"{CRD_FILES[kind]} must hold exactly one document"
    crd: dict[str, Any] = docs[0]
    return crd


def openapi_schema(kind: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of ``kind``'s only version."""
    (version,) = load_crd(kind)["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def json_schema(node: Mapping[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Translate an OpenAPI v3 structural schema into Draft 7 JSON Schema.

    ``x-kubernetes-*`` keys are dropped (CEL cannot be evaluated here); an object with
    ``properties`` and no ``x-kubernetes-preserve-unknown-fields`` gets
    ``additionalProperties: false`` (unknown fields are errors, as with ``fieldValidation=Strict``),
    except the root ``metadata``, which the API server validates as ObjectMeta; a
    ``x-kubernetes-list-type: set`` array gets ``uniqueItems``.
    """
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {name: json_schema(sub, (*path, name)) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
            out[key] = json_schema(value, path)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [json_schema(sub, path) for sub in value]
        else:
            out[key] = copy.deepcopy(value)
    if (
        "properties" in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and path != ("metadata",)
    ):
        out.setdefault("additionalProperties", False)
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    return out


def _is_date_time(instance: object) -> bool:
    """RFC 3339 date-time, as the API server's ``format: date-time`` accepts."""
    if not isinstance(instance, str):
        return True
    try:
        datetime.datetime.fromisoformat(instance.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in instance.upper()


FORMAT_CHECKER = jsonschema.FormatChecker(formats=())
FORMAT_CHECKER.checks("date-time")(_is_date_time)


@functools.cache
def validator(kind: str) -> jsonschema.Draft7Validator:
    """A Draft 7 validator for whole ``kind`` objects (formats: date-time only)."""
    schema = json_schema(openapi_schema(kind))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=FORMAT_CHECKER)


def schema_errors(doc: Mapping[str, Any]) -> list[str]:
    """Every JSON Schema error for ``doc`` (its kind picks the CRD), as ``path: message``."""
    errors = validator(str(doc["kind"])).iter_errors(doc)
    return sorted(f"{e.json_path}: {e.message}" for e in errors)


def apply_defaults(node: Mapping[str, Any], value: Any) -> Any:
    """Return a copy of ``value`` with the schema's defaults filled in, as the API server does:
    an absent property with a ``default`` gets it, and defaults are applied inside defaults."""
    value = copy.deepcopy(value)
    if isinstance(value, dict):
        for name, sub in node.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = apply_defaults(sub, value[name])
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping):
            for name in value:
                value[name] = apply_defaults(extra, value[name])
    elif isinstance(value, list) and "items" in node:
        value = [apply_defaults(node["items"], item) for item in value]
    return value


# --- documents -----------------------------------------------------------------------------------

SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "moonshot-credentials"},
    "stringData": {"username": "admin", "password": "password"},
}

VALID: dict[str, dict[str, Any]] = {
    "Chassis": {
        "apiVersion": API_VERSION,
        "kind": "Chassis",
        "metadata": {"name": "moonshot-1"},
        "spec": {
            "driver": "moonshot",
            "address": "10.0.0.5:22",
            "credentialsSecretRef": {"name": "moonshot-credentials"},
            "knownHostsSecretRef": {"name": "chassis-host-keys", "key": "known_hosts"},
            "pollInterval": "5m",
            "connectTimeout": "10s",
            "commandTimeout": "1m30s",
            "pollTimeout": "2m",
            "maxOutputSize": "8Mi",
            "nodeNameTemplate": "m1c{cartridge}n{node}",
            "paused": False,
        },
    },
    "NodePool": {
        "apiVersion": API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": "cluster-a"},
        "spec": {
            "members": [{"chassis": "moonshot-1", "nodes": ["c1-20n1", "c44n1", "C45N1-4"]}],
            "addressing": {
                "range": {"start": "10.0.0.10", "end": "10.0.0.250"},
                "nodes": {"moonshot-1/c44n1": "10.0.0.44"},
            },
            "hostnameTemplate": "{name}",
            "dhcp": {
                "namespace": "kubefarm",
                "controller": "",
                "setTags": ["cluster-a"],
                "leaseTime": "infinite",
            },
            "gracePeriod": "24h",
            "kubefarm": {
                "configMapName": "cluster-a-nodepools",
                "namespace": "kubefarm-cluster-a",
                "range": "10.0.0.0,static,255.255.0.0,10.0.255.255,infinite",
                "tags": ["cluster-a"],
                "extraOpts": [{"dhcp-generate-names": "tag:?"}, {"dhcp-ignore-names": "tag:?"}],
            },
        },
    },
    "PowerAction": {
        "apiVersion": API_VERSION,
        "kind": "PowerAction",
        "metadata": {"name": "power-on-c1n43"},
        "spec": {"node": "moonshot-1/c43n1", "action": "on"},
    },
}

DELETE = object()
"""In a ``Case``'s changes: remove that field."""


@dataclass(frozen=True)
class Case:
    """One invalid (or only chassisd.config-invalid) document and who must reject it.

    ``rejected_by`` holds ``schema`` (the OpenAPI schema: jsonschema here and the API server),
    ``cel`` (only the API server's CEL rules) and/or ``config`` (``chassisd.config``, which knows
    only Secret, Chassis and NodePool and also checks across documents).
    """

    id: str
    kind: str
    changes: Mapping[str, Any]
    rejected_by: frozenset[str]
    field: str = ""  # the field path the API server's error names, when it differs from changes

    def document(self) -> dict[str, Any]:
        """The valid document of this kind with ``changes`` applied."""
        doc = copy.deepcopy(VALID[self.kind])
        for dotted, value in self.changes.items():
            set_path(doc, dotted, value)
        return doc

    @property
    def error_field(self) -> str:
        """The field path an API server rejection must mention, e.g. ``spec.members[0].nodes``."""
        if self.field:
            return self.field
        parts = next(iter(self.changes)).split(".")
        return "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts).lstrip(".")


def set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set (or with ``DELETE`` remove) ``a.b.0.c`` in ``doc``, creating mappings on the way."""
    *parents, last = dotted.split(".")
    target: Any = doc
    for part in parents:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    key: Any = int(last) if last.isdigit() else last
    if value is DELETE:
        del target[key]
    else:
        target[key] = copy.deepcopy(value)


SCHEMA = frozenset({"schema", "config"})
SCHEMA_ONLY = frozenset({"schema"})
CEL = frozenset({"cel", "config"})
CONFIG_ONLY = frozenset({"config"})

CASES: tuple[Case, ...] = (
    # Chassis: both the schema and chassisd.config reject these.
    Case("duration-words", "Chassis", {"spec.pollInterval": "5 minutes"}, SCHEMA),
    Case("duration-empty", "Chassis", {"spec.commandTimeout": ""}, SCHEMA),
    Case("size-decimal-unit", "Chassis", {"spec.maxOutputSize": "4MB"}, SCHEMA),
    Case("size-zero", "Chassis", {"spec.maxOutputSize": "0"}, SCHEMA),
    Case("size-number", "Chassis", {"spec.maxOutputSize": 4096}, SCHEMA),
    Case("duration-milliseconds", "Chassis", {"spec.pollInterval": "500ms"}, SCHEMA),
    Case("template-unknown-field", "Chassis", {"spec.nodeNameTemplate": "m1c{slot}"}, SCHEMA),
    Case("template-format-spec", "Chassis", {"spec.nodeNameTemplate": "{id:>4}"}, SCHEMA),
    Case(
        "unknown-field-adress",
        "Chassis",
        {"spec.address": DELETE, "spec.adress": "10.0.0.5"},
        SCHEMA,
        field="spec.adress",
    ),
    Case("address-blank", "Chassis", {"spec.address": "   "}, SCHEMA),
    Case("credentials-missing", "Chassis", {"spec.credentialsSecretRef": DELETE}, SCHEMA),
    Case("credentials-without-name", "Chassis", {"spec.credentialsSecretRef": {}}, SCHEMA),
    Case("driver-missing", "Chassis", {"spec.driver": DELETE}, SCHEMA),
    Case("driver-not-a-string", "Chassis", {"spec.driver": 5}, SCHEMA),
    Case("paused-not-a-boolean", "Chassis", {"spec.paused": "yes"}, SCHEMA),
    Case("insecure-not-a-boolean", "Chassis", {"spec.insecureSkipVerify": "true"}, SCHEMA),
    Case(
        "known-hosts-ref-without-name", "Chassis", {"spec.knownHostsSecretRef.name": DELETE}, SCHEMA
    ),
    Case("name-not-a-dns-label", "Chassis", {"metadata.name": "moonshot-1.dc1"}, SCHEMA),
    Case("fingerprint-short", "Chassis", {"spec.certificateFingerprint": "sha256:abcd"}, SCHEMA),
    Case(
        "fingerprint-only-colons",
        "Chassis",
        {"spec.certificateFingerprint": ":" * 64},
        SCHEMA,
    ),
    Case(
        "ca-bundle-ref-without-name",
        "Chassis",
        {"spec.caBundleSecretRef": {"key": "ca.crt"}},
        SCHEMA,
        field="spec.caBundleSecretRef.name",
    ),
    # Chassis: stricter shapes, which chassisd.config checks the same way.
    Case(
        "duration-number",
        "Chassis",
        {"spec.pollInterval": 300},
        SCHEMA,
    ),
    Case(
        "duration-padded",
        "Chassis",
        {"spec.pollInterval": " 5m"},
        SCHEMA,
    ),
    Case(
        "unknown-field-extra",
        "Chassis",
        {"spec.pollIntervall": "1m"},
        SCHEMA,
    ),
    Case(
        "driver-empty",
        "Chassis",
        {"spec.driver": ""},
        SCHEMA,
    ),
    Case(
        "driver-not-a-name",
        "Chassis",
        {"spec.driver": "Moon Shot"},
        SCHEMA,
    ),
    Case(
        "secret-name-invalid",
        "Chassis",
        {"spec.credentialsSecretRef.name": "Moonshot_Credentials"},
        SCHEMA,
    ),
    Case(
        "secret-key-invalid",
        "Chassis",
        {"spec.knownHostsSecretRef.key": "known hosts"},
        SCHEMA,
    ),
    Case(
        "template-stray-brace",
        "Chassis",
        {"spec.nodeNameTemplate": "c{cartridge"},
        SCHEMA,
    ),
    Case(
        "template-empty",
        "Chassis",
        {"spec.nodeNameTemplate": ""},
        SCHEMA,
    ),
    Case("template-space", "Chassis", {"spec.nodeNameTemplate": "node {cartridge}"}, SCHEMA),
    Case("template-slash", "Chassis", {"spec.nodeNameTemplate": "m1/{id}"}, SCHEMA),
    Case("template-upper-case", "Chassis", {"spec.nodeNameTemplate": "M1C{cartridge}"}, SCHEMA),
    Case("template-fqdn", "NodePool", {"spec.hostnameTemplate": "{name}.farm.example"}, SCHEMA),
    Case("template-comma", "NodePool", {"spec.hostnameTemplate": "{name},infinite"}, SCHEMA),
    Case(
        "member-range-typo",
        "NodePool",
        {"spec.members.0.nodes": ["c1-30m1"]},
        SCHEMA,
        field="spec.members[0].nodes[0]",
    ),
    Case(
        "member-range-trailing",
        "NodePool",
        {"spec.members.0.nodes": ["c5n1-"]},
        SCHEMA,
        field="spec.members[0].nodes[0]",
    ),
    # Chassis: a CEL rule (API server only) and chassisd.config reject these.
    Case("address-named-port", "Chassis", {"spec.address": "10.0.0.5:https"}, CEL),
    Case("address-port-too-big", "Chassis", {"spec.address": "10.0.0.5:99999"}, CEL),
    Case("address-url-for-ssh", "Chassis", {"spec.address": "https://10.0.0.5"}, CEL),
    Case(
        "address-http-for-redfish",
        "Chassis",
        {"spec.driver": "redfish", "spec.address": "http://bmc"},
        CEL,
        field="spec.address",
    ),
    Case(
        "fallback-address-named-port",
        "Chassis",
        {"spec.fallback": [{"driver": "ipmi", "address": "bmc:ipmi"}]},
        CEL,
        field="spec.fallback[0].address",
    ),
    Case("template-all-digits", "Chassis", {"spec.nodeNameTemplate": "{cartridge}{node}"}, CEL),
    Case("template-lease-time", "Chassis", {"spec.nodeNameTemplate": "{cartridge}h"}, CEL),
    Case("template-leading-dash", "Chassis", {"spec.nodeNameTemplate": "-{id}"}, CEL),
    Case("template-too-long", "Chassis", {"spec.nodeNameTemplate": "{chassis}" + "x" * 60}, CEL),
    Case("hostname-template-digits", "NodePool", {"spec.hostnameTemplate": "{cartridge}"}, CEL),
    Case("hostname-template-keyword", "NodePool", {"spec.hostnameTemplate": "infinite"}, CEL),
    Case("duration-zero", "Chassis", {"spec.connectTimeout": "0m0s"}, CEL),
    Case("duration-zero-seconds", "Chassis", {"spec.pollInterval": "0s"}, CEL),
    # NodePool: both the schema and chassisd.config reject these.
    Case("range-bad-ip", "NodePool", {"spec.addressing.range.start": "10.0.0.300"}, SCHEMA),
    Case("range-leading-zero", "NodePool", {"spec.addressing.range.end": "10.0.0.025"}, SCHEMA),
    Case("range-without-end", "NodePool", {"spec.addressing.range.end": DELETE}, SCHEMA),
    Case("static-bad-ip", "NodePool", {"spec.addressing.nodes.c1n1": "10.0.0.300"}, SCHEMA),
    Case("hostname-template-field", "NodePool", {"spec.hostnameTemplate": "{slot}"}, SCHEMA),
    Case("grace-period-days", "NodePool", {"spec.gracePeriod": "1d"}, SCHEMA),
    Case("member-without-chassis", "NodePool", {"spec.members.0.chassis": DELETE}, SCHEMA),
    Case("members-not-a-list", "NodePool", {"spec.members": {"chassis": "moonshot-1"}}, SCHEMA),
    Case("set-tags-not-a-list", "NodePool", {"spec.dhcp.setTags": "cluster-a"}, SCHEMA),
    Case("catch-all-not-a-boolean", "NodePool", {"spec.catchAll": "true"}, SCHEMA),
    # NodePool: CEL rules (API server only) and chassisd.config reject these.
    Case(
        "catch-all-with-members",
        "NodePool",
        {"spec.catchAll": True, "spec.addressing": DELETE},
        CEL,
        field="spec.members",
    ),
    Case(
        "catch-all-with-addressing",
        "NodePool",
        {"spec.catchAll": True, "spec.members": DELETE},
        CEL,
        field="spec.addressing",
    ),
    Case("members-missing", "NodePool", {"spec.members": DELETE}, CEL),
    Case(
        "range-reversed",
        "NodePool",
        {"spec.addressing.range": {"start": "10.0.1.20", "end": "10.0.0.30"}},
        CEL,
        field="spec.addressing.range.end",
    ),
    # NodePool: the CRD rejects these; chassisd.config accepts them today.
    Case(
        "members-empty",
        "NodePool",
        {"spec.members": []},
        SCHEMA,
    ),
    Case(
        "member-nodes-empty",
        "NodePool",
        {"spec.members.0.nodes": []},
        SCHEMA,
    ),
    Case(
        "member-node-with-space",
        "NodePool",
        {"spec.members.0.nodes": ["c1n1 c2n1"]},
        SCHEMA,
        field="spec.members[0].nodes[0]",
    ),
    Case(
        "lease-time-invalid",
        "NodePool",
        {"spec.dhcp.leaseTime": "forever"},
        SCHEMA,
    ),
    Case(
        "set-tag-with-comma",
        "NodePool",
        {"spec.dhcp.setTags": ["a,b"]},
        SCHEMA,
        field="spec.dhcp.setTags[0]",
    ),
    Case(
        "dhcp-namespace-invalid",
        "NodePool",
        {"spec.dhcp.namespace": "Kube_Farm"},
        SCHEMA,
    ),
    Case(
        "unknown-field-dhcp",
        "NodePool",
        {"spec.dhcp.leasetime": "1h"},
        SCHEMA,
    ),
    # NodePool: kubefarm output, which chassisd.config does not parse yet (it ignores the block).
    Case(
        "kubefarm-without-config-map",
        "NodePool",
        {"spec.kubefarm.configMapName": DELETE},
        SCHEMA,
    ),
    Case(
        "kubefarm-extra-opt-two-keys",
        "NodePool",
        {"spec.kubefarm.extraOpts.0.dhcp-range": "set:?,10.0.0.1,10.0.0.9"},
        SCHEMA,
        field="spec.kubefarm.extraOpts[0]",
    ),
    Case(
        "kubefarm-extra-opt-unknown-key",
        "NodePool",
        {"spec.kubefarm.extraOpts": [{"dhcp-bogus": "1"}]},
        CEL,
        field="spec.kubefarm.extraOpts[0]",
    ),
    Case(
        "kubefarm-range-with-set-tag",
        "NodePool",
        {"spec.kubefarm.range": "set:x,10.0.0.0,static"},
        CEL,
    ),
    # NodePool: only chassisd.config can check these (other documents, or range arithmetic).
    Case(
        "member-unknown-chassis", "NodePool", {"spec.members.0.chassis": "moonshot-9"}, CONFIG_ONLY
    ),
    Case("member-empty-range", "NodePool", {"spec.members.0.nodes": ["c20-1n1"]}, CONFIG_ONLY),
    # PowerAction: chassisd.config does not read PowerAction; only the CRD judges it.
    Case("action-explode", "PowerAction", {"spec.action": "explode"}, SCHEMA_ONLY),
    Case("action-missing", "PowerAction", {"spec.action": DELETE}, SCHEMA_ONLY),
    Case("action-upper-case", "PowerAction", {"spec.action": "ON"}, SCHEMA_ONLY),
    Case("node-empty", "PowerAction", {"spec.node": ""}, SCHEMA_ONLY),
    Case("node-missing", "PowerAction", {"spec.node": DELETE}, SCHEMA_ONLY),
    Case("deadline-zero", "PowerAction", {"spec.deadlineSeconds": 0}, SCHEMA_ONLY),
    Case("deadline-over-a-day", "PowerAction", {"spec.deadlineSeconds": 86401}, SCHEMA_ONLY),
    Case("spec-missing", "PowerAction", {"spec": DELETE}, SCHEMA_ONLY),
    Case("unknown-field-force", "PowerAction", {"spec.force": True}, SCHEMA_ONLY),
)


def config_documents_for(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """What chassisd.config is given for one case: a Secret, for a NodePool the valid Chassis it
    names, and ``doc`` itself, so that only the case's own change can make parsing fail."""
    extra = [VALID["Chassis"]] if doc.get("kind") == "NodePool" else []
    return copy.deepcopy([SECRET, *extra, doc])
