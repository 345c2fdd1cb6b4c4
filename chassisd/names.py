"""Names dnsmasq and Kubernetes can use: node names, hostnames and the device ids they come from.

Owns the rules a rendered node name or hostname must follow (a DNS-1123 label that dnsmasq
cannot mistake for something else), the characters a device-provided node id may have, the
rendering of a naming template (``{chassis}``, ``{cartridge}``, ``{node}``, ``{id}``,
``{name}``), and the example rendering that templates are checked with where they are declared
(``chassisd.config`` and, as the same rule in CEL, the CRDs). Pure: no I/O, no imports beyond
the standard library.

Why each rule (dnsmasq's ``dhcp-host`` parsing in ``option.c``; seen with dnsmasq 2.90 reading
a ``dhcp-hostsfile``): a field made of digits with an optional ``s``/``m``/``h``/``d``/``w``
is silently taken as a lease time, so the host gets no name (``4``, ``40h``); ``infinite``,
``ignore`` and ``deprecated`` are keywords; a field it cannot use as a host name (``node 3``)
makes it log "bad DHCP host name" and drop the whole line; an FQDN is accepted and cut to its
first label; ``,`` and newlines split fields and lines.
"""

from __future__ import annotations

import re
from typing import Final

#: At most this many characters in a DNS label (RFC 1123; a Kubernetes node name's first label).
MAX_LABEL: Final = 63
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LEASE_TIME_LIKE = re.compile(r"[0-9]+[smhdwSMHDW]?")
_DNSMASQ_KEYWORDS = frozenset({"infinite", "ignore", "deprecated"})
#: A device's native node id: letters, digits, ``.``, ``_``, ``:``, ``-``, starting with a
#: letter or digit (Moonshot ``c43n1``, Redfish ``1``, ``System.Embedded.1``, ``437XR1138R2``).
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
MAX_DEVICE_ID: Final = 63
_ID_SEPARATORS = re.compile(r"[._:]")

#: The values a template is rendered with where it is declared, to show what it gives.
EXAMPLE_FIELDS: Final = {
    "chassis": "moonshot-1",
    "cartridge": "1",
    "node": "1",
    "id": "c1n1",
    "name": "moonshot-1-c1n1",
}
EXAMPLE_TEXT: Final = "chassis moonshot-1, cartridge 1, node 1, id c1n1, name moonshot-1-c1n1"


def label_problem(text: str) -> str:
    """Why ``text`` cannot be a node name or a DHCP host name, or "" when it can."""
    if not text:
        return "it is empty"
    if len(text) > MAX_LABEL:
        return f"it is {len(text)} characters long (at most {MAX_LABEL})"
    if not _LABEL.fullmatch(text):
        return (
            "a DNS label has only lower-case letters, digits and '-', "
            "and starts and ends with a letter or digit"
        )
    if _LEASE_TIME_LIKE.fullmatch(text) or text in _DNSMASQ_KEYWORDS:
        return "dnsmasq would read it as a lease time or a keyword, not a host name"
    return ""


def device_id_problem(native_id: str) -> str:
    """Why a device-provided node id is refused, or "" when it is fine."""
    if len(native_id) > MAX_DEVICE_ID:
        return f"it is {len(native_id)} characters long (at most {MAX_DEVICE_ID})"
    if not _DEVICE_ID.fullmatch(native_id):
        return "a node id has only letters, digits, '.', '_', ':' and '-'"
    return ""


def id_for_name(native_id: str) -> str:
    """A native id as ``{id}`` renders it: lower case, ``.``, ``_`` and ``:`` as ``-``."""
    return _ID_SEPARATORS.sub("-", native_id.lower())


def render(
    template: str,
    *,
    chassis: str,
    native_id: str,
    cartridge: int | None,
    node: int | None,
    name: str = "",
) -> str:
    """Render a naming template; ``{cartridge}``/``{node}`` are empty for devices without."""
    return template.format(
        chassis=chassis,
        id=id_for_name(native_id),
        cartridge="" if cartridge is None else cartridge,
        node="" if node is None else node,
        name=name,
    )


def template_problem(template: str) -> str:
    """Why ``template`` cannot give valid names, judged by its example rendering; "" if fine.

    The CRDs state the same rule in CEL (the same example values, replaced textually).
    """
    rendered = template.format(**EXAMPLE_FIELDS)
    why = label_problem(rendered)
    if not why:
        return ""
    return f"renders {rendered!r} for {EXAMPLE_TEXT}: {why}"
