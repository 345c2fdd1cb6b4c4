"""TLS trust for HTTPS drivers: which server certificates a conversation accepts.

Owns: turning a target's trust material into one client ``ssl.SSLContext``, in this order:

1. ``certificate_fingerprint`` and/or ``ca_bundle`` set → verified; with both, both must hold.
   - CA bundle: the chain must lead to one of the PEM certificates, and the certificate must
     name the address (hostname/IP check), as any HTTPS client does.
   - Fingerprint (alone): the SHA-256 of the server certificate's DER bytes must equal the pin.
     Chain, name and validity dates are not checked - the pin *is* the trust decision, which is
     what a BMC's self-signed (often long-expired) certificate needs.
2. ``insecure_skip_verify`` → nothing is verified, and the caller reports a warning.
3. nothing set → the operating system's trust store (``ssl.create_default_context()``).

How the pin is checked: the context's ``sslsocket_class`` is a subclass of ``ssl.SSLSocket``
whose ``do_handshake`` compares the peer certificate right after the handshake, inside
``wrap_socket``. A mismatch raises ``ssl.SSLCertVerificationError`` there, so the connection is
closed *before a single byte of HTTP is sent* - no credentials or session token ever reach a
server that fails the pin. (Checking the certificate on the response, after the request, would
be too late.) httpx's sync transport calls ``SSLContext.wrap_socket``, so this holds for every
connection the client opens, including reconnects.

Must not: do any I/O itself, read files, or log.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from dataclasses import dataclass

from chassisd.driver import ChassisTarget

_HEX = re.compile(r"[0-9a-f]{64}")

INSECURE_WARNING = (
    "TLS certificate verification is disabled for this chassis (insecureSkipVerify); "
    "anyone on the path can read its credentials - set a CA bundle or certificateFingerprint"
)


class CertificatePinMismatch(ssl.SSLCertVerificationError):
    """The server certificate's SHA-256 fingerprint is not the pinned one."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"certificate fingerprint is {actual}, pinned {expected}")
        self.expected = expected
        self.actual = actual


def normalize_fingerprint(text: str) -> str:
    """``sha256:aa:bb...`` / ``AABB...`` → 64 lower-case hex digits; ``ValueError`` otherwise."""
    value = text.strip()
    if value.lower().startswith("sha256:"):
        value = value[len("sha256:") :]
    value = value.replace(":", "").lower()
    if not _HEX.fullmatch(value):
        raise ValueError("not a SHA-256 fingerprint (64 hex digits, optionally colon-separated)")
    return value


def format_fingerprint(digest_hex: str) -> str:
    """64 hex digits → ``AA:BB:...`` (the form ``openssl x509 -fingerprint -sha256`` prints)."""
    upper = digest_hex.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


def certificate_fingerprint(der: bytes) -> str:
    """``AA:BB:...`` SHA-256 of a DER certificate."""
    return format_fingerprint(hashlib.sha256(der).hexdigest())


def _pinned_socket_class(pin: str) -> type[ssl.SSLSocket]:
    """An ``SSLSocket`` class that refuses any peer certificate whose SHA-256 is not ``pin``."""

    class PinnedSSLSocket(ssl.SSLSocket):
        def do_handshake(self, block: bool = False) -> None:
            super().do_handshake(block)
            der = self.getpeercert(binary_form=True)
            actual = hashlib.sha256(der).hexdigest() if der else ""
            if actual != pin:
                # SSLSocket._create closes the socket on this (an OSError/ValueError subclass).
                raise CertificatePinMismatch(
                    format_fingerprint(pin), format_fingerprint(actual) if actual else "absent"
                )

    return PinnedSSLSocket


@dataclass(frozen=True)
class TrustSettings:
    """The client context for one target, and the warnings its trust mode implies."""

    context: ssl.SSLContext
    mode: str  # "pinned", "ca-bundle", "pinned+ca-bundle", "insecure", "system"
    warnings: tuple[str, ...] = ()


def client_trust(target: ChassisTarget) -> TrustSettings:
    """Build the client TLS context for ``target`` (``ValueError`` for unusable trust material).

    TLS 1.2 is the minimum (sushy-emulator and iLO 5 speak it; nothing older is offered).
    """
    pin = (
        normalize_fingerprint(target.certificate_fingerprint)
        if target.certificate_fingerprint
        else ""
    )
    warnings: list[str] = []
    if target.ca_bundle.strip():
        try:
            context = ssl.create_default_context(cadata=target.ca_bundle)
        except ssl.SSLError as exc:
            raise ValueError(f"the CA bundle is not usable PEM: {exc}") from exc
        mode = "pinned+ca-bundle" if pin else "ca-bundle"
    elif pin:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False  # the pin replaces chain and name checks (docstring)
        context.verify_mode = ssl.CERT_NONE
        mode = "pinned"
    elif target.insecure_skip_verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        mode = "insecure"
        warnings.append(INSECURE_WARNING)
    else:
        context = ssl.create_default_context()
        mode = "system"
    if target.insecure_skip_verify and mode != "insecure":
        warnings.append(
            "insecureSkipVerify is ignored: a CA bundle or certificateFingerprint is set"
        )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if pin:
        context.sslsocket_class = _pinned_socket_class(pin)
    return TrustSettings(context=context, mode=mode, warnings=tuple(warnings))
