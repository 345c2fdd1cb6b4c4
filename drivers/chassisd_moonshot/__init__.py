"""HPE Moonshot 1500 iLO Chassis Manager driver for chassisd (CLI over SSH).

Registered in the ``chassisd.drivers`` entry-point group as ``moonshot``.
"""

from chassisd_moonshot.driver import MoonshotDriver

__all__ = ["MoonshotDriver"]
