"""The Helm chart without a cluster: lint, what it renders for default and example values, the
RBAC rules rule by rule, the pod's hardening, and the CRD copies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pytest

from chassisd.metrics import Metrics
from tests.deploy.deploy_helpers import CHART, EXAMPLE_VALUES, REPO, Helm, find

# What chassisd does, as (apiGroup, resource, resourceName, verb), from chassisd/kube/gateway.py,
# chassisd/cluster/ and chassisd/kube/leader.py. The reasons are in the chart's templates.
RESOURCES_RULES = {
    *{
        ("chassisd.io", kind, "", verb)
        for kind in ("chassis", "nodepools", "poweractions")
        for verb in ("list", "watch")  # the agent's caches: list, then watch
    },
    *{
        ("chassisd.io", f"{kind}/status", "", "patch")  # server-side apply of status
        for kind in ("chassis", "nodepools", "poweractions")
    },
    ("chassisd.io", "poweractions", "", "delete"),  # finished actions, after an hour
    ("events.k8s.io", "events", "", "create"),  # a new Event: a Conflict, a chassis transition
    ("events.k8s.io", "events", "", "patch"),  # server-side apply of an Event's series
}
DHCP_RULES = {
    (group, resource, "", verb)
    for group, resource in (("dnsmasq.kvaps.cf", "dhcphosts"), ("", "configmaps"))
    # list by label; get (its ownership labels) before the first apply and before a delete;
    # server-side apply (PATCH, authorized as create too when the object is new); delete what
    # a removed pool or chassis owned
    for verb in ("get", "list", "create", "patch", "delete")
}
LEASE_RULES = {
    ("coordination.k8s.io", "leases", "chassisd-leader", "get"),
    ("coordination.k8s.io", "leases", "chassisd-leader", "update"),
    ("coordination.k8s.io", "leases", "", "create"),  # RBAC sees no name on create
}
OPERATOR_RULES = {
    *{("chassisd.io", "poweractions", "", v) for v in ("create", "get", "list", "watch", "delete")},
    *{
        ("chassisd.io", k, "", v)
        for k in ("chassis", "nodepools")
        for v in ("get", "list", "watch")
    },
    ("chassisd.io", "chassis", "", "patch"),  # chassisctl poll: the poll-requested annotation
}


def permissions(role: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """A Role's or ClusterRole's rules as (apiGroup, resource, resourceName, verb) tuples."""
    found = set()
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for name in rule.get("resourceNames") or [""]:
                    for verb in rule["verbs"]:
                        found.add((group, resource, name, verb))
    return found


def by_kind(objects: Iterable[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """(namespace, name) of every object, grouped by kind."""
    kinds: dict[str, list[tuple[str, str]]] = {}
    for obj in objects:
        meta = obj["metadata"]
        kinds.setdefault(obj["kind"], []).append((meta.get("namespace", ""), meta["name"]))
    return {kind: sorted(names) for kind, names in kinds.items()}


@pytest.mark.parametrize("values", [[], [EXAMPLE_VALUES]], ids=["default", "moonshot-farm"])
def test_helm_lint_strict_passes(chart: Helm, values: list[str]) -> None:
    """`helm lint --strict` passes with the default values and with the example values."""
    args = [arg for path in values for arg in ("--values", str(path))]
    result = chart.run("lint", "--strict", str(CHART), *args)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout


def test_default_values_render_cluster_wide_rules_and_release_namespace_roles(chart: Helm) -> None:
    """Default values (every namespace): a ClusterRole for chassisd's kinds, the DHCP Role in the
    release namespace, no Secret access at all, and the Lease Role."""
    objects = chart.template(namespace="chassisd")
    assert by_kind(objects) == {
        "ClusterRole": [("", "chassisd-operator"), ("", "chassisd-resources")],
        "ClusterRoleBinding": [("", "chassisd-resources")],
        "Deployment": [("chassisd", "chassisd")],
        "PodDisruptionBudget": [("chassisd", "chassisd")],
        "Role": [("chassisd", "chassisd-dhcp"), ("chassisd", "chassisd-leader-election")],
        "RoleBinding": [("chassisd", "chassisd-dhcp"), ("chassisd", "chassisd-leader-election")],
        "Service": [("chassisd", "chassisd")],
        "ServiceAccount": [("chassisd", "chassisd")],
    }
    assert permissions(find(objects, "ClusterRole", "chassisd-resources")) == RESOURCES_RULES
    assert permissions(find(objects, "Role", "chassisd-dhcp")) == DHCP_RULES
    assert permissions(find(objects, "Role", "chassisd-leader-election")) == LEASE_RULES
    assert permissions(find(objects, "ClusterRole", "chassisd-operator")) == OPERATOR_RULES
    binding = find(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "chassisd", "namespace": "chassisd"}
    ]
    assert binding["roleRef"]["name"] == "chassisd-resources"


def test_example_values_render_namespaced_roles_only(chart: Helm) -> None:
    """The Moonshot farm values (watchNamespace farm): Roles only, the Secret Role limited to
    moonshot-credentials, no ClusterRole but the operator one."""
    objects = chart.template(namespace="chassisd", values=[EXAMPLE_VALUES])
    kinds = by_kind(objects)
    assert kinds["ClusterRole"] == [("", "chassisd-operator")]
    assert "ClusterRoleBinding" not in kinds
    assert kinds["Role"] == [
        ("chassisd", "chassisd-leader-election"),
        ("farm", "chassisd-dhcp"),
        ("farm", "chassisd-resources"),
        ("farm", "chassisd-secrets"),
    ]
    assert sorted(kinds["RoleBinding"]) == kinds["Role"]
    assert permissions(find(objects, "Role", "chassisd-resources")) == RESOURCES_RULES
    assert permissions(find(objects, "Role", "chassisd-secrets")) == {
        ("", "secrets", "moonshot-credentials", "get")
    }
    args = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=farm" in args and "--workers=4" in args


def test_dhcp_and_secret_namespaces_get_one_role_each(chart: Helm) -> None:
    """Every namespace in dhcpNamespaces gets the DHCP Role, every one in secretNamespaces the
    Secret Role naming exactly secretNames; each binding names the release's ServiceAccount."""
    objects = chart.template(
        release="farm-chassisd",
        namespace="ops",
        set_values=[
            "dhcpNamespaces={dnsmasq,kubefarm-a}",
            "secretNames={bmc-a,bmc-b}",
            "secretNamespaces={farm-a,farm-b}",
        ],
    )
    roles = by_kind(objects)["Role"]
    assert roles == [
        ("dnsmasq", "farm-chassisd-dhcp"),
        ("farm-a", "farm-chassisd-secrets"),
        ("farm-b", "farm-chassisd-secrets"),
        ("kubefarm-a", "farm-chassisd-dhcp"),
        ("ops", "farm-chassisd-leader-election"),
    ]
    for role in (
        o for o in objects if o["kind"] == "Role" and o["metadata"]["name"].endswith("-secrets")
    ):
        assert permissions(role) == {("", "secrets", n, "get") for n in ("bmc-a", "bmc-b")}
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "farm-chassisd", "namespace": "ops"}
        ]
    lease = find(objects, "Role", "farm-chassisd-leader-election")
    assert {p[2] for p in permissions(lease)} == {"farm-chassisd-leader", ""}


def test_deployment_is_hardened_and_runs_chassisd_with_leader_election(chart: Helm) -> None:
    """Two replicas contending for the Lease, probes on /healthz and /readyz, a non-root,
    read-only, capability-free pod with the RuntimeDefault seccomp profile."""
    deployment = find(chart.template(), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert container["args"] == [
        "run",
        "--health-address=0.0.0.0:8080",
        "--identity=$(POD_NAME)",
        "--lease-namespace=$(POD_NAMESPACE)",
        "--lease-name=chassisd-leader",
        "--log-format=json",
        "--workers=auto",
    ]
    assert {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]} == {
        "POD_NAME": "metadata.name",
        "POD_NAMESPACE": "metadata.namespace",
    }
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert pod["serviceAccountName"] == "chassisd"


def test_values_reach_the_command_line(chart: Helm) -> None:
    """watchNamespace, logFormat, workers, healthPort, extraArgs and the image digest end up in
    the container."""
    objects = chart.template(
        set_values=[
            "watchNamespace=farm",
            "logFormat=text",
            "workers=3",
            "healthPort=9090",
            "extraArgs={--lease-name=custom}",
            "image.digest=sha256:" + "a" * 64,
        ]
    )
    container = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["run", "--namespace=farm"]
    assert "--log-format=text" in container["args"] and "--workers=3" in container["args"]
    assert "--health-address=0.0.0.0:9090" in container["args"]
    assert container["args"][-1] == "--lease-name=custom"  # argparse: the last one wins
    assert container["image"] == "localhost/chassisd@sha256:" + "a" * 64
    assert container["ports"][0]["containerPort"] == 9090


def test_leader_election_off_means_one_replica_and_no_lease_role(chart: Helm) -> None:
    """Without leader election the chart refuses two replicas, and with one it passes
    --no-leader-election and grants no Lease access."""
    refused = chart.run(
        "template", "chassisd", str(CHART), "--set", "leaderElection.enabled=false", check=False
    )
    assert refused.returncode != 0
    assert "leaderElection.enabled=false needs replicaCount: 1" in refused.stderr
    objects = chart.template(set_values=["leaderElection.enabled=false", "replicaCount=1"])
    args = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--no-leader-election" in args
    assert not any("lease" in a for a in args)
    assert not [o for o in objects if "leader" in o["metadata"]["name"]]
    assert not [o for o in objects if o["kind"] == "PodDisruptionBudget"]


def test_values_schema_rejects_a_misspelt_key(chart: Helm) -> None:
    """values.schema.json refuses unknown keys, so a typo such as dhcpNamespace is an error and
    not a silently ignored setting."""
    result = chart.run(
        "template", "chassisd", str(CHART), "--set", "dhcpNamespace=farm", check=False
    )
    assert result.returncode != 0
    assert "additional properties 'dhcpNamespace' not allowed" in result.stderr


def test_service_monitor_scrapes_the_metrics_service(chart: Helm) -> None:
    """With serviceMonitor.enabled the ServiceMonitor selects the Service's labels and scrapes
    its named port at /metrics; it is off by default."""
    assert not [o for o in chart.template() if o["kind"] == "ServiceMonitor"]
    objects = chart.template(
        set_values=["serviceMonitor.enabled=true", "serviceMonitor.labels.release=prom"]
    )
    monitor = find(objects, "ServiceMonitor")
    service = find(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["chassisd"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
    assert service["spec"]["selector"].items() <= (
        find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )


def test_operator_role_aggregates_to_edit_only_when_asked(chart: Helm) -> None:
    """The operator ClusterRole joins the built-in `edit` role only with
    operatorRole.aggregateToEdit, and disappears with operatorRole.create=false."""
    label = "rbac.authorization.k8s.io/aggregate-to-edit"
    default = find(chart.template(), "ClusterRole", "chassisd-operator")
    assert label not in default["metadata"]["labels"]
    aggregated = find(
        chart.template(set_values=["operatorRole.aggregateToEdit=true"]),
        "ClusterRole",
        "chassisd-operator",
    )
    assert aggregated["metadata"]["labels"][label] == "true"
    none = chart.template(set_values=["operatorRole.create=false"])
    assert not [o for o in none if o["metadata"]["name"] == "chassisd-operator"]


def test_every_namespaced_object_names_its_namespace(chart: Helm) -> None:
    """Each namespaced object carries metadata.namespace, so `kubectl apply -f` of the plain
    manifests never puts one in the caller's current namespace."""
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding"}
    for values in ([], [EXAMPLE_VALUES]):
        for obj in chart.template(values=values, namespace="somewhere"):
            if obj["kind"] not in cluster_scoped:
                assert obj["metadata"].get("namespace"), obj["metadata"]["name"]


def test_chart_crds_are_byte_identical_to_the_top_level_crds() -> None:
    """The chart ships exactly the CRDs in crds/ (the source of truth), byte for byte."""
    top = {p.name: p.read_bytes() for p in sorted((REPO / "crds").glob("*.yaml"))}
    shipped = {p.name: p.read_bytes() for p in sorted((CHART / "crds").glob("*.yaml"))}
    assert top, "no CRDs in crds/"
    assert shipped.keys() == top.keys()
    for name, content in top.items():
        assert shipped[name] == content, f"deploy/helm/chassisd/crds/{name} differs from crds/"
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == sorted(top)


def _exported_metric_names() -> set[str]:
    """Every series name chassisd's Metrics registry can export, with process_* metrics."""
    metrics = Metrics(version="test")
    metrics.observe_poll("m1", "moonshot", "success", 1.0, namespace="farm")
    metrics.set_reachable("m1", True, namespace="farm")
    metrics.set_nodes("m1", 45, namespace="farm")
    metrics.set_pool("p", members=1, conflicts=0, free=1, namespace="farm")
    metrics.count_power("on", "failed", "moonshot")
    metrics.count_write("DhcpHosts", "apply")
    metrics.set_leader(True)
    return {s.name for family in metrics.registry.collect() for s in family.samples}


def _metric_names_in(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:chassisd|process)_[a-z_]+)", expr))


def test_prometheus_rule_alerts_on_metrics_chassisd_exports(chart: Helm) -> None:
    """With prometheusRule.enabled the chart renders alerts for unreachable and stale chassis,
    conflicts, a range nearly exhausted, failing power and no leader, each on metrics the
    agent really exports; off by default."""
    assert not [o for o in chart.template() if o["kind"] == "PrometheusRule"]
    objects = chart.template(
        set_values=["prometheusRule.enabled=true", "prometheusRule.freeAddressesBelow=9"]
    )
    rule = find(objects, "PrometheusRule")
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == {
        "ChassisdChassisUnreachable", "ChassisdInventoryStale", "ChassisdPoolConflicts",
        "ChassisdPoolRangeNearlyExhausted", "ChassisdPowerActionsFailing", "ChassisdNoLeader",
    }  # fmt: skip
    assert alerts["ChassisdPoolRangeNearlyExhausted"]["expr"].endswith("< 9")
    exported = _exported_metric_names()
    for alert in alerts.values():
        names = _metric_names_in(alert["expr"])
        assert names and names <= exported, (alert["alert"], names - exported)
        assert alert["annotations"]["summary"] and alert["labels"]["severity"]


def test_grafana_dashboard_is_valid_json_on_exported_metrics(chart: Helm) -> None:
    """The dashboard ConfigMap (off by default) carries the chart's dashboard JSON, whose every
    query uses metrics the agent exports."""
    assert not [o for o in chart.template() if o.get("metadata", {}).get("name", "").endswith(
        "-dashboard")]  # fmt: skip
    objects = chart.template(set_values=["grafanaDashboard.enabled=true"])
    (configmap,) = [o for o in objects if o["metadata"]["name"] == "chassisd-dashboard"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["chassisd.json"])
    assert dashboard == json.loads((CHART / "dashboards" / "chassisd.json").read_text())
    exported = _exported_metric_names()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        names = _metric_names_in(expr)
        assert names and names <= exported, (expr, names - exported)
