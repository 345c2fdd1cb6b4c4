"""chassisd's resources as typed settings: ``Chassis``, ``NodePool`` and ``v1/Secret``.

The same resource shapes come from a standalone YAML file (see ``documents`` for an example)
and from the cluster. This package parses and validates them, naming the document and the
field path of every mistake, checks references across them, and resolves a chassis's Secrets
into what its driver needs. It reads files, but talks to no device and no cluster.

Modules, each with one job:

- ``defaults``: every default value, written once, with its reason.
- ``resources``: the frozen values (``ChassisResource``, ``NodePoolSpec``, ``DhcpTarget``, …)
  and ``Config``, every resource of one source.
- ``fields``: the field validator (typed reads with field-path errors, durations, templates).
- ``specs``: the rules of a Chassis's and a NodePool's fields.
- ``documents``: YAML and documents → ``Config`` (``load_config``, ``parse_object``).
- ``references``: checks across resources, returned as a list of problems.
- ``driver_targets``: a chassis → its driver's ``ChassisTarget`` (Secrets resolved) and power
  routes.
- ``dnsmasq``: the dnsmasq options a kubefarm pool may pass through.

Everything other modules use is importable from ``chassisd.config`` itself.
"""

from __future__ import annotations

from chassisd.config.defaults import (
    DEFAULT_GRACE_PERIOD,
    DEFAULT_NODE_NAME_TEMPLATE,
    DEFAULT_POLL_INTERVAL,
)
from chassisd.config.dnsmasq import DNSMASQ_OPTION_KEYS
from chassisd.config.documents import API_VERSION, load_config, parse_documents, parse_object
from chassisd.config.driver_targets import PowerRoute, driver_target, power_routes
from chassisd.config.fields import check_template, parse_duration
from chassisd.config.references import (
    ReferenceProblem,
    ReferenceReason,
    check_references,
    surviving_pools,
)
from chassisd.config.resources import (
    ChassisResource,
    Config,
    DhcpTarget,
    IpRange,
    KubefarmOutput,
    MemberSelector,
    NodePoolSpec,
    SecretRef,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_GRACE_PERIOD",
    "DEFAULT_NODE_NAME_TEMPLATE",
    "DEFAULT_POLL_INTERVAL",
    "DNSMASQ_OPTION_KEYS",
    "ChassisResource",
    "Config",
    "DhcpTarget",
    "IpRange",
    "KubefarmOutput",
    "MemberSelector",
    "NodePoolSpec",
    "PowerRoute",
    "ReferenceProblem",
    "ReferenceReason",
    "SecretRef",
    "check_references",
    "check_template",
    "driver_target",
    "load_config",
    "parse_documents",
    "parse_duration",
    "parse_object",
    "power_routes",
    "surviving_pools",
]
