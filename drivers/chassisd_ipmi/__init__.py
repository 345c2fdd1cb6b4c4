"""IPMI 2.0 (RMCP+ over LAN) driver for chassisd: one BMC is one node (pyghmi).

Registered in the ``chassisd.drivers`` entry-point group as ``ipmi``. Modules: ``driver``
(requests, state maps, model values), ``session`` (pyghmi, timeouts, error mapping), ``fru``
(FRU 0 decoding and host MACs; pure).
"""

from chassisd_ipmi.driver import NODE_ID, IpmiDriver

__all__ = ["NODE_ID", "IpmiDriver"]
