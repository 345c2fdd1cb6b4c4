"""TLS material for simulated HTTPS peers: a throw-away CA, a server certificate, contexts.

Owns: generating a private CA and a server certificate it signs (ECDSA P-256, valid for the
loopback addresses by default), the SHA-256 fingerprint of the server certificate as chassisd
config writes it (``AA:BB:...``), and the server-side ``ssl.SSLContext`` built from them.

Must not: import anything from chassisd outside ``chassisd.sim``, or keep keys anywhere but in
memory (a temporary directory exists only while ``load_cert_chain`` reads the files).

A real chassis manager or iLO ships a self-signed certificate; the simulator uses a CA plus a
leaf instead, so that tests can exercise both trust modes chassisd offers: a CA bundle
(``ca_pem``) and a pinned leaf fingerprint (``fingerprint``).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "::1", "localhost")
_VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class TlsMaterial:
    """A CA certificate, a server certificate signed by it, and the server's key (all PEM)."""

    ca_pem: str
    """The CA certificate: what a client puts in its CA bundle."""
    cert_pem: str
    """The server (leaf) certificate."""
    key_pem: str = field(repr=False)
    """The server's private key (unencrypted PKCS#8)."""
    hosts: tuple[str, ...] = DEFAULT_HOSTS

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the server certificate's DER form, ``AA:BB:...`` (64 hex digits)."""
        return certificate_fingerprint(self.cert_pem)

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the leaf certificate (TLS 1.2 or later)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory(prefix="chassisd-sim-tls-") as tmp:
            cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
            cert_file.write_text(self.cert_pem)
            key_file.write_text(self.key_pem)
            key_file.chmod(0o600)
            context.load_cert_chain(cert_file, key_file)
        return context


def certificate_fingerprint(cert_pem: str) -> str:
    """SHA-256 of a PEM certificate's DER form as colon-separated upper-case hex."""
    der = ssl.PEM_cert_to_DER_cert(cert_pem)
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def generate_tls_material(
    hosts: Sequence[str] = DEFAULT_HOSTS, *, common_name: str = "chassisd simulator"
) -> TlsMaterial:
    """A fresh CA and a server certificate for ``hosts`` (IP addresses and DNS names); ~5 ms."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return TlsMaterial(
        ca_pem=ca_cert.public_bytes(pem).decode("ascii"),
        cert_pem=cert.public_bytes(pem).decode("ascii"),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        hosts=tuple(hosts),
    )
