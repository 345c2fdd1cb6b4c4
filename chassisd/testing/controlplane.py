"""A real Kubernetes control plane (etcd + kube-apiserver) on loopback, for tests and local use.

Owns: starting the two binaries that ``tools/testenv/testenv.sh`` builds (found through
``KUBEBUILDER_ASSETS``, the envtest convention), the throw-away PKI they need, a kubeconfig for
the official ``kubernetes`` client, installing chassisd's and dnsmasq-controller's CRDs, and
stopping both processes by PID. ``python -m chassisd.testing.controlplane`` runs the same thing in
the foreground (``make dev-cluster``).

Must not: build binaries (``testenv.sh`` does), bind anything but 127.0.0.1, use fixed ports,
write outside its temporary data directory (``main()`` also writes the one kubeconfig it is
asked for), or fake any API behaviour: every request reaches a real kube-apiserver.

What runs::

    etcd            http://127.0.0.1:<free>   --unsafe-no-fsync, data in <tmp>/etcd
    kube-apiserver  https://127.0.0.1:<free>  RBAC, x509 client certs, service-account tokens

Identities: the kubeconfig authenticates as ``chassisd-admin`` in group ``system:masters``
(cluster-admin). ``service_account_client`` returns a client holding a ServiceAccount token
(TokenRequest API) that has no permissions until a test grants some with RBAC.

There is no kube-controller-manager: namespaces never finish deleting, no ``default``
ServiceAccount is created, and garbage collection does not run. Tests use fresh namespaces and
never wait for deletion cascades.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from chassisd.testing.pki import kubeconfig_text, make_pki, write_private
from chassisd.testing.processes import die_with_parent, free_port, tail
from chassisd.testing.waiting import wait_until

__all__ = [
    "AssetsNotFoundError",
    "ControlPlane",
    "ControlPlaneError",
    "StartupTimings",
    "api_client",
    "default_crd_dirs",
    "find_assets",
    "main",
    "service_account_client",
    "start_control_plane",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this module lives in (``chassisd/testing/controlplane.py`` -> repo root)."""

UPSTREAM_CRDS_DIR = Path(__file__).resolve().parent / "upstream_crds" / "dnsmasq-controller"
"""dnsmasq-controller's CRDs, pinned at master 0009e6f (provenance in SOURCES.md there)."""

UPSTREAM_CRDS_ENV = "CHASSISD_UPSTREAM_CRDS"
"""Environment variable overriding where dnsmasq-controller's vendored CRDs are read from."""

ADMIN_USER = "chassisd-admin"
ADMIN_GROUP = "system:masters"  # the group RBAC always authorises (cluster-admin)
LOOPBACK_NO_PROXY = "127.0.0.1,localhost"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"

# Start-up deadlines, in seconds. On 2 idle cores etcd is healthy in ~0.3 s and kube-apiserver
# passes /readyz ~3 s after exec (measured); the limits leave room for a loaded CI machine.
ETCD_READY_TIMEOUT = 30.0
APISERVER_READY_TIMEOUT = 90.0
CRD_ESTABLISHED_TIMEOUT = 60.0
# How long a process gets between SIGTERM and SIGKILL when stopping.
STOP_GRACE = 15.0
# Attempts when a port picked as free was taken before the process bound it.
PORT_ATTEMPTS = 5
LOG_TAIL_LINES = 40


class ControlPlaneError(RuntimeError):
    """The control plane could not be started, made ready, or given its CRDs."""


class AssetsNotFoundError(ControlPlaneError):
    """kube-apiserver/etcd binaries were not found; the message says how to get them."""


@dataclass(frozen=True)
class StartupTimings:
    """Seconds from the first process exec to each milestone (wall clock)."""

    etcd_healthy: float
    apiserver_ready: float  # /readyz answered 200
    crds_established: float  # every CRD Established and served


@dataclass(frozen=True)
class ControlPlane:
    """A running control plane; valid only inside ``start_control_plane``'s ``with`` block."""

    kubeconfig: Path  # admin (system:masters) kubeconfig with the CA and client cert embedded
    server: str  # https://127.0.0.1:<port>
    ca_file: Path  # PEM of the CA that signed the serving and client certificates
    etcd_url: str  # http://127.0.0.1:<port>
    data_dir: Path  # temporary; holds etcd data, PKI and one log file per process
    kube_apiserver_pid: int
    etcd_pid: int
    crds: tuple[str, ...]  # names of the installed CRDs, e.g. "dhcphosts.dnsmasq.kvaps.cf"
    timings: StartupTimings


# --- finding things ------------------------------------------------------------------------------


def _pinned_versions() -> tuple[str, str] | None:
    """Read the k8s.io/kubernetes and etcd pins from tools/testenv/go.mod, as testenv.sh does."""
    go_mod = REPO_ROOT / "tools" / "testenv" / "go.mod"
    try:
        lines = go_mod.read_text().splitlines()
    except OSError:
        return None
    pins: dict[str, str] = {}
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[1].startswith("v") and fields[0] not in pins:
            pins[fields[0]] = fields[1]
    k8s_version = pins.get("k8s.io/kubernetes")
    etcd_version = pins.get("go.etcd.io/etcd/server/v3")
    return (k8s_version, etcd_version) if k8s_version and etcd_version else None


def _has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in ("kube-apiserver", "etcd"))


def find_assets() -> Path:
    """Return the directory holding ``kube-apiserver`` and ``etcd``.

    ``KUBEBUILDER_ASSETS`` wins when set (and must then hold both binaries). Otherwise the cache
    directory ``testenv.sh`` builds into is used if a build finished there, so ``pytest`` works
    without ``make`` once the binaries exist. Raises ``AssetsNotFoundError`` saying what to do.
    """
    explicit = os.environ.get("KUBEBUILDER_ASSETS")
    if explicit:
        if _has_binaries(Path(explicit)):
            return Path(explicit)
        raise AssetsNotFoundError(
            f"KUBEBUILDER_ASSETS={explicit} does not contain executable kube-apiserver and etcd; "
            "point it at a directory that has both, or unset it and run `make testenv`"
        )
    pins = _pinned_versions()
    if pins is not None:
        cache_root = os.environ.get("CHASSISD_TESTENV_CACHE") or str(
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            / "chassisd"
            / "testenv"
        )
        cached = Path(cache_root) / f"{pins[0]}-{pins[1]}"
        if _has_binaries(cached):
            return cached
    raise AssetsNotFoundError(
        "kube-apiserver and etcd were not found. Run `make testenv` (builds them with Go >= 1.26 "
        "from tools/testenv/go.mod, 10-30 min the first time; install Go from https://go.dev/dl/ "
        "if `go` is missing), or set KUBEBUILDER_ASSETS to a directory holding both binaries, "
        "e.g. `export $(bash tools/testenv/testenv.sh | tail -n 1)`"
    )


def default_crd_dirs() -> tuple[Path, ...]:
    """chassisd's own ``crds/`` and dnsmasq-controller's CRDs (``$CHASSISD_UPSTREAM_CRDS``, or
    the pinned copies shipped in ``chassisd/testing/upstream_crds/dnsmasq-controller``)."""
    upstream = os.environ.get(UPSTREAM_CRDS_ENV) or str(UPSTREAM_CRDS_DIR)
    return (REPO_ROOT / "crds", Path(upstream))


def _load_crds(crd_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in ``*.yaml``/``*.yml`` under the given directories.

    A missing or empty directory contributes nothing. The same CRD name twice is allowed only if
    both copies are identical; two different definitions are an error, never a silent choice.
    """
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for directory in crd_dirs:
        if not directory.is_dir():
            continue
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            for doc in yaml.safe_load_all(path.read_text()):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                name = str(doc["metadata"]["name"])
                if name in found and found[name][1] != doc:
                    raise ControlPlaneError(
                        f"CRD {name} is defined differently in {found[name][0]} and {path}"
                    )
                found.setdefault(name, (path, doc))
    return [doc for _, doc in found.values()]


# --- processes -----------------------------------------------------------------------------------


class _Process:
    """One child process: started with its output in a log file, stopped by PID."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: a terminal's Ctrl-C reaches only us, and we stop the children in
                # order (apiserver before etcd).
                start_new_session=True,
                preexec_fn=die_with_parent(),  # only calls prctl(); takes no locks after fork
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_running(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise ControlPlaneError(
                f"{self.name} exited with status {code} during start-up; "
                f"last lines of its log (removed with the data directory):\n{self.tail()}"
            )

    def tail(self) -> str:
        return tail(self.log_path, LOG_TAIL_LINES)

    def port_in_use(self) -> bool:
        return "address already in use" in self.tail()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def _wait_ready(what: str, proc: _Process, timeout: float, probe: Callable[[], bool]) -> None:
    """Wait for ``probe``; a process that exits meanwhile fails at once (``check_running``)."""

    def ready() -> bool:
        proc.check_running()
        return probe()

    if not wait_until(ready, timeout, interval=0.1):
        raise ControlPlaneError(
            f"{what} not ready after {timeout:.0f} s; last lines of its log:\n{proc.tail()}"
        )


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    # ProxyHandler({}): loopback must never go through an http(s)_proxy from the environment.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _start_etcd(binary: Path, data_dir: Path) -> tuple[_Process, str]:
    for attempt in range(1, PORT_ATTEMPTS + 1):
        client_url = f"http://127.0.0.1:{free_port()}"
        peer_url = f"http://127.0.0.1:{free_port()}"
        etcd_data = data_dir / "etcd"
        shutil.rmtree(etcd_data, ignore_errors=True)
        proc = _Process(
            "etcd",
            [
                str(binary),
                "--name=chassisd-testenv",
                f"--data-dir={etcd_data}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=chassisd-testenv={peer_url}",
                "--unsafe-no-fsync=true",  # test data; fsync costs seconds on slow disks
                "--log-level=warn",
            ],
            data_dir / f"etcd.{attempt}.log",
        )
        try:
            _wait_ready(
                "etcd",
                proc,
                ETCD_READY_TIMEOUT,
                functools.partial(_http_ok, f"{client_url}/health"),
            )
        except ControlPlaneError:
            proc.stop()
            if proc.port_in_use() and attempt < PORT_ATTEMPTS:
                continue
            raise
        return proc, client_url
    raise AssertionError("unreachable")


def _start_apiserver(
    binary: Path, data_dir: Path, etcd_url: str, pki_dir: Path, ssl_context: ssl.SSLContext
) -> tuple[_Process, str]:
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        server = f"https://127.0.0.1:{port}"
        proc = _Process(
            "kube-apiserver",
            [
                str(binary),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={pki_dir}",  # unused with explicit certs, but keeps /var/run clean
                f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
                f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
                f"--client-ca-file={pki_dir / 'ca.crt'}",
                f"--service-account-key-file={pki_dir / 'sa.pub'}",
                f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--api-audiences={API_AUDIENCE}",
                "--authorization-mode=RBAC",
                # No controller-manager creates `default` ServiceAccounts, so the admission
                # plugin that requires them would reject every Pod (envtest disables it too).
                "--disable-admission-plugins=ServiceAccount",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                # The default (lease) reconciler publishes the advertise address in the
                # `kubernetes` Endpoints and refuses loopback: "cannot use public IP 127.0.0.1".
                "--endpoint-reconciler-type=none",
            ],
            data_dir / f"kube-apiserver.{attempt}.log",
        )
        try:
            _wait_ready(
                "kube-apiserver",
                proc,
                APISERVER_READY_TIMEOUT,
                functools.partial(_http_ok, f"{server}/readyz", ssl_context),
            )
        except ControlPlaneError:
            proc.stop()
            if proc.port_in_use() and attempt < PORT_ATTEMPTS:
                continue
            raise
        return proc, server
    raise AssertionError("unreachable")


# --- clients and CRDs ----------------------------------------------------------------------------


def api_client(cp: ControlPlane, *, server: str | None = None) -> k8s.ApiClient:
    """A ``kubernetes.client.ApiClient`` for the admin identity, built from ``cp.kubeconfig``.

    The caller closes it (``with api_client(cp) as api:``). TLS is verified against the
    generated CA, so no InsecureRequestWarning is ever raised. ``server``
    (``https://127.0.0.1:<port>``) sends the requests elsewhere than ``cp.server``, e.g. through
    a TCP proxy: TLS stays end to end and the API server's certificate is still verified (its
    SANs hold 127.0.0.1 and localhost, whatever the port).
    """
    return _client_from_kubeconfig(cp.kubeconfig, server=server)


def _client_from_kubeconfig(kubeconfig: Path, *, server: str | None = None) -> k8s.ApiClient:
    # no_proxy: the client honours http(s)_proxy from the environment; loopback must bypass it.
    configuration = k8s.Configuration(no_proxy=LOOPBACK_NO_PROXY)
    # kubernetes.config carries no annotations, unlike kubernetes.client.
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), persist_config=False, client_configuration=configuration
    )
    if server is not None:
        configuration.host = server
    return k8s.ApiClient(configuration)


def service_account_client(cp: ControlPlane, namespace: str, name: str) -> k8s.ApiClient:
    """An ``ApiClient`` authenticated as ServiceAccount ``namespace/name`` (created if absent).

    The token comes from the TokenRequest API (1 h). The account has no RBAC permissions
    beyond what every authenticated user gets, so requests are denied until a test binds a
    Role to ``system:serviceaccount:<namespace>:<name>``.
    """
    with api_client(cp) as admin:
        core = k8s.CoreV1Api(admin)
        try:
            core.create_namespaced_service_account(
                namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=name))
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
        token_request = core.create_namespaced_service_account_token(
            name,
            namespace,
            k8s.AuthenticationV1TokenRequest(
                spec=k8s.V1TokenRequestSpec(audiences=[API_AUDIENCE], expiration_seconds=3600)
            ),
        )
    token = token_request.status.token if token_request.status else None
    if not token:
        raise ControlPlaneError(f"TokenRequest for {namespace}/{name} returned no token")
    configuration = k8s.Configuration(
        host=cp.server,
        ssl_ca_cert=str(cp.ca_file),
        api_key={"authorization": token},
        api_key_prefix={"authorization": "Bearer"},
        no_proxy=LOOPBACK_NO_PROXY,
    )
    return k8s.ApiClient(configuration)


def _install_crds(cp_kubeconfig: Path, crds: list[dict[str, Any]], deadline: float) -> None:
    """Create the CRDs, then wait until each is Established and its resources are served."""
    if not crds:
        return
    with _client_from_kubeconfig(cp_kubeconfig) as admin:
        ext = k8s.ApiextensionsV1Api(admin)
        custom = k8s.CustomObjectsApi(admin)
        for crd in crds:
            model = k8s.V1CustomResourceDefinition.from_dict(crd)
            if model is None:
                raise ControlPlaneError(f"CRD {crd['metadata']['name']} did not parse")
            ext.create_custom_resource_definition(model)
        for crd in crds:
            name = crd["metadata"]["name"]
            while not _established(ext, name):
                if time.monotonic() > deadline:
                    raise ControlPlaneError(f"CRD {name} not Established before the deadline")
                time.sleep(0.1)
            # Established means the handler exists; make sure a list actually answers, so the
            # first test never races the discovery refresh.
            group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                while True:
                    try:
                        custom.list_cluster_custom_object(group, version["name"], plural, limit=1)
                        break
                    except ApiException as exc:
                        if exc.status != 404 or time.monotonic() > deadline:
                            raise ControlPlaneError(
                                f"CRD {name} {version['name']} is not served: {exc}"
                            ) from exc
                        time.sleep(0.1)


def _established(ext: k8s.ApiextensionsV1Api, name: str) -> bool:
    crd = ext.read_custom_resource_definition(name)
    for cond in (crd.status.conditions if crd.status else None) or []:
        if cond.type == "NamesAccepted" and cond.status == "False":
            raise ControlPlaneError(f"CRD {name} names not accepted: {cond.message}")
        if cond.type == "Established" and cond.status == "True":
            return True
    return False


# --- the whole thing -----------------------------------------------------------------------------


@contextlib.contextmanager
def start_control_plane(
    assets_dir: Path | None = None, crd_dirs: Sequence[Path] | None = None
) -> Iterator[ControlPlane]:
    """Start etcd and kube-apiserver, install CRDs, yield a ``ControlPlane``, then stop both.

    ``assets_dir`` defaults to ``find_assets()``; ``crd_dirs`` to ``default_crd_dirs()`` (missing
    or empty directories are fine). On any start-up failure both processes are stopped, the
    data directory is removed, and ``ControlPlaneError`` carries the tail of the failing log.
    """
    with _running(assets_dir, crd_dirs) as (cp, _):
        yield cp


@contextlib.contextmanager
def _running(
    assets_dir: Path | None, crd_dirs: Sequence[Path] | None
) -> Iterator[tuple[ControlPlane, tuple[_Process, ...]]]:
    assets = assets_dir if assets_dir is not None else find_assets()
    crds = _load_crds(default_crd_dirs() if crd_dirs is None else crd_dirs)
    with contextlib.ExitStack() as stack:
        data_dir = Path(tempfile.mkdtemp(prefix="chassisd-controlplane-"))
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        pki_dir = data_dir / "pki"
        pki_dir.mkdir(mode=0o700)
        pki = make_pki(ADMIN_USER, ADMIN_GROUP)
        (pki_dir / "ca.crt").write_bytes(pki.ca_cert)
        (pki_dir / "apiserver.crt").write_bytes(pki.serving_cert)
        write_private(pki_dir / "apiserver.key", pki.serving_key)
        (pki_dir / "sa.pub").write_bytes(pki.sa_public)
        write_private(pki_dir / "sa.key", pki.sa_private)
        (pki_dir / "admin.crt").write_bytes(pki.admin_cert)
        write_private(pki_dir / "admin.key", pki.admin_key)

        ssl_context = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
        ssl_context.load_cert_chain(pki_dir / "admin.crt", pki_dir / "admin.key")

        started = time.monotonic()
        etcd, etcd_url = _start_etcd(assets / "etcd", data_dir)
        stack.callback(etcd.stop)  # callbacks run last-in first-out: apiserver stops first
        etcd_healthy = time.monotonic() - started
        apiserver, server = _start_apiserver(
            assets / "kube-apiserver", data_dir, etcd_url, pki_dir, ssl_context
        )
        stack.callback(apiserver.stop)
        apiserver_ready = time.monotonic() - started

        kubeconfig = data_dir / "kubeconfig"
        write_private(kubeconfig, kubeconfig_text(server, pki, ADMIN_USER).encode())
        try:
            _install_crds(kubeconfig, crds, time.monotonic() + CRD_ESTABLISHED_TIMEOUT)
        except (ApiException, ControlPlaneError) as exc:
            raise ControlPlaneError(
                f"installing CRDs failed: {exc}\nlast lines of the kube-apiserver log:\n"
                f"{apiserver.tail()}"
            ) from exc
        cp = ControlPlane(
            kubeconfig=kubeconfig,
            server=server,
            ca_file=pki_dir / "ca.crt",
            etcd_url=etcd_url,
            data_dir=data_dir,
            kube_apiserver_pid=apiserver.pid,
            etcd_pid=etcd.pid,
            crds=tuple(sorted(crd["metadata"]["name"] for crd in crds)),
            timings=StartupTimings(
                etcd_healthy=etcd_healthy,
                apiserver_ready=apiserver_ready,
                crds_established=time.monotonic() - started,
            ),
        )
        yield cp, (apiserver, etcd)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a control plane in the foreground until SIGINT/SIGTERM (``make dev-cluster``)."""
    parser = argparse.ArgumentParser(
        prog="python -m chassisd.testing.controlplane", description=main.__doc__
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=Path(".cache/dev-cluster/kubeconfig"),
        help="where to write the admin kubeconfig (removed again on exit)",
    )
    args = parser.parse_args(argv)
    kubeconfig_out: Path = args.kubeconfig

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)

    try:
        with _running(None, None) as (cp, processes):
            kubeconfig_out.parent.mkdir(parents=True, exist_ok=True)
            write_private(kubeconfig_out, cp.kubeconfig.read_bytes())
            try:
                print(kubeconfig_out, flush=True)
                print(
                    f"ready: kube-apiserver {cp.server} (kubeconfig {kubeconfig_out}; "
                    f"etcd {cp.etcd_url}; {len(cp.crds)} CRDs; "
                    f"up in {cp.timings.crds_established:.1f} s; Ctrl-C stops)",
                    flush=True,
                )
                while not stop.wait(1.0):
                    for proc in processes:
                        if not proc.alive():
                            print(
                                f"error: {proc.name} (pid {proc.pid}) exited; "
                                f"last lines of {proc.log_path}:\n{proc.tail()}",
                                file=sys.stderr,
                            )
                            return 1
            finally:
                kubeconfig_out.unlink(missing_ok=True)
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
