"""HTTPS drivers for chassisd: DMTF Redfish (and HPE iLO 4/5), and the Moonshot CM REST API.

Registered in the ``chassisd.drivers`` entry-point group as ``redfish`` (``RedfishDriver``) and
``moonshot-rest`` (``MoonshotRestDriver``). Modules: ``tls`` (certificate trust), ``http`` (one
HTTPS conversation: auth, errors, JSON), ``resources`` (payloads → model values, state maps),
``base`` (the shared driver lifecycle), ``redfish`` and ``moonshot_rest`` (the drivers).
"""

from chassisd_redfish.moonshot_rest import MoonshotRestDriver
from chassisd_redfish.redfish import RedfishDriver

__all__ = ["MoonshotRestDriver", "RedfishDriver"]
