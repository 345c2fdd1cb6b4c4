"""The field validator: reading one mapping of a resource document, with field-path errors.

Owns ``Fields`` (typed reads of a mapping that knows its document and path, so every error says
``config.yaml#3 Chassis/moonshot-1: spec.address: must be a string``, and that rejects fields
nobody read), durations (``90s``, ``5m``, ``1h30m``), name templates, and the Kubernetes name
patterns more than one resource uses. Knows no resource kind; reads no file.

A ``Fields`` made with ``secret=True`` (a Secret document, and everything under it) never puts a
value in an error, only its type: a password of digits is read by YAML as a number, and
"must be a string, got 73915528" would print it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Final

from chassisd.errors import ConfigError
from chassisd.names import template_problem

#: A Kubernetes object name or namespace (RFC 1123 label; at most 63 characters).
DNS_LABEL: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
#: A Kubernetes Secret or ConfigMap name (RFC 1123 subdomain; at most 253 characters).
DNS_SUBDOMAIN: Final = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
#: A byte size: a number of bytes, KiB or MiB (``4Mi``), as the CRDs' size pattern.
SIZE: Final = re.compile(r"([1-9][0-9]{0,9})(Ki|Mi)?")
_SIZE_UNITS: Final = {None: 1, "Ki": 1024, "Mi": 1024 * 1024}
_REQUIRED = object()


def parse_duration(text: object, *, document: str, path: str) -> float:
    """Parse ``90s``, ``5m``, ``24h``, ``1h30m`` into seconds (the CRDs' duration pattern)."""
    if isinstance(text, str) and len(text) <= 32:
        match = _DURATION.fullmatch(text)
        if match and any(match.groups()):
            hours, minutes, seconds = (int(g or 0) for g in match.groups())
            total = hours * 3600 + minutes * 60 + seconds
            if total > 0:
                return float(total)
    raise ConfigError(
        f"not a duration: {text!r} (use e.g. 30s, 5m, 24h)", document=document, path=path
    )


def parse_size(text: object, *, document: str, path: str) -> int:
    """Parse ``65536``, ``64Ki``, ``4Mi`` into bytes (the CRDs' size pattern)."""
    if isinstance(text, str) and len(text) <= 16:
        match = SIZE.fullmatch(text)
        if match:
            return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    raise ConfigError(
        f"not a size: {text!r} (bytes, or with Ki or Mi, e.g. 4Mi)", document=document, path=path
    )


def check_template(template: str, allowed: frozenset[str], *, document: str, path: str) -> str:
    """Check that ``template`` is non-empty text with only ``{field}`` names from ``allowed``,
    and that its example rendering is a valid name (``chassisd.names.template_problem``)."""
    names = "|".join(sorted(allowed))
    if not re.fullmatch(rf"([^{{}}]|\{{({names})\}})+", template):
        raise ConfigError(
            "must be text with fields among "
            + ", ".join("{" + a + "}" for a in sorted(allowed))
            + (
                f"; unknown field {{{bad[0]}}}"
                if (bad := [n for n in re.findall(r"{([^{}]*)}", template) if n not in allowed])
                else " (braces must be balanced; the template must not be empty)"
            ),
            document=document,
            path=path,
        )
    problem = template_problem(template)
    if problem:
        raise ConfigError(problem, document=document, path=path)
    return template


class Fields:
    """A mapping being validated, which knows its document and path for error messages."""

    def __init__(self, raw: object, document: str, path: str, *, secret: bool = False) -> None:
        if not isinstance(raw, dict):
            raise ConfigError(
                f"must be a mapping, got {type(raw).__name__}",
                document=document,
                path=path or "(document)",
            )
        self.raw: dict[str, Any] = raw
        self.document = document
        self.path = path
        self.secret = secret
        self._read: set[str] = set()
        self._children: list[Fields] = []

    def reject_unknown(self) -> None:
        """Raise for any field nobody read (a typo must not silently keep a default)."""
        for key in self.raw:
            if key not in self._read:
                raise ConfigError("unknown field", document=self.document, path=self.at(str(key)))
        for child in self._children:
            child.reject_unknown()

    def _child(self, raw: object, path: str) -> Fields:
        child = Fields(raw, self.document, path, secret=self.secret)
        self._children.append(child)
        return child

    def at(self, key: str) -> str:
        """The field path of ``key`` inside this mapping."""
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, default: object, expected: str) -> object:
        self._read.add(key)
        if key not in self.raw or self.raw[key] is None:
            if default is _REQUIRED:
                raise ConfigError(
                    f"missing ({expected})", document=self.document, path=self.at(key)
                )
            return default
        return self.raw[key]

    def shown(self, value: object) -> str:
        """``value`` for an error message: its repr, or only its type in a Secret."""
        return f"a value of type {type(value).__name__}" if self.secret else repr(value)

    def text(self, key: str, default: object = None) -> str:
        """A string field (required when ``default`` is None)."""
        value = self._get(key, _REQUIRED if default is None else default, "string")
        if not isinstance(value, str):
            raise ConfigError(
                f"must be a string, got {self.shown(value)}",
                document=self.document,
                path=self.at(key),
            )
        return value

    def flag(self, key: str, default: bool) -> bool:
        """A boolean field."""
        value = self._get(key, default, "boolean")
        if not isinstance(value, bool):
            raise ConfigError(
                f"must be true or false, got {self.shown(value)}",
                document=self.document,
                path=self.at(key),
            )
        return value

    def duration(self, key: str, default: float) -> float:
        """A duration field, in seconds."""
        value = self._get(key, default, "duration")
        if value is default:
            return default
        return parse_duration(value, document=self.document, path=self.at(key))

    def size(self, key: str, default: int) -> int:
        """A byte-size field (``4Mi``), in bytes."""
        value = self._get(key, default, "size")
        if value is default:
            return default
        return parse_size(value, document=self.document, path=self.at(key))

    def mapping(self, key: str) -> Fields:
        """A required mapping field, validated in turn (its unknown fields are rejected too)."""
        return self._child(self._get(key, _REQUIRED, "mapping"), self.at(key))

    def items(
        self, key: str, *, required: bool = True, default: list[Any] | None = None
    ) -> list[Fields]:
        """A list field whose items are mappings."""
        value = self._get(key, _REQUIRED if required else (default or []), "list")
        if not isinstance(value, list):
            raise ConfigError("must be a list", document=self.document, path=self.at(key))
        return [self._child(v, self.at(f"{key}[{i}]")) for i, v in enumerate(value)]

    def texts(self, key: str) -> list[str]:
        """A list-of-strings field (empty when absent)."""
        value = self._get(key, [], "list of strings")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                "must be a list of strings", document=self.document, path=self.at(key)
            )
        return list(value)

    def matching(
        self, key: str, pattern: re.Pattern[str], what: str, default: str | None, max_len: int
    ) -> str:
        """A string field that must match ``pattern`` (required when ``default`` is None)."""
        value = self.text(key, default)
        if value == default and default is not None:
            return value
        if len(value) > max_len or not pattern.fullmatch(value):
            raise ConfigError(
                f"{self.shown(value)} is not {what}", document=self.document, path=self.at(key)
            )
        return value

    def ipv4(self, key: str) -> ipaddress.IPv4Address:
        """A required IPv4 address field."""
        value = self.text(key)
        try:
            return ipaddress.IPv4Address(value)
        except ValueError as exc:
            raise ConfigError(
                f"not an IPv4 address: {value!r}", document=self.document, path=self.at(key)
            ) from exc
