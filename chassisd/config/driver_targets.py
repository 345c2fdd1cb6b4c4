"""A ``Chassis`` resource → what a driver needs to reach it: a ``ChassisTarget`` and power routes.

Owns resolving a chassis's Secret references (credentials, ``known_hosts``, CA bundle) into the
driver contract's ``ChassisTarget``, and the ordered power routes its ``fallback`` list adds.
Errors name the Chassis and the field path of the reference that does not resolve. Reads the
Secrets it is given (a standalone file's, or the cluster's through a mapping); reads no file,
talks to no device and no cluster, and never puts a secret into an error message.

"Target" here always means the driver's ``ChassisTarget``; a pool's ``DhcpTarget`` is a
different thing and lives in ``resources``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from chassisd.config.defaults import DEFAULT_CA_BUNDLE_KEY, DEFAULT_KNOWN_HOSTS_KEY
from chassisd.driver import ChassisTarget, Credentials, Limits, Timeouts
from chassisd.errors import ConfigError

if TYPE_CHECKING:  # resources imports this module; the types are needed for annotations only
    from chassisd.config.resources import ChassisResource, SecretRef

#: Secrets by name, each a mapping of key to decoded text.
Secrets = Mapping[str, Mapping[str, str]]


class PowerRoute(NamedTuple):
    """One way to reach a chassis for power: a registered driver name and its target."""

    driver: str
    target: ChassisTarget


def driver_target(spec: ChassisResource, secrets: Secrets) -> ChassisTarget:
    """Resolve a chassis's Secret references into a ``ChassisTarget``."""
    where = f"Chassis/{spec.name}"
    creds = _secret(secrets, spec.credentials_ref, where, "spec.credentialsSecretRef")
    if "username" not in creds:
        raise ConfigError(
            f"Secret {spec.credentials_ref.name!r} has no key 'username'",
            document=where,
            path="spec.credentialsSecretRef",
        )
    known_hosts = spec.known_hosts
    if spec.known_hosts_ref is not None:
        data = _secret(secrets, spec.known_hosts_ref, where, "spec.knownHostsSecretRef")
        key = spec.known_hosts_ref.key or DEFAULT_KNOWN_HOSTS_KEY
        if key not in data:
            raise ConfigError(
                f"Secret {spec.known_hosts_ref.name!r} has no key {key!r}",
                document=where,
                path="spec.knownHostsSecretRef.key",
            )
        known_hosts = known_hosts + "\n" + data[key] if known_hosts else data[key]
    ca_bundle = ""
    if spec.ca_bundle_ref is not None:
        data = _secret(secrets, spec.ca_bundle_ref, where, "spec.caBundleSecretRef")
        key = spec.ca_bundle_ref.key or DEFAULT_CA_BUNDLE_KEY
        if key not in data:
            raise ConfigError(
                f"Secret {spec.ca_bundle_ref.name!r} has no key {key!r}",
                document=where,
                path="spec.caBundleSecretRef.key",
            )
        ca_bundle = data[key]
    return ChassisTarget(
        name=spec.name,
        address=spec.address,
        credentials=Credentials(
            username=creds["username"],
            password=creds.get("password", ""),
            private_key=creds.get("ssh-privatekey", ""),
        ),
        known_hosts=known_hosts,
        ca_bundle=ca_bundle,
        certificate_fingerprint=spec.certificate_fingerprint,
        insecure_skip_verify=spec.insecure_skip_verify,
        timeouts=Timeouts(
            connect=spec.connect_timeout, command=spec.command_timeout, poll=spec.poll_timeout
        ),
        limits=Limits(output_bytes=spec.max_output_bytes),
    )


def power_routes(spec: ChassisResource, secrets: Secrets) -> list[PowerRoute]:
    """The ways to reach a chassis for power, in order: its driver, then ``fallback``
    (same credentials and trust, another driver and address)."""
    target = driver_target(spec, secrets)
    routes = [PowerRoute(spec.driver, target)]
    routes += [PowerRoute(driver, replace(target, address=addr)) for driver, addr in spec.fallback]
    return routes


def _secret(secrets: Secrets, ref: SecretRef, where: str, path: str) -> Mapping[str, str]:
    if ref.name not in secrets:
        raise ConfigError(f"Secret {ref.name!r} not found", document=where, path=path)
    return secrets[ref.name]
