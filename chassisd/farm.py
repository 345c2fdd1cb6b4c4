"""The farm: every configured chassis, polled together, with its nodes named.

Owns running poll cycles for many chassis at once (bounded concurrency: chassis managers are
slow and allow few sessions, the agent has few cores) and turning inventories into named nodes
that references resolve against. Used by ``chassisctl`` and the standalone sync; talks to
devices only through the poller.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chassisd.config import ChassisResource, Config
from chassisd.errors import ChassisdError
from chassisd.noderef import NamedNode, node_name, resolve
from chassisd.poller import DetailsDue, PollResult, RetryPolicy, contain, poll_chassis
from chassisd.registry import Registry
from chassisd.workers import poll_workers, sweep_rate


@dataclass(frozen=True)
class FarmView:
    """The result of polling a set of chassis: per-chassis results and the named nodes."""

    results: tuple[PollResult, ...]
    nodes: tuple[NamedNode, ...]

    @property
    def failures(self) -> tuple[PollResult, ...]:
        """Polls that returned no inventory."""
        return tuple(r for r in self.results if not r.ok)


class Farm:
    """Polls the chassis of one ``Config`` through one ``Registry``."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        *,
        retry: RetryPolicy = RetryPolicy(),
        concurrency: int | None = None,
    ) -> None:
        """``concurrency``: chassis polled at once (None: ``chassisd.workers``' rule for the
        configured chassis and their poll intervals)."""
        self.config = config
        self.registry = registry
        self._retry = retry
        self.concurrency = (
            max(1, concurrency)
            if concurrency is not None
            else poll_workers(sweep_rate(c.poll_interval for c in config.chassis if not c.paused))
        )

    def poll(
        self,
        chassis: Sequence[ChassisResource] | None = None,
        *,
        present: Mapping[str, Collection[str]] | None = None,
        details_due: Callable[[str], DetailsDue] | None = None,
    ) -> FarmView:
        """Poll ``chassis`` (default: every chassis not paused) concurrently. ``present``: the
        native ids each chassis had, so a poll that loses many is confirmed (``poll_chassis``).
        ``details_due``: per chassis name, which nodes' deferred product and serial to read
        (``poller.with_details``); None reads none."""
        chosen = [c for c in (self.config.chassis if chassis is None else chassis) if not c.paused]
        had = present or {}

        def poll_one(spec: ChassisResource) -> PollResult:
            due = details_due(spec.name) if details_due is not None else None
            return self._poll_one(spec, had.get(spec.name, ()), due)

        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(chosen)))) as pool:
            results = tuple(pool.map(poll_one, chosen))
        return FarmView(results, name_nodes(self.config, results))

    def _poll_one(
        self,
        spec: ChassisResource,
        present: Collection[str] = (),
        details_due: DetailsDue | None = None,
    ) -> PollResult:
        try:
            target = self.config.driver_target(spec)
        except ChassisdError as exc:
            return PollResult(spec.name, spec.driver, None, exc, 0, 0.0)
        except Exception as exc:  # noqa: BLE001 - one chassis's bad config must not stop the farm
            return PollResult(
                spec.name,
                spec.driver,
                None,
                contain(exc, chassis=spec.name, driver=spec.driver),
                0,
                0.0,
            )
        return poll_chassis(
            self.registry,
            spec.driver,
            target,
            self._retry,
            present=present,
            details_due=details_due,
        )

    def locate(self, reference: str) -> tuple[NamedNode, FarmView]:
        """Resolve one node reference against a fresh poll (see ``locate_all``)."""
        nodes, view = self.locate_all([reference])
        return nodes[0], view

    def locate_all(self, references: Sequence[str]) -> tuple[list[NamedNode], FarmView]:
        """Resolve every reference against one fresh poll, or raise for the first that
        matches no node or several: nothing is acted on unless all resolve. When every
        reference is ``CHASSIS/ID`` only those chassis are polled, not the whole farm."""
        chassis: list[ChassisResource] | None = None
        if references and all("/" in r for r in references):
            names = {r.split("/", 1)[0] for r in references}
            chassis = [c for c in self.config.chassis if c.name in names]
        view = self.poll(chassis)
        try:
            return [resolve(reference, view.nodes) for reference in references], view
        except ChassisdError:
            if view.failures:
                # The node may be on a chassis that could not be read: say so, not just "no node".
                failed = ", ".join(f"{r.chassis} ({r.error})" for r in view.failures)
                raise ChassisdError(
                    f"cannot resolve {', '.join(references)!r}: some chassis could not be read: "
                    f"{failed}"
                ) from None
            raise


def name_nodes(config: Config, results: Sequence[PollResult]) -> tuple[NamedNode, ...]:
    """Name every node of every successful poll with its chassis's template."""
    templates = {c.name: c.node_name_template for c in config.chassis}
    named: list[NamedNode] = []
    for result in results:
        if result.inventory is None:
            continue
        template = templates[result.chassis]
        for record in result.inventory.nodes:
            named.append(
                NamedNode(node_name(template, result.chassis, record), result.chassis, record)
            )
    return tuple(named)
