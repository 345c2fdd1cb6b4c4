"""Incremental pool planning, pure: a namespace's last plan, and how to update it cheaply.

Owns the plan state of one namespace and its update after some chassis changed. The answer is
always exactly what ``chassisd.reconcile.plan_pools`` (the reference, kept as it is) returns
for the same inputs; a property test compares the two on random change sequences.

How: the plan is cut into segments, planned in ``plan_pools``' order — each explicit pool (in
name order) is one segment, the catch-all is one segment per chassis (in chassis order; it
holds no addresses, so its chassis do not interact through IPs). Claims (which pool a node
belongs to) are decided per chassis. Every key a segment writes (node name, host name per
dnsmasq, MAC, IP) is in an ownership index, key → (segment, holder); every key it read but does
not hold (a conflict) is watched, and an explicit pool remembers how far it scanned its range
for free addresses. Re-planning a segment compares what it holds before and after; a key that
changed hands marks the later segments that read it (owner, watchers, scans over that address)
dirty, and dirty segments are re-planned in order until none is left. A segment's result is
compact (tuples of ``Host``), and a catch-all plan is assembled from its chassis on demand.

Inputs that change everything — the config, the catch-all's own remembered addresses — are a
new ``PoolPlanner``. The established MACs of the next plan are this plan's reservations (as the
cluster agent keeps them), maintained here from each segment's change. No I/O.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field

from chassisd.config import Config, NodePoolSpec
from chassisd.noderef import NamedNode
from chassisd.reconcile import (
    Established,
    Host,
    PoolPlan,
    _in_range,
    _natural,
    _order,
    _unmatched,
    hostname_of,
    invalid_name,
    usable_macs,
)

#: A segment's place in the plan: (0, explicit pool) in name order, then (1, chassis) of the
#: catch-all, or (1, "") for a catch-all planned whole.
Order = tuple[int, str]
Target = tuple[str, str]  # DhcpTarget.key: the dnsmasq a host name is unique in
#: A segment's result: hosts, conflicts, skipped, allocations.
_Result = tuple[tuple[Host, ...], tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]


class _Segment:
    """One explicit pool, or the catch-all on one chassis: its last result and its claims."""

    __slots__ = ("allocations", "chassis", "conflicts", "hostnames", "hosts", "ips", "macs",
                 "names", "order", "pool", "rechecked", "refused", "scan", "skipped",
                 "watched")  # fmt: skip

    def __init__(self, order: Order, pool: NodePoolSpec, chassis: str | None) -> None:
        self.order = order
        self.pool = pool
        self.chassis = chassis  # None: every chassis (an explicit pool, or a whole catch-all)
        self.hosts: tuple[Host, ...] = ()  # sorted by host name, as a PoolPlan holds them
        self.conflicts: tuple[str, ...] = ()
        self.skipped: tuple[str, ...] = ()
        self.allocations: tuple[tuple[str, str], ...] = ()
        # What it holds in the ownership index, and what it read but does not hold.
        self.names: tuple[str, ...] = ()
        self.hostnames: tuple[str, ...] = ()
        self.macs: tuple[str, ...] = ()
        self.ips: tuple[str, ...] = ()
        self.watched: tuple[tuple[str, ...], ...] = ()
        # MACs it holds that more than one of its nodes looked at (usually none).
        self.rechecked: frozenset[str] = frozenset()
        # Whether an address it wanted (static or remembered) was refused (taken, outside).
        self.refused = False
        self.scan: tuple[int, int] | None = None  # the range addresses it looked at for free ones

    def __lt__(self, other: _Segment) -> bool:
        return self.order < other.order


@dataclass
class PlanChange:
    """What an update changed: per pool, the chassis whose hosts in it changed; and the pools
    whose plan changed in any way (hosts, conflicts, allocations, skipped, unmatched)."""

    chassis: dict[str, set[str]] = field(default_factory=dict)
    pools: set[str] = field(default_factory=set)
    #: Whether any reservation (host name, MAC) changed: other namespaces sharing a dnsmasq
    #: must look again.
    reservations: bool = False


class PoolPlanner:
    """One namespace's plan, updated as chassis change. Build it with the full inputs (that is
    the full plan), then call ``update`` with the chassis that changed since."""

    def __init__(
        self,
        config: Config,
        nodes: Mapping[str, Sequence[NamedNode]],
        previous_allocations: Mapping[str, Mapping[str, str]],
        established: Established | None = None,
        polled: Set[str] = frozenset(),
    ) -> None:
        established = established or Established()
        self.config = config
        pools = sorted(config.pools, key=lambda p: (p.catch_all, p.name))
        self._explicit = [p for p in pools if not p.catch_all]
        catch_alls = [p for p in pools if p.catch_all]
        # plan_pools treats a second catch-all as an explicit pool claiming nothing new.
        self._catch_all = catch_alls[0] if catch_alls else None
        catch_all_prev = (
            previous_allocations.get(self._catch_all.name, {}) if self._catch_all else {}
        )
        # A catch-all with remembered addresses reserves them in node-key order across all its
        # chassis: it is then planned whole (that never happens unless a pool became one).
        self._whole_catch_all = bool(
            self._catch_all is not None and (catch_all_prev or self._catch_all.static_ips)
        )
        self._pools_of: dict[str, tuple[NodePoolSpec, ...]] = {}
        for pool in self._explicit:
            for chassis in {m.chassis for m in pool.members}:
                self._pools_of[chassis] = (*self._pools_of.get(chassis, ()), pool)
        self._chassis_of = {p.name: sorted({m.chassis for m in p.members}) for p in self._explicit}
        self._segments: dict[Order, _Segment] = {
            (0, p.name): _Segment((0, p.name), p, None) for p in self._explicit
        }
        # Nodes per chassis in node order, which pool claims each (None: none; the catch-all
        # takes it), and each pool's claim conflicts there.
        self._nodes: dict[str, tuple[NamedNode, ...]] = {}
        self._assign: dict[str, tuple[str | None, ...]] = {}
        self._claim_conflicts: dict[str, dict[str, tuple[str, ...]]] = {}
        # The ownership index.
        self._names: dict[str, tuple[_Segment, NamedNode]] = {}
        self._hostnames: dict[Target, dict[str, tuple[_Segment, NamedNode]]] = {}
        self._macs: dict[str, tuple[_Segment, str]] = {}
        self._ips: dict[str, tuple[_Segment, str]] = {}
        self._watch: dict[tuple[str, ...], set[_Segment]] = {}
        # Established MACs that hold (their node is still claimed and reports them), and this
        # plan's reservations (MAC → node key): the next plan's established MACs.
        self._init: dict[str, str] = {}
        self._reserved: dict[str, str] = {}
        self._pending: set[str] = set()  # MACs whose reservation changed in the last plan
        self._elsewhere: Mapping[Target, Mapping[str, str]] = established.elsewhere
        self._previous: dict[str, Mapping[str, str]] = {}
        self._polled: frozenset[str] = frozenset(polled)
        self._unmatched: dict[str, tuple[str, ...]] = {}
        self._dirty: list[_Segment] = []
        self._queued: set[Order] = set()
        self._scanning: set[_Segment] = set()  # segments that looked for free addresses
        # The segments re-planned in this update, with their result before it.
        self._touched: dict[Order, tuple[_Segment, _Result]] = {}
        self._change = PlanChange()
        self._building = True  # planning every segment in order: nothing to propagate
        for pool in self._explicit:
            self._previous[pool.name] = previous_allocations.get(pool.name, {})
        if self._catch_all is not None:
            self._previous[self._catch_all.name] = catch_all_prev
            if self._whole_catch_all:
                self._segments[(1, "")] = _Segment((1, ""), self._catch_all, None)
        macs: set[str] = set()
        for chassis in sorted(nodes):
            self._claim(chassis, nodes[chassis], macs)
        self._init_update(set(established.macs), established.macs)
        for pool in self._explicit:
            self._unmatched[pool.name] = _unmatched(pool, self._nodes, self._polled)
        for segment in self._segments.values():
            self._push(segment)
        self._settle()
        given = established.macs
        self._pending = {
            m for m in {*given, *self._reserved} if given.get(m) != self._reserved.get(m)
        }
        self._building = False
        self._change = PlanChange()

    # --- queries ----------------------------------------------------------------------------

    @property
    def whole_catch_all(self) -> bool:
        """Whether the catch-all is planned as one segment (it remembers addresses)."""
        return self._whole_catch_all

    def reserved_macs(self) -> Mapping[str, str]:
        """MAC → node key of every reservation planned: the next plan's established MACs."""
        return self._reserved

    def plans(self) -> tuple[PoolPlan, ...]:
        """Every pool's plan, as ``plan_pools`` returns them (by pool name)."""
        return tuple(self.plan_of(p.name) for p in sorted(self.config.pools, key=lambda p: p.name))

    def plan_of(self, name: str) -> PoolPlan:
        """One pool's plan."""
        segment = self._segments.get((0, name))
        if segment is not None:
            return PoolPlan(
                segment.pool,
                segment.hosts,
                segment.conflicts,
                dict(segment.allocations),
                unmatched=self._unmatched.get(name, ()),
                skipped=segment.skipped,
            )
        pool = self._catch_all
        if pool is None or pool.name != name:  # a second catch-all: nothing is left for it
            return PoolPlan(next(p for p in self.config.pools if p.name == name), (), (), {})
        parts = [s for o, s in sorted(self._segments.items()) if o[0] == 1]
        hosts = heapq.merge(*(s.hosts for s in parts), key=lambda h: _natural(h.hostname))
        return PoolPlan(
            pool,
            tuple(hosts),
            tuple(c for s in parts for c in s.conflicts),
            {ref: ip for s in parts for ref, ip in s.allocations},
            skipped=tuple(c for s in parts for c in s.skipped),
        )

    def hosts_on(self, name: str, chassis: str) -> tuple[Host, ...]:
        """The hosts pool ``name`` holds on ``chassis``, sorted by host name."""
        segment = self._segments.get((0, name))
        if segment is None:
            segment = self._segments.get((1, "")) or self._segments.get((1, chassis))
            if segment is None:
                return ()
        return tuple(h for h in segment.hosts if h.chassis == chassis)

    def chassis_of(self, name: str) -> list[str]:
        """The chassis whose nodes pool ``name`` may hold (a catch-all: every chassis)."""
        if name in self._chassis_of:
            return self._chassis_of[name]
        return sorted(self._nodes)

    # --- update -----------------------------------------------------------------------------

    def update(
        self,
        changed: Mapping[str, Sequence[NamedNode]],
        previous_allocations: Mapping[str, Mapping[str, str]],
        elsewhere: Mapping[Target, Mapping[str, str]] | None = None,
        polled: Set[str] = frozenset(),
    ) -> PlanChange:
        """Re-plan after the chassis in ``changed`` (→ all their nodes now; none: gone)
        changed; the established MACs are this planner's last reservations. Raises
        ``ValueError`` if the catch-all's remembered addresses appeared or went: build a new
        planner then."""
        self._change = PlanChange()
        init_moved, self._pending = self._pending, set()
        for pool in self._explicit:
            now = previous_allocations.get(pool.name, {})
            before = self._previous[pool.name]
            self._previous[pool.name] = now
            if now is before or now == before:
                continue
            segment = self._segments[(0, pool.name)]
            # The status caught up with the last plan: remembering exactly what it allocated
            # changes nothing, unless an address it wanted was refused (that node would now
            # be given a free one).
            if segment.refused or now != dict(segment.allocations):
                self._push(segment)
        if self._catch_all is not None:
            held = previous_allocations.get(self._catch_all.name, {})
            if bool(held) != bool(self._previous[self._catch_all.name]):
                raise ValueError("the catch-all's remembered addresses changed")
            if self._whole_catch_all and held != self._previous[self._catch_all.name]:
                self._push(self._segments[(1, "")])
            self._previous[self._catch_all.name] = held
        elsewhere = elsewhere if elsewhere is not None else {}
        if elsewhere != self._elsewhere:
            moved = {t for t in {*elsewhere, *self._elsewhere}
                     if elsewhere.get(t) != self._elsewhere.get(t)}  # fmt: skip
            for segment in self._segments.values():
                if segment.pool.dhcp.key in moved:
                    self._push(segment)
            self._elsewhere = elsewhere
        polled = frozenset(polled)
        recount = set(changed) | (polled ^ self._polled)
        self._polled = polled
        # A MAC the last plan newly reserved for a node of a chassis that has not changed
        # since holds as established: that node is still claimed and still reports it (after a
        # first sweep these are most MACs of the farm, and looking each up was most of the
        # first update's work).
        unchanged = {
            mac for mac in init_moved
            if (ref := self._reserved.get(mac)) is not None
            and ref.partition("/")[0] not in changed
        }  # fmt: skip
        for chassis in sorted(changed):
            self._claim(chassis, changed[chassis], init_moved)
        # The last plan's reservations are this plan's established MACs.
        self._init_update(init_moved, self._reserved, unchanged)
        if recount:
            names = {p.name for c in recount for p in self._pools_of.get(c, ())}
            for pool in (p for p in self._explicit if p.name in names):
                unmatched = _unmatched(pool, self._nodes, polled)
                if unmatched != self._unmatched.get(pool.name):
                    self._unmatched[pool.name] = unmatched
                    self._change.pools.add(pool.name)
        self._settle()
        return self._change

    def _claim(self, chassis: str, nodes: Sequence[NamedNode], init_moved: set[str]) -> None:
        """Decide which pool claims each node of ``chassis`` (as ``plan_pools`` does, pools in
        name order, the first matching one wins); mark the segments it feeds dirty."""
        old = self._nodes.get(chassis, ())
        ordered = tuple(sorted(nodes, key=_order))
        pools = sorted(self._pools_of.get(chassis, ()), key=lambda p: p.name)
        assign: list[str | None] = []
        conflicts: dict[str, list[str]] = {p.name: [] for p in pools}
        for node in ordered:
            rec = node.record
            owner: str | None = None
            for pool in pools:
                if any(m.matches(chassis, rec.id, rec.cartridge, rec.node) for m in pool.members):
                    if owner is None:
                        owner = pool.name
                    else:
                        conflicts[pool.name].append(f"{node.ref}: already in pool {owner!r}")
            assign.append(owner)
        if ordered:
            self._nodes[chassis] = ordered
            self._assign[chassis] = tuple(assign)
            self._claim_conflicts[chassis] = {k: tuple(v) for k, v in conflicts.items() if v}
        else:
            self._nodes.pop(chassis, None)
            self._assign.pop(chassis, None)
            self._claim_conflicts.pop(chassis, None)
        for pool in pools:
            self._push(self._segments[(0, pool.name)])
        if self._catch_all is not None:
            order: Order = (1, "") if self._whole_catch_all else (1, chassis)
            segment = self._segments.get(order)
            if segment is None:
                segment = self._segments[order] = _Segment(order, self._catch_all, chassis)
            self._push(segment)
        init_moved.update(str(m) for n in (*old, *ordered) for m in n.record.macs)

    def _init_update(
        self, macs: Set[str], established: Mapping[str, str], holding: Set[str] = frozenset()
    ) -> None:
        """Recompute which established MACs hold (``plan_pools``' ``used_macs``): their node
        is still claimed and reports them (known for those in ``holding``)."""
        found: dict[str, dict[str, tuple[NamedNode, str | None]]] = {}  # chassis → ref → …
        for mac in macs:
            ref = established.get(mac)
            holds = ref is not None and (mac in holding or self._claimed_reporting(ref, mac, found))
            before = self._init.get(mac)
            if holds:
                self._init[mac] = str(ref)
            else:
                self._init.pop(mac, None)
            after = self._init.get(mac)
            if before != after and not self._building:
                owner = self._macs.get(mac)
                # A MAC newly established for the very node that holds it changes nothing for
                # its segment unless another of its nodes looked at that MAC too.
                own = before is None and owner is not None and owner[1] == after
                if own and owner is not None and mac not in owner[0].rechecked:
                    owner = None
                self._key_moved(("m", mac), None, owner)

    def _claimed_reporting(
        self, ref: str, mac: str, found: dict[str, dict[str, tuple[NamedNode, str | None]]]
    ) -> bool:
        chassis = ref.partition("/")[0]
        refs = found.get(chassis)
        if refs is None:
            nodes = zip(self._nodes.get(chassis, ()), self._assign.get(chassis, ()), strict=True)
            refs = found[chassis] = {n.ref: (n, owner) for n, owner in nodes}
        entry = refs.get(ref)
        if entry is None:
            return False
        node, owner = entry
        claimed = owner is not None or self._catch_all is not None
        return claimed and any(str(m) == mac for m in node.record.macs)

    def _push(self, segment: _Segment) -> None:
        if segment.order not in self._queued:
            self._queued.add(segment.order)
            heapq.heappush(self._dirty, segment)

    def _key_moved(
        self,
        key: tuple[str, ...],
        after: _Segment | None,
        *owners: tuple[_Segment, object] | None,
    ) -> None:
        """A key changed hands: re-plan the segments after ``after`` that read it."""
        if self._building:
            return
        readers = set(self._watch.get(key, ()))
        readers.update(o[0] for o in owners if o is not None)
        for reader in readers:
            if after is None or after.order < reader.order:
                self._push(reader)
        if key[0] == "i":
            address = _ip_value(key[1])
            for segment in self._scanning:
                scan = segment.scan
                inside = scan is not None and scan[0] <= address <= scan[1]
                if inside and (after is None or after.order < segment.order):
                    self._push(segment)

    def _settle(self) -> None:
        """Re-plan dirty segments in plan order until none is left; then record what changed."""
        self._touched = {}
        while self._dirty:
            segment = heapq.heappop(self._dirty)
            self._queued.discard(segment.order)
            if segment.order not in self._touched:
                before = (segment.hosts, segment.conflicts, segment.skipped, segment.allocations)
                self._touched[segment.order] = (segment, before)
            self._replan(segment)
            if segment.chassis is not None and segment.chassis not in self._nodes:
                del self._segments[segment.order]  # a catch-all part of a chassis gone
        removed: list[Host] = []
        added: list[Host] = []
        for segment, before in self._touched.values():
            after = (segment.hosts, segment.conflicts, segment.skipped, segment.allocations)
            if after == before:
                continue
            self._change.pools.add(segment.pool.name)
            old_hosts = before[0]
            if old_hosts == segment.hosts:
                continue
            was: dict[str, list[Host]] = {}
            for host in old_hosts:
                was.setdefault(host.chassis, []).append(host)
            now: dict[str, list[Host]] = {}
            for host in segment.hosts:
                now.setdefault(host.chassis, []).append(host)
            moved = {c for c in {*was, *now} if was.get(c) != now.get(c)}
            self._change.chassis.setdefault(segment.pool.name, set()).update(moved)
            self._change.reservations = True
            removed += old_hosts
            added += segment.hosts
        # Only a reservation that really changed is pending (a re-planned segment lists every
        # host again; marking all its MACs made the next update recheck the whole segment, and
        # after a first sweep the whole namespace).
        now_held = {mac: host.key for host in added for mac in host.macs}
        for host in removed:
            for mac in host.macs:
                if mac not in now_held and self._reserved.get(mac) == host.key:
                    del self._reserved[mac]
                    self._pending.add(mac)
        for mac, key in now_held.items():
            if self._reserved.get(mac) != key:
                self._reserved[mac] = key
                self._pending.add(mac)
        self._touched = {}

    # --- one segment ------------------------------------------------------------------------

    def _members(self, segment: _Segment) -> tuple[list[NamedNode], list[str]]:
        members: list[NamedNode] = []
        conflicts: list[str] = []
        if segment.chassis is None and segment.order[0] == 0:
            name = segment.pool.name
            for chassis in self._chassis_of[name]:
                assign = self._assign.get(chassis)
                if assign is None:
                    continue
                for node, owner in zip(self._nodes[chassis], assign, strict=True):
                    if owner == name:
                        members.append(node)
                conflicts += self._claim_conflicts[chassis].get(name, ())
            return members, conflicts
        chassis_list = sorted(self._nodes) if segment.chassis is None else [segment.chassis]
        for chassis in chassis_list:
            for node, owner in zip(
                self._nodes.get(chassis, ()), self._assign.get(chassis, ()), strict=True
            ):
                if owner is None:
                    members.append(node)
        return members, conflicts

    def _replan(self, segment: _Segment) -> None:
        pool = segment.pool
        members, conflicts = self._members(segment)
        skipped: list[str] = []
        view = _View(self, segment)
        hosts, allocations, refused = _plan_hosts(
            pool,
            members,
            self._previous.get(pool.name, {}),
            view,
            conflicts,
            skipped,
            self._elsewhere.get(pool.dhcp.key, {}),
        )
        self._commit(segment, view)
        segment.hosts = tuple(hosts)
        segment.conflicts = tuple(conflicts)
        segment.skipped = tuple(skipped)
        segment.allocations = tuple(allocations.items())
        segment.refused = refused

    def _commit(self, segment: _Segment, view: _View) -> None:
        """Put the segment's new claims in the ownership index; mark who must look again."""
        order = segment
        # node names
        for name in {*segment.names, *view.names}:
            held = self._names.get(name)
            was = held[1].ref if held is not None and held[0] is segment else None
            node = view.names.get(name)
            if node is None:
                if was is not None:
                    del self._names[name]
                    self._key_moved(("n", name), order)
            else:
                self._names[name] = (segment, node)
                if was != node.ref:
                    self._key_moved(("n", name), order, held if held and held[0] is not segment
                                    else None)  # fmt: skip
        target = segment.pool.dhcp.key
        index = self._hostnames.setdefault(target, {})
        for text in {*segment.hostnames, *view.hostnames}:
            held = index.get(text)
            was = held[1].ref if held is not None and held[0] is segment else None
            node = view.hostnames.get(text)
            if node is None:
                if was is not None:
                    del index[text]
                    self._key_moved(("h", *target, text), order)
            else:
                index[text] = (segment, node)
                if was != node.ref:
                    self._key_moved(("h", *target, text), order, held if held and held[0]
                                    is not segment else None)  # fmt: skip
        for tag, table, written, new in (
            ("m", self._macs, segment.macs, view.macs),
            ("i", self._ips, segment.ips, view.ips),
        ):
            for text in {*written, *new}:
                owner = table.get(text)
                was = owner[1] if owner is not None and owner[0] is segment else None
                ref = new.get(text)
                if ref is None:
                    if was is not None:
                        del table[text]
                        self._key_moved((tag, text), order)
                else:
                    table[text] = (segment, ref)
                    if was != ref:
                        self._key_moved((tag, text), order, owner if owner and owner[0]
                                        is not segment else None)  # fmt: skip
        for key in segment.watched:
            watchers = self._watch.get(key)
            if watchers is not None:
                watchers.discard(segment)
                if not watchers:
                    del self._watch[key]
        segment.names = tuple(view.names)
        segment.hostnames = tuple(view.hostnames)
        segment.macs = tuple(view.macs)
        segment.ips = tuple(view.ips)
        held_keys = {("n", n) for n in view.names} | {("h", *target, h) for h in view.hostnames}
        held_keys |= {("m", m) for m in view.macs} | {("i", i) for i in view.ips}
        segment.watched = tuple(view.reads.keys() - held_keys)
        segment.rechecked = frozenset(k[1] for k, n in view.reads.items() if n > 1 and k[0] == "m")
        for key in segment.watched:
            self._watch.setdefault(key, set()).add(segment)
        segment.scan = view.scan
        if view.scan is None:
            self._scanning.discard(segment)
        else:
            self._scanning.add(segment)


class _View:
    """The claims one segment sees while it is planned: what the segments before it hold
    (the ownership index) and the established MACs, overlaid with its own new claims."""

    def __init__(self, planner: PoolPlanner, segment: _Segment) -> None:
        self._planner = planner
        self._segment = segment
        self._target = segment.pool.dhcp.key
        self.names: dict[str, NamedNode] = {}
        self.hostnames: dict[str, NamedNode] = {}
        self.macs: dict[str, str] = {}
        self.ips: dict[str, str] = {}
        self.reads: dict[tuple[str, ...], int] = {}  # key → how many times it was looked at
        self.scan: tuple[int, int] | None = None

    def _before(self, held: tuple[_Segment, object] | None) -> bool:
        return held is not None and held[0] is not self._segment and held[0] < self._segment

    def name(self, text: str) -> NamedNode | None:
        key = ("n", text)
        self.reads[key] = self.reads.get(key, 0) + 1
        node = self.names.get(text)
        if node is None:
            held = self._planner._names.get(text)
            node = held[1] if held is not None and self._before(held) else None
        return node

    def hostname(self, text: str) -> NamedNode | None:
        key = ("h", *self._target, text)
        self.reads[key] = self.reads.get(key, 0) + 1
        node = self.hostnames.get(text)
        if node is None:
            held = self._planner._hostnames.get(self._target, {}).get(text)
            node = held[1] if held is not None and self._before(held) else None
        return node

    def mac(self, text: str) -> str | None:
        key = ("m", text)
        self.reads[key] = self.reads.get(key, 0) + 1
        ref = self.macs.get(text) or self._planner._init.get(text)
        if ref is None:
            held = self._planner._macs.get(text)
            ref = held[1] if held is not None and self._before(held) else None
        return ref

    def ip(self, text: str, *, scanning: bool = False) -> str | None:
        if not scanning:
            key = ("i", text)
            self.reads[key] = self.reads.get(key, 0) + 1
        ref = self.ips.get(text)
        if ref is None:
            held = self._planner._ips.get(text)
            ref = held[1] if held is not None and self._before(held) else None
        return ref


def _ip_value(text: str) -> int:
    a, b, c, d = (int(p) for p in text.split("."))
    return a << 24 | b << 16 | c << 8 | d


def _ip_text(value: int) -> str:
    return f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def _plan_hosts(
    pool: NodePoolSpec,
    members: list[NamedNode],
    previous: Mapping[str, str],
    view: _View,
    conflicts: list[str],
    skipped: list[str],
    elsewhere: Mapping[str, str],
) -> tuple[list[Host], dict[str, str], bool]:
    """``chassisd.reconcile._hosts`` against a segment's view of the claims; keep the two
    the same (the property test compares them). Also says whether a wanted address was
    refused."""
    allocations: dict[str, str] = {}
    eligible: list[tuple[NamedNode, str]] = []
    hostnames: dict[str, str] = {}
    usable: dict[str, tuple[str, ...]] = {}
    for node in members:
        ref = node.ref
        hostname = hostname_of(pool, node)
        invalid = invalid_name(node, hostname)
        if invalid:
            conflicts.append(invalid)
            continue
        clash = _name_clash(node, ref, hostname, view, elsewhere)
        if clash:
            conflicts.append(f"{ref}: {clash}")
            continue
        macs = usable_macs(node, ref, skipped)
        if not macs:
            continue
        holders = [(m, view.mac(m)) for m in macs]
        taken = [(m, h) for m, h in holders if h is not None and h != ref]
        if taken:
            conflicts.append(f"{ref}: MAC {taken[0][0]} already reserved for {taken[0][1]}")
            continue
        there = [m for m in macs if f"mac:{m}" in elsewhere]
        if there:
            who = elsewhere[f"mac:{there[0]}"]
            conflicts.append(f"{ref}: MAC {there[0]} already reserved for {who}")
            continue
        for mac in macs:
            view.macs[mac] = ref
        view.names[node.name] = node
        view.hostnames[hostname] = node
        hostnames[ref] = hostname
        usable[ref] = tuple(macs)
        eligible.append((node, ref))
    wanted: dict[str, str] = {}
    kept: set[str] = set()  # nodes keeping a previous address, in range (checked once)
    refused = False
    for node, ref in eligible:
        static = pool.static_ips.get(node.name) or pool.static_ips.get(ref)
        if static is not None:
            wanted[ref] = str(static)
        elif ref in previous and _in_range(pool, previous[ref]):
            wanted[ref] = previous[ref]
            kept.add(ref)
    for ref, address in sorted(wanted.items()):
        holder = view.ip(address)
        if holder is not None:
            conflicts.append(f"{ref}: IP {address} already reserved for {holder}")
            refused = True
            continue
        if ref not in kept and not _in_range(pool, address):
            conflicts.append(f"{ref}: IP {address} is outside the pool range")
            refused = True
            continue
        view.ips[address] = ref
        allocations[ref] = address
    if pool.ip_range is not None:
        start, end = int(pool.ip_range.start), int(pool.ip_range.end)
    else:
        start, end = 0, -1
    cursor = start
    hosts: list[Host] = []
    for node, ref in eligible:
        ip: str | None = None
        if not pool.catch_all and (pool.ip_range is not None or pool.static_ips):
            ip = allocations.get(ref)
            if ip is None and ref not in wanted:
                while cursor <= end:
                    address = _ip_text(cursor)
                    cursor += 1
                    if view.ip(address, scanning=True) is None:
                        ip = address
                        break
                view.scan = (start, cursor - 1) if cursor > start else None
                if ip is None:
                    conflicts.append(f"{ref}: the pool's address range is exhausted")
                    continue
                view.ips[ip] = ref
                allocations[ref] = ip
            elif ip is None:
                continue  # its wanted IP was in conflict (reported above)
        hosts.append(Host(ref, node.chassis, hostnames[ref], usable[ref], ip))
    return sorted(hosts, key=lambda h: _natural(h.hostname)), allocations, refused


def _name_clash(
    node: NamedNode, ref: str, hostname: str, view: _View, elsewhere: Mapping[str, str]
) -> str:
    """``chassisd.reconcile._name_clash`` against a segment's view."""
    if f"host:{hostname}" in elsewhere:
        return f"hostname {hostname!r} already reserved for {elsewhere[f'host:{hostname}']}"
    for what, text in (("node name", node.name), ("hostname", hostname)):
        other = view.name(text) if what == "node name" else view.hostname(text)
        if other is None or other.ref == ref:
            continue
        hint = ""
        if other.chassis == node.chassis and other.record.cartridge == node.record.cartridge:
            hint = (
                f" (cartridge {node.record.cartridge} holds several nodes: the template needs "
                "{node} or {id})"
            )
        return f"{what} {text!r} already reserved for {other.ref}{hint}"
    return ""
