"""Public test helpers for chassisd and for code built on it (third-party drivers, operators).

Owns: ``wait_until`` (polling a condition, the one copy), ``fake_farm`` (in-memory farms for the
registered ``fake`` driver), ``controlplane`` (a real kube-apiserver + etcd) and its pytest
plugin ``pytest_controlplane``. Importing this package imports nothing heavy; the control plane
(which needs ``kubernetes``) is imported from its own module.

Must not: be imported by production code (an import-linter contract checks that).
"""

from chassisd.testing.waiting import wait_until

__all__ = ["wait_until"]
