"""Resource documents → a validated ``Config``: a standalone YAML file, or one cluster object.

Owns reading a multi-document YAML file (``load_config``), telling the kinds apart and
validating one document (``parse_object``: ``Chassis``, ``NodePool`` or ``v1/Secret``), decoding
Secret data, and putting a whole file together (``parse_documents``: names unique per kind, then
the reference checks, whose first problem is raised). The rules of each kind's fields are in
``specs``; the checks across resources in ``references``. Reads files; talks to no device and
no cluster.

A standalone config file is a multi-document YAML stream::

    apiVersion: v1
    kind: Secret
    metadata: {name: moonshot-1-credentials}
    stringData: {username: admin, password: secret}          # or base64 ``data``
    ---
    apiVersion: chassisd.io/v1alpha1
    kind: Chassis
    metadata: {name: moonshot-1}
    spec:
      driver: moonshot
      address: 10.0.0.5                                      # host or host:port
      # Secret keys: username, password, ssh-privatekey
      credentialsSecretRef: {name: moonshot-1-credentials}
      knownHostsSecretRef: {name: chassis-host-keys, key: known_hosts}   # or inline ``knownHosts``
      pollInterval: 5m
      nodeNameTemplate: "m1c{cartridge}n{node}"              # {chassis} {cartridge} {node} {id}
    ---
    apiVersion: chassisd.io/v1alpha1
    kind: NodePool
    metadata: {name: cluster-a}
    spec:
      members: [{chassis: moonshot-1, nodes: ["c1-20n1"]}]   # or nodes: [all]
      addressing: {range: {start: 10.28.36.10, end: 10.28.36.250}}
      hostnameTemplate: "{name}"
      dhcp: {namespace: kubefarm, controller: "", setTags: [], leaseTime: infinite}
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from chassisd.config.defaults import DEFAULT_NAMESPACE
from chassisd.config.fields import DNS_LABEL, Fields
from chassisd.config.references import check_references
from chassisd.config.resources import ChassisResource, Config, NodePoolSpec
from chassisd.config.specs import chassis_spec, pool_spec
from chassisd.errors import ConfigError

API_VERSION = "chassisd.io/v1alpha1"


def load_config(path: Path) -> Config:
    """Read and validate a standalone config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", document=str(path)) from exc
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc, text)
        raise ConfigError(f"not valid YAML: {problem}", document=str(path)) from exc
    return parse_documents(documents, source=path.name)


_SECRET_KIND = re.compile(r"^kind:\s*['\"]?Secret\b", re.MULTILINE)
_DOCUMENT_START = re.compile(r"^---", re.MULTILINE)


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """What the YAML parser said, without the quoted snippet when the problem lies in a Secret
    document (or where it lies is unknown): the offending line may be a password."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        offset = sum(len(line) for line in text.splitlines(keepends=True)[: mark.line])
        starts = [0, *(m.start() for m in _DOCUMENT_START.finditer(text))]
        start = max(s for s in starts if s <= offset)
        ends = [s for s in starts if s > offset]
        document = text[start : ends[0] if ends else len(text)]
        if not _SECRET_KIND.search(document):
            return str(exc)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where} (inside a Secret document: the line is not shown)"


def parse_documents(documents: list[Any], *, source: str = "config") -> Config:
    """Validate resource documents (already loaded from YAML) into a ``Config``."""
    chassis: list[ChassisResource] = []
    pools: list[NodePoolSpec] = []
    secrets: dict[str, dict[str, str]] = {}
    for index, doc in enumerate(documents, start=1):
        parsed = parse_object(doc, label=f"{source}#{index}", secrets_allowed=True)
        if isinstance(parsed, ChassisResource):
            chassis.append(parsed)
        elif isinstance(parsed, NodePoolSpec):
            pools.append(parsed)
        else:
            secrets[parsed[0]] = parsed[1]
    _check_unique([c.name for c in chassis], "Chassis", source)
    _check_unique([c.name for c in chassis], "Chassis", source)
    _check_unique([p.name for p in pools], "NodePool", source)
    problems = check_references(chassis, pools)
    if problems:
        raise problems[0].error(source)
    return Config(chassis=tuple(chassis), pools=tuple(pools), secrets=secrets)


def parse_object(
    doc: object, *, label: str, secrets_allowed: bool = False
) -> ChassisResource | NodePoolSpec | tuple[str, dict[str, str]]:
    """Validate one resource: a Chassis, a NodePool or (if allowed) a Secret (name, data).

    Checks that need other resources (a pool's chassis exist, one catch-all) are not made here.
    """
    fields = Fields(doc, label, "")
    api_version, kind = fields.text("apiVersion"), fields.text("kind")
    metadata = fields.mapping("metadata")
    name = metadata.text("name")
    if not DNS_LABEL.fullmatch(name) or len(name) > 63:
        raise ConfigError(
            "must be a DNS label (lower-case letters, digits, '-'; at most 63)",
            document=label,
            path="metadata.name",
        )
    label = f"{label} {kind}/{name}"
    if (api_version, kind) == ("v1", "Secret") and secrets_allowed:
        return name, _secret_data(Fields(doc, label, "", secret=True))
    if (api_version, kind) == (API_VERSION, "Chassis"):
        spec = Fields(doc, label, "").mapping("spec")
        chassis = chassis_spec(name, spec)
        spec.reject_unknown()
        if "labels" in metadata.raw:
            labels = metadata.mapping("labels")
            pairs = sorted((str(k), labels.text(str(k))) for k in labels.raw)
            chassis = dataclasses.replace(chassis, labels=tuple(pairs))
        return chassis
    if (api_version, kind) == (API_VERSION, "NodePool"):
        spec = Fields(doc, label, "").mapping("spec")
        namespace = metadata.text("namespace", DEFAULT_NAMESPACE)
        pool = pool_spec(name, spec, default_namespace=namespace)
        spec.reject_unknown()
        return pool
    raise ConfigError(
        f"unsupported kind {api_version}/{kind}; expected v1/Secret, "
        f"{API_VERSION}/Chassis or {API_VERSION}/NodePool",
        document=label,
        path="kind",
    )


def _check_unique(names: list[str], kind: str, source: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"two {kind} documents are named {name!r}", document=source)
        seen.add(name)


def _secret_data(doc: Fields) -> dict[str, str]:
    data: dict[str, str] = {}
    if "data" in doc.raw:
        for key, value in doc.mapping("data").raw.items():
            try:
                data[str(key)] = base64.b64decode(str(value), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ConfigError(
                    "not base64-encoded UTF-8 text", document=doc.document, path=f"data.{key}"
                ) from exc
    if "stringData" in doc.raw:
        string_data = doc.mapping("stringData")
        for key in string_data.raw:
            data[str(key)] = string_data.text(str(key))
    return data
