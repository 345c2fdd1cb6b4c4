"""``chassisd``: the agent's entry point.

Owns the ``chassisd run`` command line, logging set-up and wiring. Two modes:

- **cluster** (default): in-cluster config or ``--kubeconfig``; follows Chassis, NodePool and
  PowerAction objects (``chassisd.cluster``), leader election on a Lease, ``/healthz``,
  ``/readyz`` and ``/metrics`` on one HTTP port.
- **standalone** (``--config FILE --output-dir DIR``): the same resources from a YAML file,
  results written to a directory (``chassisd.standalone``), repeated on the shortest poll
  interval with the same ``/healthz``, ``/readyz`` (ready after the first sync) and
  ``/metrics`` on ``--health-address``, or once with ``--once`` (exit code as
  ``chassisctl sync``'s, ``chassisd.exitcodes``).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from types import FrameType

from chassisd.config import DEFAULT_POLL_INTERVAL, load_config
from chassisd.errors import ConfigError, TransientError
from chassisd.exitcodes import HELP as EXIT_HELP
from chassisd.exitcodes import sync_exit
from chassisd.farm import Farm
from chassisd.health import HealthServer
from chassisd.helpformat import HelpFormatter
from chassisd.metrics import Metrics, PollResultLabel
from chassisd.poller import PollResult
from chassisd.reconcile import free_addresses
from chassisd.registry import Registry
from chassisd.standalone import OutputOptions, add_output_arguments, output_options, sync
from chassisd.workers import MAX_WORKERS, MIN_WORKERS, parse_workers

log = logging.getLogger("chassisd")

#: ``chassisd run --once``: some chassis could not be read (the others were written).
EXIT_DEVICE = 4


#: Fields a log call may attach (``extra=``) that the JSON format carries as its own keys.
LOG_FIELDS = ("chassis", "namespace", "driver", "node", "pool", "reason")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (RFC 3339, UTC, milliseconds), level, logger, message,
    the ``LOG_FIELDS`` the call attached, and the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in LOG_FIELDS:
            value = record.__dict__.get(name)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


#: Library loggers and the level they log at. Every failure they see reaches chassisd as an
#: error it logs once, on one line, naming the chassis: paramiko's own ERROR is a ~20-line
#: traceback per attempt (a port that accepts TCP and sends no banner), httpx logs every request
#: at INFO, urllib3 and kubernetes retry warnings repeat what the API error says.
QUIET_LOGGERS = {
    "paramiko": logging.CRITICAL,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "urllib3": logging.ERROR,
    "kubernetes": logging.WARNING,
    "pyghmi": logging.CRITICAL,
    "asyncio": logging.WARNING,
    # A poll still running when its next run is due is skipped by design (max_instances=1).
    "apscheduler": logging.ERROR,
}


def _setup_logging(log_format: str) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        formatter.formatTime = _rfc3339  # type: ignore[method-assign]  # zone shown, no comma
        handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def _rfc3339(record: logging.LogRecord, datefmt: str | None = None) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def parse_health_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``; an empty host is every address) of ``--health-address``;
    ``ConfigError`` naming the option otherwise."""
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit() or int(port) > 65535 or (not host and not text.startswith(":")):
        raise ConfigError(f"--health-address {text!r} is not HOST:PORT (port 0-65535)")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    """The ``chassisd`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="chassisd",
        description="chassis inventory agent",
        epilog=EXIT_HELP,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('chassisd')}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="poll chassis and keep reservations up to date",
        description="Cluster mode (default): follow Chassis, NodePool and PowerAction objects "
        "and write DhcpHosts, statuses and Events. Standalone mode (--config FILE --output-dir "
        "DIR): the same resources from a file, results written to DIR.",
        epilog=EXIT_HELP,
        formatter_class=HelpFormatter,
    )
    run.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log line format"
    )
    standalone = run.add_argument_group("standalone mode")
    standalone.add_argument("--config", type=Path, help="standalone config file")
    standalone.add_argument("--output-dir", type=Path, help="where reservations go")
    standalone.add_argument("--once", action="store_true", help="one sync, then exit")
    add_output_arguments(standalone)
    cluster = run.add_argument_group("cluster mode")
    cluster.add_argument("--kubeconfig", type=Path, help="default: in-cluster, or $KUBECONFIG")
    cluster.add_argument("--namespace", help="watch only this namespace (default: all)")
    run.add_argument(
        "--health-address",
        default="0.0.0.0:8080",
        help="HOST:PORT of /healthz /readyz /metrics, in both modes (not with --once)",
    )
    cluster.add_argument(
        "--identity",
        default=os.environ.get("POD_NAME") or socket.gethostname(),
        help="this replica's name in the leader Lease ($POD_NAME, else the host name)",
    )
    cluster.add_argument(
        "--lease-namespace",
        default=os.environ.get("POD_NAMESPACE"),
        help="namespace of the leader Lease (default: $POD_NAMESPACE, --namespace, 'default')",
    )
    cluster.add_argument("--lease-name", default="chassisd-leader", help="name of the leader Lease")
    cluster.add_argument(
        "--no-leader-election", action="store_true", help="act without a Lease (one replica only)"
    )
    run.add_argument(
        "--workers",
        type=_workers_arg,
        default=None,
        metavar="N|auto",
        help="chassis polled at once, in both modes (default auto: enough that every chassis "
        "is polled once per min(pollInterval, 60 s) with half the workers idle, from the "
        "number of Chassis, their pollInterval and how long polls take; "
        f"{MIN_WORKERS}-{MAX_WORKERS}, raised as the fleet grows)",
    )
    return parser


def _workers_arg(text: str) -> int | None:
    try:
        return parse_workers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chassisd``."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_format)
    limit_malloc_arenas()
    if args.config is not None:
        if args.output_dir is None:
            log.error("--config needs --output-dir")
            return 2
        return _standalone(
            args.config,
            args.output_dir,
            once=args.once,
            health=args.health_address,
            options=output_options(args),
            workers=args.workers,
        )
    try:
        return _cluster(args)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2


#: glibc's mallopt parameters (malloc.h): M_ARENA_MAX, M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_ARENA_MAX = -8
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MALLOC_ARENAS = 2
#: Blocks this large or larger get their own mapping, given back to the system when freed, and
#: free memory beyond this at the top of a heap is given back. glibc's default threshold starts
#: at 128 KiB but rises (up to 32 MiB) each time such a block is freed, after which the large
#: transient buffers of every poll and API answer come from the heaps, and fragment them.
MALLOC_RELEASE_BYTES = 128 * 1024
#: Seconds between two ``malloc_trim`` calls (``trim_malloc``) of the long-running agent.
MALLOC_TRIM_INTERVAL = 30.0


def limit_malloc_arenas() -> bool:
    """Cap glibc at ``MALLOC_ARENAS`` malloc arenas, before any thread starts.

    glibc gives threads their own arenas (up to 8 per core); every poll worker allocates and
    frees large buffers (SSH packets, API responses), and memory freed in many arenas is
    rarely returned. Measured at 1,000 chassis (``bench/``): peak RSS 598 MB with glibc's
    default (32 workers), 266 MB with two arenas (48 workers), at the same CPU per poll. An
    operator's ``MALLOC_ARENA_MAX`` wins; on a libc without ``mallopt`` (musl) nothing happens.
    Also fixes the mmap and trim thresholds at ``MALLOC_RELEASE_BYTES`` (unless the operator
    set ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_``). Returns whether the arena
    cap was set.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    if not any(os.environ.get(v) for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        mallopt(_M_MMAP_THRESHOLD, MALLOC_RELEASE_BYTES)
        mallopt(_M_TRIM_THRESHOLD, MALLOC_RELEASE_BYTES)
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(mallopt(_M_ARENA_MAX, MALLOC_ARENAS))


def trim_malloc() -> bool:
    """Give the free memory inside glibc's heaps back to the system (``malloc_trim(0)``: free
    pages anywhere in the heaps, not only at their top); False where there is no such call.

    The agent's work comes in bursts (a round of polls, a reconcile of 45,000 nodes) that
    leave free holes between live blocks; without this the resident size only ratchets up
    to the largest burst so far and stays there."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim(0)
    return True


def _trim_malloc_every(interval: float, stop: threading.Event) -> None:
    """Call ``trim_malloc`` every ``interval`` seconds until ``stop`` (a daemon thread)."""

    def run() -> None:
        while not stop.wait(interval):
            if not trim_malloc():
                return

    threading.Thread(target=run, daemon=True, name="malloc-trim").start()


def _standalone(
    config_path: Path,
    output_dir: Path,
    *,
    once: bool,
    health: str,
    options: OutputOptions,
    workers: int | None = None,
) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        log.error("config error: %s", exc)
        return 2
    farm = Farm(config, Registry(), concurrency=workers)
    metrics = Metrics()
    synced = threading.Event()

    def run_once() -> int:
        report = sync(farm, output_dir, options=options)
        for result in report.view.results:
            fields = {"chassis": result.chassis, "driver": result.driver}
            metrics.observe_poll(result.chassis, result.driver, _poll_label(result), result.seconds)
            metrics.set_reachable(result.chassis, result.ok)
            if result.ok and result.inventory is not None:
                metrics.set_nodes(result.chassis, len(result.inventory.nodes))
                log.info("chassis=%s driver=%s nodes=%d seconds=%.2f", result.chassis,
                         result.driver, len(result.inventory.nodes), result.seconds,
                         extra=fields)  # fmt: skip
                for warning in result.inventory.warnings:
                    log.warning("chassis=%s driver=%s %s", result.chassis, result.driver,
                                warning, extra=fields)  # fmt: skip
            else:
                log.error("chassis=%s driver=%s poll failed: %s", result.chassis, result.driver,
                          result.error, extra={**fields, "reason": result.reason})  # fmt: skip
            if result.loss is not None:
                log.warning("chassis=%s driver=%s %s", result.chassis, result.driver,
                            result.loss.message, extra=fields)  # fmt: skip
        for plan in report.plans:
            metrics.set_pool(plan.pool.name, members=len(plan.hosts),
                             conflicts=len(plan.conflicts), free=free_addresses(plan))  # fmt: skip
            for conflict in report.conflicts.get(plan.pool.name, ()):
                log.warning("pool=%s left out: %s", plan.pool.name, conflict)
            for skipped in plan.skipped:
                log.info("pool=%s no reservation: %s", plan.pool.name, skipped)
            for member in plan.unmatched:
                log.warning("pool=%s member %s matches no node", plan.pool.name, member)
        synced.set()
        return sync_exit((r.error for r in report.view.failures), int(report.left_out))

    if once:
        return run_once()
    from chassisd.scheduler import run_every

    server = _health_server(
        health,
        metrics,
        ready=lambda: (synced.is_set(), "" if synced.is_set() else "first sync not finished"),
    )
    server.start()

    def every_interval() -> None:
        run_once()  # the exit code is for --once; a long-running sync logs its failures

    interval = min((c.poll_interval for c in config.chassis), default=DEFAULT_POLL_INTERVAL)
    try:
        run_every(every_interval, seconds=interval, jitter=interval * 0.1, name="standalone-sync")
    finally:
        server.stop()
    return 0


def _poll_label(result: PollResult) -> PollResultLabel:
    if result.ok:
        return "success"
    return "transient" if isinstance(result.error, TransientError) else "permanent"


def _health_server(
    address: str,
    metrics: Metrics,
    *,
    ready: Callable[[], tuple[bool, str]],
    alive: Callable[[], bool] = lambda: True,
) -> HealthServer:
    """The HTTP port of either mode on ``address`` (``HOST:PORT``; an empty host is every
    interface, as a pod's probes need)."""
    host, port = parse_health_address(address)
    return HealthServer(
        host or "0.0.0.0",  # noqa: S104 - a pod's probes come from the node
        port,
        metrics,
        alive=alive,
        ready=ready,
    )


def _cluster(args: argparse.Namespace) -> int:
    from chassisd.cluster.manager import Manager
    from chassisd.cluster.settings import AgentSettings, PollSettings
    from chassisd.kube.gateway import KubeGateway, load_api_client
    from chassisd.kube.leader import LeaderElector

    host, _ = parse_health_address(args.health_address)  # a bad address fails before any work
    stop = threading.Event()
    settings = AgentSettings(
        namespace=args.namespace, identity=args.identity, poll=PollSettings(workers=args.workers)
    )
    # Every poll worker, writer, power worker, watch and the lease may hold a connection.
    connections = (
        (settings.poll.workers or MAX_WORKERS)
        + settings.reconcile.write_concurrency
        + settings.power.workers
        + 4
    )
    api = load_api_client(args.kubeconfig, connections=connections)
    metrics = Metrics()
    gateway = KubeGateway(api, metrics, reporting_instance=args.identity)
    elector = None
    if not args.no_leader_election:
        elector = LeaderElector(
            api,
            namespace=args.lease_namespace or args.namespace or "default",
            name=args.lease_name,
            identity=args.identity,
        )
    leader = elector

    def fence() -> bool:
        return leader is None or leader.is_leader

    manager = Manager(gateway, Registry(), metrics, settings, fence=fence)
    health = _health_server(
        args.health_address,
        metrics,
        alive=lambda: not stop.is_set(),
        ready=lambda: (manager.synced, "" if manager.synced else "resources not listed yet"),
    )
    host = args.health_address.rpartition(":")[0]

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        health.start()
    except OSError as exc:  # the port is taken, or the address is not this host's
        log.error("--health-address %s: cannot listen: %s", args.health_address,
                  exc.strerror or exc)  # fmt: skip
        return 2
    log.info("chassisd running: identity=%s health=%s:%d", args.identity, host, health.port)
    _trim_malloc_every(MALLOC_TRIM_INTERVAL, stop)
    manager.start(leading=elector is None)
    try:
        if elector is None:
            metrics.set_leader(True)
            stop.wait()
        else:

            def started() -> None:
                metrics.set_leader(True)
                manager.lead()

            def stopped() -> None:
                metrics.set_leader(False)
                manager.follow()

            elector.run(stop, on_started_leading=started, on_stopped_leading=stopped)
    finally:
        manager.stop()
        health.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
