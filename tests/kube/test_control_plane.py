"""Proof that the test control plane is a real kube-apiserver: the API behaviours chassisd relies
on (optimistic concurrency, server-side apply, label selectors, watch, Lease conflicts, CRD
schema validation, RBAC), exercised with the official ``kubernetes`` client through the
generated kubeconfig. Every behaviour here is one the in-process emulators got wrong
(docs/test-peers.md, D2-D4)."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from chassisd.testing.controlplane import ControlPlane, service_account_client

pytestmark = pytest.mark.kube

GROUP, VERSION, PLURAL = "dnsmasq.kvaps.cf", "v1beta1", "dhcphosts"
CRD_NAME = f"{PLURAL}.{GROUP}"


def dhcphosts(
    name: str, labels: dict[str, str] | None = None, ip: str = "10.1.0.10"
) -> dict[str, Any]:
    """A valid DhcpHosts object with one reservation."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DhcpHosts",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "controller": "",
            "hosts": [{"macs": ["52:54:00:12:34:56"], "ip": ip, "hostname": name}],
        },
    }


def test_dhcphosts_crd_is_installed_and_established(
    control_plane: ControlPlane, kube_api: k8s.ApiClient
) -> None:
    """dnsmasq-controller's DhcpHosts CRD is installed at start-up and Established."""
    assert CRD_NAME in control_plane.crds
    crd = k8s.ApiextensionsV1Api(kube_api).read_custom_resource_definition(CRD_NAME)
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions["Established"] == "True"
    assert [v.name for v in crd.spec.versions] == [VERSION]


def test_server_is_a_real_kube_apiserver(kube_api: k8s.ApiClient) -> None:
    """/version reports a Kubernetes release built from the pinned k8s.io/kubernetes module."""
    info = k8s.VersionApi(kube_api).get_code()
    assert info.major == "1"
    assert info.git_version.startswith("v1.")


def test_create_get_and_list_with_label_selectors(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """Create sets server metadata, get returns it, list filters by equality and set selectors."""
    api = k8s.CustomObjectsApi(kube_api)
    for name, chassis in [("c1n1", "c1"), ("c2n1", "c2"), ("c2n2", "c2")]:
        created = api.create_namespaced_custom_object(
            GROUP, VERSION, kube_namespace, PLURAL, dhcphosts(name, {"chassis": chassis})
        )
        assert created["metadata"]["uid"]
        assert created["metadata"]["resourceVersion"]
        assert created["metadata"]["generation"] == 1

    got = api.get_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL, "c2n1")
    assert got["spec"]["hosts"][0]["hostname"] == "c2n1"

    def names(selector: str) -> list[str]:
        listed = api.list_namespaced_custom_object(
            GROUP, VERSION, kube_namespace, PLURAL, label_selector=selector
        )
        assert listed["metadata"]["resourceVersion"].isdigit()
        return sorted(item["metadata"]["name"] for item in listed["items"])

    assert names("chassis=c2") == ["c2n1", "c2n2"]
    assert names("chassis in (c1,c9)") == ["c1n1"]
    assert names("chassis in (c9)") == []
    assert names("chassis!=c2") == ["c1n1"]

    with pytest.raises(ApiException) as missing:
        api.get_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL, "nope")
    assert missing.value.status == 404


def test_update_with_stale_resource_version_conflicts(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """A replace carrying an outdated resourceVersion is refused with 409 Conflict."""
    api = k8s.CustomObjectsApi(kube_api)
    original = api.create_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL, dhcphosts("c1n5")
    )
    fresh = dict(original, spec=dict(original["spec"], controller="a"))
    updated = api.replace_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL, "c1n5", fresh
    )
    assert updated["metadata"]["resourceVersion"] != original["metadata"]["resourceVersion"]

    stale = dict(original, spec=dict(original["spec"], controller="b"))
    with pytest.raises(ApiException) as conflict:
        api.replace_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL, "c1n5", stale)
    assert conflict.value.status == 409
    current = api.get_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL, "c1n5")
    assert current["spec"]["controller"] == "a"


def test_server_side_apply_creates_then_updates_with_field_manager(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """Server-side apply creates the object, then updates it, recording manager `chassisd`."""
    api = k8s.CustomObjectsApi(kube_api)

    def apply(body: dict[str, Any]) -> Any:
        return api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            kube_namespace,
            PLURAL,
            body["metadata"]["name"],
            body,
            _content_type="application/apply-patch+yaml",
            field_manager="chassisd",
            force=True,
        )

    # The create answers 201, which client 37 does not map for PATCH: it returns None.
    assert apply(dhcphosts("c3n1", ip="10.1.0.31")) is None
    created = api.get_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL, "c3n1")
    assert created["spec"]["hosts"][0]["ip"] == "10.1.0.31"
    managers = {(m["manager"], m["operation"]) for m in created["metadata"]["managedFields"]}
    assert managers == {("chassisd", "Apply")}

    updated = apply(dhcphosts("c3n1", ip="10.1.0.32"))
    assert updated["spec"]["hosts"][0]["ip"] == "10.1.0.32"
    assert updated["metadata"]["generation"] == 2
    assert [m["manager"] for m in updated["metadata"]["managedFields"]] == ["chassisd"]


def test_watch_sees_added_modified_deleted(kube_api: k8s.ApiClient, kube_namespace: str) -> None:
    """A watch from a list's resourceVersion yields ADDED, MODIFIED and DELETED, in order."""
    api = k8s.CustomObjectsApi(kube_api)
    start = api.list_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL)
    rv = start["metadata"]["resourceVersion"]

    api.create_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL, dhcphosts("c4n1"))
    api.patch_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL, "c4n1", {"spec": {"controller": "x"}}
    )
    api.delete_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL, "c4n1")

    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    for event in w.stream(
        api.list_namespaced_custom_object,
        GROUP,
        VERSION,
        kube_namespace,
        PLURAL,
        resource_version=rv,
        timeout_seconds=10,
    ):
        seen.append((event["type"], event["object"]["metadata"]["name"]))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "c4n1"), ("MODIFIED", "c4n1"), ("DELETED", "c4n1")]


def test_lease_replace_with_stale_resource_version_conflicts(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """A coordination.k8s.io/v1 Lease renewed from a stale copy gets 409 (leader election)."""
    leases = k8s.CoordinationV1Api(kube_api)
    now = datetime.datetime.now(datetime.UTC)
    lease = leases.create_namespaced_lease(
        kube_namespace,
        k8s.V1Lease(
            metadata=k8s.V1ObjectMeta(name="chassisd-leader"),
            spec=k8s.V1LeaseSpec(
                holder_identity="a", lease_duration_seconds=15, renew_time=now, acquire_time=now
            ),
        ),
    )
    assert lease.metadata.resource_version

    lease.spec.holder_identity = "b"
    renewed = leases.replace_namespaced_lease("chassisd-leader", kube_namespace, lease)
    assert renewed.spec.holder_identity == "b"

    lease.spec.holder_identity = "c"  # still carries the first resourceVersion
    with pytest.raises(ApiException) as conflict:
        leases.replace_namespaced_lease("chassisd-leader", kube_namespace, lease)
    assert conflict.value.status == 409
    current = leases.read_namespaced_lease("chassisd-leader", kube_namespace)
    assert current.spec.holder_identity == "b"


def test_object_violating_the_crd_schema_is_rejected(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """A DhcpHosts whose `hosts` is a string instead of a list is refused with 422 Invalid."""
    api = k8s.CustomObjectsApi(kube_api)
    bad = dhcphosts("c5n1")
    bad["spec"]["hosts"] = "x"
    with pytest.raises(ApiException) as invalid:
        api.create_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL, bad)
    assert invalid.value.status == 422
    assert "spec.hosts" in invalid.value.body


def test_service_account_without_permission_is_forbidden(
    control_plane: ControlPlane, kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """A ServiceAccount token authenticates but is denied (403) until RBAC grants access."""
    with service_account_client(control_plane, kube_namespace, "chassisd") as sa_api:
        review = k8s.AuthenticationV1Api(sa_api).create_self_subject_review(
            k8s.V1SelfSubjectReview()
        )
        assert review.status.user_info.username == (
            f"system:serviceaccount:{kube_namespace}:chassisd"
        )

        sa_custom = k8s.CustomObjectsApi(sa_api)
        with pytest.raises(ApiException) as denied:
            sa_custom.list_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL)
        assert denied.value.status == 403

        # The positive control: the same token works once a Role allows it, so the 403 above
        # was RBAC's decision and not broken authentication.
        rbac = k8s.RbacAuthorizationV1Api(kube_api)
        rbac.create_namespaced_role(
            kube_namespace,
            k8s.V1Role(
                metadata=k8s.V1ObjectMeta(name="read-dhcphosts"),
                rules=[
                    k8s.V1PolicyRule(api_groups=[GROUP], resources=[PLURAL], verbs=["get", "list"])
                ],
            ),
        )
        rbac.create_namespaced_role_binding(
            kube_namespace,
            k8s.V1RoleBinding(
                metadata=k8s.V1ObjectMeta(name="chassisd-reads-dhcphosts"),
                role_ref=k8s.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="Role", name="read-dhcphosts"
                ),
                subjects=[
                    k8s.RbacV1Subject(
                        kind="ServiceAccount", name="chassisd", namespace=kube_namespace
                    )
                ],
            ),
        )
        # The RBAC authorizer learns of new bindings through its own watch: allow it a moment.
        listed: dict[str, object] = {}
        deadline = time.monotonic() + 15
        while not listed:
            try:
                listed = sa_custom.list_namespaced_custom_object(
                    GROUP, VERSION, kube_namespace, PLURAL
                )
            except ApiException as exc:
                if exc.status != 403 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert listed["items"] == []
        with pytest.raises(ApiException) as still_denied:
            sa_custom.create_namespaced_custom_object(
                GROUP, VERSION, kube_namespace, PLURAL, dhcphosts("c6n1")
            )
        assert still_denied.value.status == 403
