"""Secrets for polls and power, read through the API and kept briefly in memory.

Owns the Secret cache: every poll needs its chassis's credentials and known hosts, and with a
fleet-wide known_hosts Secret reading it per poll cost a 100 KB GET per chassis. A value is
kept ``ttl`` seconds (a rotated credential is used within that), a missing Secret is not
remembered. When the API server cannot be asked (an outage, not a missing Secret), the last
good value is used however old: an API outage is not a chassis failure. Values are never
logged or written anywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping

from chassisd.cluster.cache import Key
from chassisd.errors import ConfigError, KubeApiError
from chassisd.kube.gateway import KubeGateway


class SecretCache:
    """Secret data by (namespace, name), read through the gateway at most every ``ttl`` s."""

    def __init__(self, gateway: KubeGateway, ttl: float) -> None:
        self._gw = gateway
        self._ttl = ttl
        self._lock = threading.Lock()
        self._data: dict[Key, tuple[float, Mapping[str, str]]] = {}

    def get(self, namespace: str, name: str) -> Mapping[str, str]:
        """The Secret's data; ``ConfigError`` if it does not exist."""
        now = time.monotonic()
        with self._lock:
            cached = self._data.get((namespace, name))
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            data = self._gw.secret_data(namespace, name)
        except KubeApiError:
            if cached is not None:  # the API is down, the Secret was there: keep using it
                return cached[1]
            raise
        with self._lock:
            self._data[(namespace, name)] = (now, data)
        return data

    def of_namespace(self, namespace: str) -> NamespaceSecrets:
        """The Secrets of one namespace as the mapping the config's target resolution reads."""
        return NamespaceSecrets(self, namespace)


class NamespaceSecrets(Mapping[str, Mapping[str, str]]):
    """Secrets of one namespace, read when a chassis needs them, through a ``SecretCache``."""

    def __init__(self, cache: SecretCache, namespace: str) -> None:
        self._cache = cache
        self._namespace = namespace

    def __getitem__(self, name: str) -> Mapping[str, str]:
        try:
            return self._cache.get(self._namespace, name)
        except ConfigError as exc:
            if exc.path:  # it exists, and one of its values cannot be used: say which
                raise
            raise KeyError(name) from None

    def __contains__(self, name: object) -> bool:
        try:
            self[str(name)]
        except KeyError:
            return False
        except ConfigError:
            return True  # present; reading it raises the error naming its key
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0
