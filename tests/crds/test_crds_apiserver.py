"""chassisd's CRDs on a real kube-apiserver (``chassisd.testing.controlplane``): they install,
valid objects are stored with the defaults ``crd_helpers.apply_defaults`` predicts, every invalid
case of ``crd_helpers.CASES`` is refused (CEL rules included), status is a subresource, and the
printer columns show what they should.

Requests use ``fieldValidation=Strict``, as kubectl does by default, so unknown fields are errors
rather than silently pruned.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from chassisd.demo import config_documents
from chassisd.testing.controlplane import ControlPlane
from tests.crds.crd_helpers import (
    CASES,
    GROUP,
    PLURALS,
    VALID,
    VERSION,
    Case,
    apply_defaults,
    openapi_schema,
)

pytestmark = pytest.mark.kube

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
MERGE_PATCH = "application/merge-patch+json"


def create(api: k8s.ApiClient, namespace: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Create ``doc`` in ``namespace`` with strict field validation; return the stored object."""
    created: dict[str, Any] = k8s.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURALS[doc["kind"]], doc, field_validation="Strict"
    )
    return created


def patch(
    api: k8s.ApiClient, namespace: str, kind: str, name: str, body: dict[str, Any], *, status: bool
) -> dict[str, Any]:
    """JSON merge-patch the main resource or (``status=True``) the status subresource."""
    custom = k8s.CustomObjectsApi(api)
    method = (
        custom.patch_namespaced_custom_object_status
        if status
        else custom.patch_namespaced_custom_object
    )
    patched: dict[str, Any] = method(
        GROUP,
        VERSION,
        namespace,
        PLURALS[kind],
        name,
        body,
        field_validation="Strict",
        _content_type=MERGE_PATCH,
    )
    return patched


def rejection(excinfo: pytest.ExceptionInfo[ApiException]) -> tuple[int, str]:
    """The HTTP status and the message of a refused request."""
    body = json.loads(excinfo.value.body or "{}")
    return int(excinfo.value.status or 0), str(body.get("message", ""))


def test_crds_are_installed_with_their_names(
    control_plane: ControlPlane, kube_api: k8s.ApiClient
) -> None:
    """All three CRDs are Established and discovery lists their short names, the chassisd
    category and a status subresource."""
    assert {f"{p}.{GROUP}" for p in PLURALS.values()} <= set(control_plane.crds)
    resources = k8s.CustomObjectsApi(kube_api).get_api_resources(GROUP, VERSION)
    listed = {r.name: r for r in resources.resources}
    for plural in PLURALS.values():
        assert listed[plural].namespaced
        assert listed[plural].categories == ["chassisd"]
        assert f"{plural}/status" in listed
    assert listed["chassis"].short_names == ["chs"]
    assert listed["nodepools"].short_names == ["np"]
    assert listed["poweractions"].short_names == ["pa"]


def test_valid_objects_are_stored_with_the_predicted_defaults(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """The demo's Chassis and NodePools and the reference documents are accepted, and the API
    server fills in exactly the defaults the local defaulting (compared with chassisd.config)
    does."""
    demo = config_documents({"moonshot-1": 2201, "moonshot-2": 2202}, "")
    docs = [d for d in demo if d["kind"] in PLURALS]
    docs += [copy.deepcopy(VALID["PowerAction"])]
    docs += [dict(copy.deepcopy(VALID[k]), metadata={"name": f"ref-{k.lower()}"}) for k in VALID]
    for doc in docs:
        stored = create(kube_api, kube_namespace, doc)
        expected = apply_defaults(openapi_schema(doc["kind"]), doc)["spec"]
        assert stored["spec"] == expected, doc["metadata"]["name"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}-{c.id}")
def test_case_on_the_apiserver(case: Case, kube_api: k8s.ApiClient, kube_namespace: str) -> None:
    """A case the schema or a CEL rule rejects is refused naming its field; a case only
    chassisd.config can judge (other documents, range arithmetic) is accepted."""
    doc = case.document()
    if not case.rejected_by & {"schema", "cel"}:
        create(kube_api, kube_namespace, doc)
        return
    with pytest.raises(ApiException) as refused:
        create(kube_api, kube_namespace, doc)
    status, message = rejection(refused)
    # Strict field validation refuses unknown fields (also the keys of an object sent where a
    # list belongs) with 400 BadRequest before the schema runs; schema and CEL errors are 422.
    if status == 400:
        assert "strict decoding error: unknown field" in message
    else:
        assert status == 422, message
    assert case.error_field in message


def test_catch_all_message_is_the_cel_rule_message(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """The CEL rules answer in words an operator understands, with the field path."""
    doc = copy.deepcopy(VALID["NodePool"])
    doc["spec"]["catchAll"] = True
    with pytest.raises(ApiException) as refused:
        create(kube_api, kube_namespace, doc)
    status, message = rejection(refused)
    assert status == 422
    assert "spec.members: Forbidden: a catch-all pool takes every unclaimed node" in message
    assert "spec.addressing: Forbidden: a catch-all pool gets addresses" in message


def test_a_malformed_range_reports_the_pattern_not_the_order(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """The end-before-start rule stays silent while an address is malformed, so the operator sees
    only the real mistake."""
    doc = copy.deepcopy(VALID["NodePool"])
    doc["spec"]["addressing"]["range"] = {"start": "10.0.0.300", "end": "10.0.0.20"}
    with pytest.raises(ApiException) as refused:
        create(kube_api, kube_namespace, doc)
    status, message = rejection(refused)
    assert status == 422
    assert 'spec.addressing.range.start: Invalid value: "10.0.0.300"' in message
    assert "end is before start" not in message


def test_power_action_spec_is_immutable(kube_api: k8s.ApiClient, kube_namespace: str) -> None:
    """Changing a PowerAction's node or action is refused by the CEL rule; labels and status
    can still change."""
    name = VALID["PowerAction"]["metadata"]["name"]
    create(kube_api, kube_namespace, copy.deepcopy(VALID["PowerAction"]))
    for change in ({"action": "cycle"}, {"node": "moonshot-2/c1n1"}):
        with pytest.raises(ApiException) as refused:
            patch(kube_api, kube_namespace, "PowerAction", name, {"spec": change}, status=False)
        status, message = rejection(refused)
        assert status == 422
        assert "spec is immutable" in message
    labelled = patch(
        kube_api,
        kube_namespace,
        "PowerAction",
        name,
        {"metadata": {"labels": {"team": "ops"}}},
        status=False,
    )
    assert labelled["metadata"]["labels"] == {"team": "ops"}
    running = patch(
        kube_api, kube_namespace, "PowerAction", name, {"status": {"phase": "Running"}}, status=True
    )
    assert running["status"] == {"phase": "Running"}
    # The API server fills in the default deadline; the rest is exactly what was created.
    assert running["spec"] == {**VALID["PowerAction"]["spec"], "deadlineSeconds": 300}


def test_status_is_a_subresource(kube_api: k8s.ApiClient, kube_namespace: str) -> None:
    """Status sent with the main resource is ignored; the status subresource writes it, validates
    it, and leaves spec and generation alone."""
    name = VALID["Chassis"]["metadata"]["name"]
    status = {"nodeCount": 2, "consecutiveFailures": 0}
    created = create(kube_api, kube_namespace, dict(copy.deepcopy(VALID["Chassis"]), status=status))
    assert "status" not in created
    ignored = patch(kube_api, kube_namespace, "Chassis", name, {"status": status}, status=False)
    assert "status" not in ignored
    assert ignored["metadata"]["generation"] == 1

    written = patch(kube_api, kube_namespace, "Chassis", name, {"status": status}, status=True)
    assert written["status"] == status
    assert written["metadata"]["generation"] == 1
    spec_ignored = patch(
        kube_api, kube_namespace, "Chassis", name, {"spec": {"paused": True}}, status=True
    )
    assert spec_ignored["spec"]["paused"] is False

    bad = {"nodes": [{"id": "c1n1", "macs": ["02:E5:00:01:2B:00"]}]}
    with pytest.raises(ApiException) as refused:
        patch(kube_api, kube_namespace, "Chassis", name, {"status": bad}, status=True)
    code, message = rejection(refused)
    assert code == 422
    assert "status.nodes[0].macs[0]" in message

    paused = patch(
        kube_api, kube_namespace, "Chassis", name, {"spec": {"paused": True}}, status=False
    )
    assert paused["metadata"]["generation"] == 2
    assert paused["status"] == status


def table(api: k8s.ApiClient, namespace: str, kind: str) -> list[dict[str, Any]]:
    """``kubectl get`` for ``kind``: one {column: cell} per object, default columns only."""
    answer = k8s.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURALS[kind], _headers={"Accept": TABLE}
    )
    names = [c["name"] for c in answer["columnDefinitions"] if c["priority"] == 0]
    return [dict(zip(names, row["cells"], strict=False)) for row in answer["rows"]]


def test_printer_columns_show_status_at_a_glance(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """``kubectl get chassis,nodepools,poweractions`` shows driver, address, reachability, node
    counts, pool readiness and conflicts, and a power request's phase and result."""
    condition = {
        "status": "True",
        "reason": "Polled",
        "message": "",
        "lastTransitionTime": "2026-01-01T10:00:00Z",
    }
    for kind, status in (
        (
            "Chassis",
            {
                "conditions": [dict(condition, type="Reachable")],
                "nodeCount": 45,
                "lastSuccessTime": "2026-01-01T10:00:00Z",
            },
        ),
        (
            "NodePool",
            {
                "conditions": [
                    dict(condition, type="Ready"),
                    dict(condition, type="Conflict", status="False"),
                ],
                "memberCount": 30,
            },
        ),
        ("PowerAction", {"phase": "Succeeded", "powerState": "on"}),
    ):
        doc = copy.deepcopy(VALID[kind])
        create(kube_api, kube_namespace, doc)
        patch(
            kube_api, kube_namespace, kind, doc["metadata"]["name"], {"status": status}, status=True
        )

    (chassis,) = table(kube_api, kube_namespace, "Chassis")
    assert list(chassis) == [
        "Name",
        "Driver",
        "Address",
        "Reachable",
        "Reason",
        "Nodes",
        "Last Success",
        "Age",
    ]
    assert (chassis["Driver"], chassis["Address"]) == ("moonshot", "10.0.0.5:22")
    assert (chassis["Reachable"], chassis["Nodes"]) == ("True", 45)
    (pool,) = table(kube_api, kube_namespace, "NodePool")
    assert list(pool) == ["Name", "Catch-All", "Nodes", "Ready", "Conflict", "Age"]
    assert (pool["Catch-All"], pool["Nodes"], pool["Ready"], pool["Conflict"]) == (
        False,
        30,
        "True",
        "False",
    )
    (action,) = table(kube_api, kube_namespace, "PowerAction")
    assert list(action) == ["Name", "Node", "Action", "Phase", "Power", "Deadline", "Age"]
    assert (action["Node"], action["Action"], action["Phase"], action["Power"]) == (
        "moonshot-1/c43n1",
        "on",
        "Succeeded",
        "on",
    )
