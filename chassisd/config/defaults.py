"""Every default of chassisd's settings, written once, each with the reason it has that value.

Owns the values only: the resource types, the document parser, the standalone farm and the
daemon's flags read them from here instead of repeating a number. The CRDs in ``crds/`` carry
the same resource defaults for the API server to fill in (``pollInterval: 5m``,
``gracePeriod: 24h``, ``leaseTime: infinite``, ``nodeNameTemplate``); the CRD tests check that a
document means the same to the parser with and without them. Holds no logic and imports nothing
but the driver contract, whose ``Timeouts`` and ``Limits`` own the network timeouts and
size limits.
"""

from __future__ import annotations

from typing import Final

from chassisd.driver import Limits, Timeouts

# --- Chassis ------------------------------------------------------------------------------------

#: Seconds between two polls of one chassis (``spec.pollInterval``; the CRD's ``5m``). Chassis
#: managers are slow devices that allow few sessions, and node inventory changes only when
#: someone slides a cartridge in: a new node waits at most this long for its reservation.
DEFAULT_POLL_INTERVAL: Final = 300.0

#: How a node is named when the Chassis gives no ``nodeNameTemplate``: chassis name and the
#: device's own id are unique together on every kind of device (``moonshot-1-c43n1``).
DEFAULT_NODE_NAME_TEMPLATE: Final = "{chassis}-{id}"

#: Seconds to connect and log in (``spec.connectTimeout``); the reason is on ``Timeouts``.
DEFAULT_CONNECT_TIMEOUT: Final = Timeouts.connect

#: Seconds one command may take (``spec.commandTimeout``); the reason is on ``Timeouts``.
DEFAULT_COMMAND_TIMEOUT: Final = Timeouts.command

#: Seconds one poll cycle may take in all, retries included (``spec.pollTimeout``); the reason
#: is on ``Timeouts``.
DEFAULT_POLL_TIMEOUT: Final = Timeouts.poll

#: Bytes one command's output or HTTP answer may have (``spec.maxOutputSize``; the CRD's
#: ``4Mi``); the reason is on ``chassisd.driver.DEFAULT_MAX_OUTPUT_BYTES``.
DEFAULT_MAX_OUTPUT_BYTES: Final = Limits.output_bytes

#: Key read from a ``knownHostsSecretRef`` Secret without a ``key``: the name OpenSSH gives the
#: file, so ``kubectl create secret generic --from-file=known_hosts`` works as is.
DEFAULT_KNOWN_HOSTS_KEY: Final = "known_hosts"

#: Key read from a ``caBundleSecretRef`` Secret without a ``key``: the CA key of
#: ``kubernetes.io/tls`` Secrets and of cert-manager's, so theirs can be referenced unchanged.
DEFAULT_CA_BUNDLE_KEY: Final = "ca.crt"

# --- NodePool -----------------------------------------------------------------------------------

#: Seconds a node that successful polls no longer report keeps its reservation
#: (``spec.gracePeriod``; the CRD's ``24h``): a cartridge pulled for a repair, or a node a
#: faulty chassis manager stops listing, comes back within a working day with the same address.
DEFAULT_GRACE_PERIOD: Final = 24 * 3600.0

#: A pool's hostname for a node when it gives no ``hostnameTemplate``: the node's own name.
DEFAULT_HOSTNAME_TEMPLATE: Final = "{name}"

#: dnsmasq lease time of a reservation (``spec.dhcp.leaseTime``; the CRD's ``infinite``): what
#: kubefarm's own reservations use; a diskless node keeps its address for as long as it runs,
#: and dnsmasq-controller's dnsmasq keeps no lease file that could remember a shorter lease.
DEFAULT_LEASE_TIME: Final = "infinite"

#: Namespace of a resource, and of its DhcpHosts, when none is given: Kubernetes' own default.
DEFAULT_NAMESPACE: Final = "default"
