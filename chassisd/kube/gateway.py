"""The gateway to the Kubernetes API: every read, watch and write chassisd makes.

Owns the API client, the resource kinds chassisd uses, and turning API failures into
``KubeApiError`` (defined in ``chassisd.errors``, re-exported here). Objects go in and come out
as plain dicts. Every write is server-side apply with field manager ``chassisd`` (status through
the status subresource), or a create/delete of an object chassisd owns; deciding *whether* to
write is the caller's job. Counts writes in the metrics when given them. Knows nothing of
chassis, pools or reconcile.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import urllib3
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError
from kubernetes.watch import Watch

from chassisd.errors import ConfigError
from chassisd.errors import KubeApiError as KubeApiError  # re-exported: callers catch it here
from chassisd.metrics import Metrics

log = logging.getLogger(__name__)

FIELD_MANAGER = "chassisd"
REQUEST_TIMEOUT = 30.0  # seconds for one API request; watches set their own


@dataclass(frozen=True)
class Kind:
    """One resource kind: its apiVersion and kind, as the API names them."""

    api_version: str
    kind: str


CHASSIS = Kind("chassisd.io/v1alpha1", "Chassis")
NODEPOOL = Kind("chassisd.io/v1alpha1", "NodePool")
POWERACTION = Kind("chassisd.io/v1alpha1", "PowerAction")
DHCPHOSTS = Kind("dnsmasq.kvaps.cf/v1beta1", "DhcpHosts")
CONFIGMAP = Kind("v1", "ConfigMap")
SECRET = Kind("v1", "Secret")
EVENT = Kind("v1", "Event")


def load_api_client(kubeconfig: Path | None, *, connections: int = 0) -> k8s.ApiClient:
    """An API client from ``kubeconfig``, else ``$KUBECONFIG``, else the in-cluster config.

    ``connections``: HTTPS connections kept open to the API server (0: the client's default,
    5 per CPU). The agent makes requests from every poll worker at once; a pool smaller than
    that opens and discards a TLS connection per request.
    """
    configuration = k8s.Configuration()
    try:
        if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            path = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG")
            k8s_config.load_kube_config(config_file=path, client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError) as exc:
        raise ConfigError(f"no usable Kubernetes configuration: {exc}") from exc
    if connections:
        configuration.connection_pool_maxsize = connections
    # No hidden retries: urllib3 would repeat a timed-out read three times, so a list against a
    # black-holed API server took four request timeouts (measured through Toxiproxy). Whether
    # to try again is the caller's decision, as for every other failure.
    configuration.retries = False
    return k8s.ApiClient(configuration)


class _BoundedDynamicClient(DynamicClient):
    """The dynamic client with a timeout on every request it sends, discovery included: its
    discoverer passes none, so a first call against a black-holed API server hung for ever."""

    def __init__(self, api: k8s.ApiClient, request_timeout: float) -> None:
        self._default_request_timeout = request_timeout  # discovery may start in __init__
        super().__init__(api)  # type: ignore[no-untyped-call]

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        params.setdefault("_request_timeout", self._default_request_timeout)
        return super().request(method, path, body=body, **params)


class KubeGateway:
    """Reads, watches and writes objects through one API client.

    Every request, discovery included, is bounded by ``request_timeout`` per attempt; with a
    client from ``load_api_client`` (no urllib3 retries) that bounds the call. A watch's
    connection is given up when no byte arrived for its own ``timeout`` plus
    ``request_timeout``.
    """

    def __init__(
        self,
        api: k8s.ApiClient,
        metrics: Metrics | None = None,
        *,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        """``request_timeout``: seconds one read or write may take (connect, TLS, answer); a
        watch may stay silent for its own ``timeout`` plus this."""
        self.api = api
        self.request_timeout = request_timeout
        self._metrics = metrics
        self._dynamic: DynamicClient | None = None

    def _resource(self, kind: Kind) -> Any:
        try:
            if self._dynamic is None:
                self._dynamic = _BoundedDynamicClient(self.api, self.request_timeout)
            return self._dynamic.resources.get(api_version=kind.api_version, kind=kind.kind)
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _wrap(exc, f"discover {kind.kind}") from exc
        except Exception as exc:  # the dynamic client raises ResourceNotFoundError and others
            raise KubeApiError(
                f"{kind.kind} ({kind.api_version}) is not served: {exc}", status=404
            ) from exc

    def _count(self, kind: Kind, verb: str) -> None:
        if self._metrics is not None:
            self._metrics.count_write(kind.kind, verb)

    def list(
        self, kind: Kind, namespace: str | None = None, label_selector: str = ""
    ) -> tuple[list[dict[str, Any]], str]:
        """Every object of ``kind`` (in ``namespace``, or all), and the list's resourceVersion."""
        try:
            data = self._resource(kind).get(
                namespace=namespace,
                label_selector=label_selector or None,
                serializer=_plain,
                _request_timeout=self.request_timeout,
            )
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _wrap(exc, f"list {kind.kind}") from exc
        return list(data.get("items") or []), str(data["metadata"].get("resourceVersion", ""))

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        """One object, or None if it does not exist."""
        try:
            return dict(
                self._resource(kind).get(
                    name=name,
                    namespace=namespace,
                    serializer=_plain,
                    _request_timeout=self.request_timeout,
                )
            )
        except NotFoundError:
            return None
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _wrap(exc, f"get {kind.kind} {namespace}/{name}") from exc

    def watch(
        self, kind: Kind, namespace: str | None, resource_version: str, timeout: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events (type, object) after ``resource_version`` until ``timeout`` seconds pass."""
        resource = self._resource(kind)
        try:
            # kubernetes.watch directly, not DynamicClient.watch: that wraps every event in a
            # ResourceInstance, which costs more than the JSON parse on a farm's status events.
            for event in Watch().stream(  # type: ignore[no-untyped-call]
                resource.get,
                namespace=namespace,
                resource_version=resource_version or None,
                serialize=False,
                timeout_seconds=timeout,
                # An idle watch gets no byte until the server ends it after `timeout`; silence
                # beyond that (plus a request's time) means the connection is dead.
                _request_timeout=(self.request_timeout, timeout + self.request_timeout),
            ):
                yield str(event["type"]), event["raw_object"]
        except (DynamicApiError, ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            # An ERROR event (e.g. 410 Gone: the version is too old) arrives as ApiException.
            raise _wrap(exc, f"watch {kind.kind}") from exc

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``obj`` (created if absent) as field manager ``chassisd``."""
        kind = Kind(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        try:
            result = self._resource(kind).server_side_apply(
                body=obj,
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
                serializer=_plain,
                _request_timeout=self.request_timeout,
            )
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _wrap(exc, f"apply {kind.kind} {meta.get('namespace')}/{meta['name']}") from exc
        self._count(kind, "apply")
        return dict(result)

    def apply_status(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``obj``'s status through the status subresource."""
        kind = Kind(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        body = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": meta,
                "status": obj["status"]}  # fmt: skip
        try:
            result = (
                self._resource(kind)
                .subresources["status"]
                .server_side_apply(
                    body=body,
                    name=meta["name"],
                    namespace=meta.get("namespace"),
                    field_manager=FIELD_MANAGER,
                    force_conflicts=True,
                    serializer=_plain,
                    _request_timeout=self.request_timeout,
                )
            )
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _wrap(
                exc, f"status of {kind.kind} {meta.get('namespace')}/{meta['name']}"
            ) from exc
        self._count(kind, "status")
        return dict(result)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj`` (``generateName`` allowed)."""
        kind = Kind(obj["apiVersion"], obj["kind"])
        try:
            result = self._resource(kind).create(
                body=obj,
                namespace=obj["metadata"].get("namespace"),
                serializer=_plain,
                _request_timeout=self.request_timeout,
            )
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _wrap(exc, f"create {kind.kind}") from exc
        self._count(kind, "create")
        return dict(result)

    def delete(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> None:
        """Delete one object; an object already gone is fine. With ``uid`` or
        ``resource_version`` it is deleted only if it is still exactly that object (else
        ``KubeApiError`` with status 409)."""
        preconditions = {
            k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v
        }
        body = {"preconditions": preconditions} if preconditions else None
        try:
            self._resource(kind).delete(
                name=name,
                namespace=namespace,
                body=body,
                _request_timeout=self.request_timeout,
            )
        except NotFoundError:
            return
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _wrap(exc, f"delete {kind.kind} {namespace}/{name}") from exc
        self._count(kind, "delete")

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """A Secret's data, decoded; ``ConfigError`` if it is missing, or naming the key
        (``path``) whose value is not base64 UTF-8 text (values never shown)."""
        secret = self.get(SECRET, namespace, name)
        if secret is None:
            raise ConfigError(f"Secret {namespace}/{name} not found")
        data: dict[str, str] = {}
        for key, value in (secret.get("data") or {}).items():
            try:
                data[str(key)] = base64.b64decode(value).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as exc:
                # The key is named, never the value (it may be most of a password).
                raise ConfigError(
                    "not base64-encoded UTF-8 text",
                    document=f"Secret {namespace}/{name}",
                    path=f"data.{key}",
                ) from exc
        data.update(secret.get("stringData") or {})
        return data

    def event(self, involved: dict[str, Any], *, reason: str, message: str, warning: bool) -> None:
        """Record an Event about ``involved`` (never with secrets in it)."""
        meta = involved["metadata"]
        self.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                "involvedObject": {
                    "apiVersion": involved["apiVersion"],
                    "kind": involved["kind"],
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta.get("uid"),
                },
                "reason": reason,
                "message": message[:1024],
                "type": "Warning" if warning else "Normal",
                "source": {"component": "chassisd"},
                "reportingComponent": "chassisd",
            }
        )


def _plain(_client: object, data: Any) -> Any:
    """Responses as the parsed JSON, not the dynamic client's ResourceInstance (whose
    construction and ``to_dict`` cost more than the request on large lists)."""
    return data


def _wrap(exc: BaseException, what: str) -> KubeApiError:
    status = int(getattr(exc, "status", 0) or 0)
    if isinstance(exc, (DynamicApiError, ApiException)):
        detail = getattr(exc, "summary", lambda: str(exc))()
        return KubeApiError(f"{what}: {detail}", status=status)
    return KubeApiError(f"{what}: API server unreachable ({exc.__class__.__name__})", status=0)
