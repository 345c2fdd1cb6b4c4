"""The ``fake`` driver: an in-memory farm for fast tests, registered like the real drivers.

Registered in the ``chassisd.drivers`` entry-point group as ``fake`` (Ironic's fake hardware
type): the poller, the power service, the standalone farm and the cluster agent meet it
through the same registry as ``moonshot`` or ``redfish``, with no process, socket or sleep.

How a test hands its farm to the driver: build a ``Farm`` (``chassisd.testing.fake_farm.build``
makes one with Moonshot-style node ids and MACs), register it under its name for the test
(``with chassisd.testing.fake_farm.registered(farm):``), and point a ``Chassis`` at one of its
chassis::

    driver: fake
    address: fake://<farm name>/<chassis name>       # farm.address("chassis-1")
    credentialsSecretRef: ...                        # the farm's username and password

The farm plays the device: it keeps power and one-time PXE per node, scripted faults per
chassis and operation (transient, auth, parse, ambiguous, slow) and a log of every
state-changing command it received, so a test can assert "power went out exactly once"
(``farm.count(node="c1n1", action=PowerAction.OFF) == 1``). Nothing here is meant for
production: an address names an in-process farm, so outside a test it never answers
(``TransientError``).
"""

from chassisd_fake.driver import FakeDriver

__all__ = ["FakeDriver"]
