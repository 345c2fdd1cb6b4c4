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
import builtins
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
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
#: Objects per page of a paged list (``list_pages``): 100 Chassis of 45 nodes are a few MB.
LIST_PAGE_SIZE = 100


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
EVENT = Kind("events.k8s.io/v1", "Event")
CORE_EVENT = Kind("v1", "Event")  # the same Events as kubectl get events reads them

#: events.k8s.io/v1 ``reportingController``: who writes chassisd's Events.
REPORTING_CONTROLLER = "chassisd.io/chassisd"
#: Repeats of one Event seen within this time count into its ``series``; after it (the API
#: server keeps Events an hour by default) a new Event starts.
EVENT_SERIES_WINDOW = 3600.0
_MAX_EVENT_SERIES = 10_000  # remembered repeats; the oldest are forgotten beyond this


def load_api_client(
    kubeconfig: Path | None, *, connections: int = 0, context: str | None = None
) -> k8s.ApiClient:
    """An API client from ``kubeconfig``, else ``$KUBECONFIG``, else the in-cluster config.

    ``connections``: HTTPS connections kept open to the API server (0: the client's default,
    5 per CPU). The agent makes requests from every poll worker at once; a pool smaller than
    that opens and discards a TLS connection per request. ``context``: the kubeconfig context
    to use (default: its current context).
    """
    configuration = k8s.Configuration()
    try:
        if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            path = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG")
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, client_configuration=configuration
            )
    except (k8s_config.ConfigException, OSError) as exc:
        raise ConfigError(f"no usable Kubernetes configuration: {exc}") from exc
    if connections:
        configuration.connection_pool_maxsize = connections
    # No hidden retries: urllib3 would repeat a timed-out read three times, so a list against a
    # black-holed API server took four request timeouts (measured through Toxiproxy). Whether
    # to try again is the caller's decision, as for every other failure.
    configuration.retries = False
    return k8s.ApiClient(configuration)


#: Where a pod finds its own namespace (the service-account volume).
_POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def default_namespace(kubeconfig: Path | None, context: str | None = None) -> str | None:
    """The namespace kubectl would use: the kubeconfig context's (``context``, else the
    current one), or in a pod its own; None when neither names one."""
    try:
        if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            return _POD_NAMESPACE_FILE.read_text().strip() or None
        path = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG")
        contexts, current = k8s_config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError) as exc:
        raise ConfigError(f"no usable Kubernetes configuration: {exc}") from exc
    chosen = (
        current
        if context is None
        else next((c for c in contexts or [] if c.get("name") == context), None)
    )
    if chosen is None:
        names = ", ".join(str(c.get("name")) for c in contexts or [])
        raise ConfigError(f"context {context!r} not found in the kubeconfig (contexts: {names})")
    namespace = (chosen.get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


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
        reporting_instance: str = "",
        page_size: int = LIST_PAGE_SIZE,
    ) -> None:
        """``request_timeout``: seconds one read or write may take (connect, TLS, answer); a
        watch may stay silent for its own ``timeout`` plus this. ``reporting_instance``: this
        replica's name in the Events it writes (default: the host name). ``page_size``:
        objects per page of ``list_pages``."""
        self.api = api
        self.request_timeout = request_timeout
        self.page_size = page_size  # objects per page of ``list_pages``
        self.reporting_instance = reporting_instance or socket.gethostname()
        self._metrics = metrics
        self._dynamic: DynamicClient | None = None
        self._series_lock = threading.Lock()
        self._series: dict[tuple[str, ...], tuple[float, str, int]] = {}

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

    def list_pages(
        self,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str = "",
    ) -> Iterator[tuple[builtins.list[dict[str, Any]], str]]:
        """Every object of ``kind``, ``page_size`` at a time (the API's ``limit`` and
        ``continue``), each page with the list's resourceVersion ("" but on the last page).

        A caller that keeps a summary of each object holds one page of whole objects at a
        time: 1,000 Chassis with their node lists and managedFields are tens of MB of JSON and
        several times that as Python objects when listed at once."""
        token: str | None = None
        while True:
            try:
                data = self._resource(kind).get(
                    namespace=namespace,
                    label_selector=label_selector or None,
                    limit=self.page_size,
                    _continue=token,
                    serializer=_plain,
                    _request_timeout=self.request_timeout,
                )
            except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
                raise _wrap(exc, f"list {kind.kind}") from exc
            metadata = data.get("metadata") or {}
            token = metadata.get("continue") or None
            items = list(data.get("items") or [])
            del data
            yield items, "" if token else str(metadata.get("resourceVersion", ""))
            if token is None:
                return

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

    def apply(self, obj: dict[str, Any], *, field_manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """Server-side apply ``obj`` (created if absent) as ``field_manager``."""
        kind = Kind(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        try:
            result = self._resource(kind).server_side_apply(
                body=_json(obj),
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=field_manager,
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
                    body=_json(body),
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

    def event(
        self,
        involved: dict[str, Any],
        *,
        reason: str,
        message: str,
        warning: bool,
        action: str = "Reconcile",
        now: float | None = None,
    ) -> None:
        """Record an ``events.k8s.io/v1`` Event about ``involved`` (never with secrets in it).

        The Event carries ``eventTime``, ``reportingController``, ``reportingInstance`` and
        ``action``. The same Event again (same object, reason, type, message) within
        ``EVENT_SERIES_WINDOW`` updates that Event's ``series`` (count and last time) by
        server-side apply instead of creating another, as client-go's recorder does.
        """
        meta = involved["metadata"]
        note = message[:1024]
        kind = "Warning" if warning else "Normal"
        moment = time.time() if now is None else now
        key = (meta["namespace"], involved["kind"], meta["name"], str(meta.get("uid")), reason,
               kind, note, self.reporting_instance)  # fmt: skip
        with self._series_lock:
            first, first_stamp, count = self._series.get(key, (moment, "", 0))
            if count and moment - first > EVENT_SERIES_WINDOW:
                first, first_stamp, count = moment, "", 0
            first_stamp = first_stamp or _micro_time(moment)
            count += 1
            if len(self._series) >= _MAX_EVENT_SERIES and key not in self._series:
                self._series.pop(next(iter(self._series)))
            self._series[key] = (first, first_stamp, count)
        digest = hashlib.blake2b(repr((*key, first_stamp)).encode(), digest_size=8).hexdigest()
        body: dict[str, Any] = {
            "apiVersion": EVENT.api_version,
            "kind": EVENT.kind,
            "metadata": {"name": f"{meta['name']}.{digest}", "namespace": meta["namespace"]},
            "eventTime": first_stamp,
            "reportingController": REPORTING_CONTROLLER,
            "reportingInstance": self.reporting_instance[:128],
            "action": action,
            "reason": reason,
            "note": note,
            "type": kind,
            "regarding": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
        }
        if count > 1:
            body["series"] = {"count": count, "lastObservedTime": _micro_time(moment)}
        self.apply(body)


def _micro_time(moment: float) -> str:
    """A Kubernetes MicroTime: RFC 3339 in UTC with microseconds."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(body: dict[str, Any]) -> str:
    """An apply body as JSON text (JSON is YAML, the apply content type): given a dict, the
    client first walks it in Python (``sanitize_for_serialization``), which cost more than the
    encoding itself on a Chassis status of 45 nodes."""
    return json.dumps(body, separators=(",", ":"))


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
