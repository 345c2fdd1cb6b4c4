"""One HTTPS conversation with a BMC or chassis manager (httpx): trust, auth, errors, JSON.

Owns: the ``httpx.Client`` of one driver conversation (TLS context from ``tls``, connect and
read timeouts on every request, keep-alive), session login (``POST`` credentials →
``X-Auth-Token`` + ``Location``) and logout (``DELETE`` the session), HTTP Basic as the fallback,
redirects, decoding JSON into ``Resource`` values, and mapping every failure onto the project's
error classes. It knows no resource paths beyond what callers pass in.

Error mapping, by how far the request got and what kind of request it was:

================================  ======================  ========================
failure                           read (GET), login       change (POST action, PATCH)
================================  ======================  ========================
connect error / connect timeout   TransientError          TransientError
certificate not trusted           CertificateError        CertificateError
read/write timeout, connection    TransientError          AmbiguousOutcome
lost after the request was sent                           (never re-sent)
401 / 403                         AuthError               AuthError
404                               DeviceError             DeviceError
501 Not Implemented               UnsupportedError        UnsupportedError
429, 5xx                          TransientError          DeviceError (it answered)
other 4xx                         DeviceError             DeviceError
redirect                          followed (same origin)  DeviceError, not re-sent
not JSON / not an object          ParseError (URL)        -
================================  ======================  ========================

Redirects: a GET follows up to ``MAX_REDIRECTS`` hops, and only to the same scheme, host and
port - the session token is a custom header that httpx would carry to any host. A POST or PATCH
is never re-sent on a redirect; the caller always sends changes to the URL the resource itself
advertised, so a redirect there is reported, not guessed at.

Proxies: ``trust_env=False`` - BMCs sit on management networks, and an ``HTTPS_PROXY`` meant for
the internet must not receive BMC credentials.

Must not: sleep, retry, log, or put credentials or tokens into messages.
"""

from __future__ import annotations

import enum
import json
import ssl
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from chassisd.alarm import Alarm, cut
from chassisd.driver import ChassisTarget
from chassisd.errors import (
    AmbiguousOutcome,
    AuthError,
    CertificateError,
    DeviceError,
    DriverError,
    ParseError,
    PermanentError,
    TransientError,
    TrustError,
    UnsupportedError,
    excerpt,
)
from chassisd_redfish.resources import Resource
from chassisd_redfish.tls import CertificatePinMismatch, TrustSettings, client_trust

DEFAULT_PORT: Final = 443
MAX_REDIRECTS: Final = 5
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_ERROR_TEXT_LIMIT: Final = 300


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, read whole (and within the size limit) before anyone looks at it."""

    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    url: str
    content: bytes

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")


class Kind(enum.Enum):
    """What a request does, which decides how its failures are classed."""

    READ = "read"
    LOGIN = "login"
    CHANGE = "change"


class HttpSession:
    """An HTTPS client for one target: ``connect``, ``login``/``use_basic``, requests, ``close``."""

    def __init__(self, target: ChassisTarget) -> None:
        self._target = target
        self.base_url = _base_url(target)
        self._client: httpx.Client | None = None
        self._session_url = ""
        self._streams = _Streams()
        self._poll_alarm: Alarm | None = None
        self.trust: TrustSettings | None = None
        self.auth_mode = ""  # "session" or "basic" once logged in

    # -- lifecycle --------------------------------------------------------------------------------

    def connect(self) -> None:
        """Build the client (no network traffic yet: connections open on the first request)."""
        try:
            self.trust = client_trust(self._target)
        except ValueError as exc:
            raise TrustError(f"unusable trust material: {exc}") from exc
        timeouts = self._target.timeouts
        self._poll_alarm = Alarm(timeouts.poll, self._streams.cut_all)
        self._client = httpx.Client(
            transport=_WatchedTransport(self.trust.context, self._streams),
            timeout=httpx.Timeout(
                connect=timeouts.connect,
                read=timeouts.command,
                write=timeouts.command,
                pool=timeouts.connect,
            ),
            follow_redirects=False,
            trust_env=False,
            headers={"Accept": "application/json"},
        )

    @property
    def warnings(self) -> tuple[str, ...]:
        """Things the daemon should log once per poll (e.g. verification switched off)."""
        return self.trust.warnings if self.trust is not None else ()

    def login(self, sessions_path: str) -> bool:
        """Open a session; ``False`` when the service has no session login (use Basic then).

        ``POST`` ``{"UserName", "Password"}`` to ``sessions_path``; the token comes back in the
        ``X-Auth-Token`` header and the session's URL in ``Location`` (used by ``close``).
        """
        client = self._require_client()
        url = self.url(sessions_path)
        credentials = self._target.credentials
        body = {"UserName": credentials.username, "Password": credentials.password}
        response = self._send("POST", url, Kind.LOGIN, body)
        if response.status_code in (404, 405, 501):
            return False
        self._check(response, "POST", url, Kind.LOGIN)
        token = response.headers.get("X-Auth-Token", "")
        if not token:
            raise ParseError(
                f"login answered HTTP {response.status_code} without an X-Auth-Token header",
                command=url,
            )
        client.headers["X-Auth-Token"] = token
        location = response.headers.get("Location", "")
        if location:
            session_url = urljoin(url, location)
            self._session_url = session_url if _same_origin(session_url, self.base_url) else ""
        self.auth_mode = "session"
        return True

    def use_basic(self) -> None:
        """Authenticate every request with HTTP Basic (services without sessions, e.g. sushy)."""
        credentials = self._target.credentials
        self._require_client().auth = httpx.BasicAuth(credentials.username, credentials.password)
        self.auth_mode = "basic"

    def close(self) -> None:
        """Log out (``DELETE`` the session) and close the connections; never raises."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if self._session_url:
                # Bounded by the connect timeout: a hung BMC must not hold up the caller's
                # clean-up for a whole command timeout.
                brief = min(self._target.timeouts.connect, self._target.timeouts.command)
                if not self._poll_expired():
                    with Alarm(brief, self._streams.cut_all):
                        client.delete(self._session_url, timeout=brief)
        except (httpx.HTTPError, httpx.InvalidURL, OSError):
            pass  # the session expires on the BMC by itself; nothing to report from close()
        finally:
            self._session_url = ""
            if self._poll_alarm is not None:
                self._poll_alarm.cancel()
            client.close()

    # -- requests ---------------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        """An absolute URL on this target for a path or a same-origin absolute URL."""
        url = urljoin(self.base_url + "/", path_or_url)
        if not _same_origin(url, self.base_url):
            raise DeviceError(f"refusing to follow a link to another host: {url}")
        return url

    def get(self, path_or_url: str) -> Resource:
        """GET a JSON object, following same-origin redirects."""
        response, url = self._get(path_or_url)
        self._check(response, "GET", url, Kind.READ)
        return self._decode(response, url)

    def get_optional(self, path_or_url: str) -> Resource | None:
        """Like ``get``, but a 404 is ``None`` (for resources only some firmware has)."""
        response, url = self._get(path_or_url)
        if response.status_code == 404:
            return None
        self._check(response, "GET", url, Kind.READ)
        return self._decode(response, url)

    def post_action(self, path_or_url: str, body: Mapping[str, Any]) -> None:
        """POST a state-changing action once; any 2xx is success."""
        url = self.url(path_or_url)
        self._check(self._send("POST", url, Kind.CHANGE, body), "POST", url, Kind.CHANGE)

    def patch(self, path_or_url: str, body: Mapping[str, Any]) -> None:
        """PATCH a resource once; any 2xx is success."""
        url = self.url(path_or_url)
        self._check(self._send("PATCH", url, Kind.CHANGE, body), "PATCH", url, Kind.CHANGE)

    # -- internals --------------------------------------------------------------------------------

    def _require_client(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError("the driver is not open: use it in a `with` block")
        return self._client

    def _get(self, path_or_url: str) -> tuple[Reply, str]:
        url = self.url(path_or_url)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send("GET", url, Kind.READ)
            location = response.headers.get("Location", "")
            if response.status_code not in _REDIRECTS or not location:
                return response, url
            url = self.url(urljoin(url, location))
        raise DeviceError(f"GET {url}: more than {MAX_REDIRECTS} redirects")

    def _send(
        self, method: str, url: str, kind: Kind, body: Mapping[str, Any] | None = None
    ) -> Reply:
        """Send one request and read its answer, at most ``limits.output_bytes`` of it.

        The body is streamed and counted while it arrives (after decompression: a small gzip
        bomb is as big as what it unpacks to), so no more than the limit plus one chunk is
        ever held.
        """
        client = self._require_client()
        limit = self._target.limits.output_bytes
        timeout = self._target.timeouts.command
        if self._poll_expired():
            raise TransientError(f"{method} {url}: not sent: {self._expired_limit(timeout)} passed")
        # httpx's timeouts are per read: a BMC sending one byte a second never trips them. The
        # alarm bounds the whole request (connect, headers, body) by cutting its connection.
        alarm = Alarm(timeout, self._streams.cut_all)
        try:
            request = client.build_request(method, url, json=body)
            response = client.send(request, stream=True)
            try:
                chunks: list[bytes] = []
                received = 0
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    if received > limit:
                        raise ParseError(
                            f"answer exceeds the limit of {limit} bytes (spec.maxOutputSize)",
                            command=f"{method} {url}",
                        )
                    chunks.append(chunk)
            finally:
                response.close()
            if alarm.fired or self._poll_expired():
                # A body without a length ends when the connection does: the cut looks like
                # the end of an answer that is in fact incomplete.
                raise self._deadline_error(method, url, kind, timeout)
        except httpx.HTTPError as exc:
            if alarm.fired or self._poll_expired():
                raise self._deadline_error(method, url, kind, timeout) from exc
            raise self._transport_error(exc, method, url, kind) from exc
        except httpx.InvalidURL as exc:
            raise PermanentError(f"invalid URL {excerpt(url)!r}: {exc}") from exc
        finally:
            alarm.cancel()
        return Reply(
            status_code=response.status_code,
            reason_phrase=response.reason_phrase,
            headers=response.headers,
            url=str(response.url),
            content=b"".join(chunks),
        )

    def _transport_error(
        self, exc: httpx.HTTPError, method: str, url: str, kind: Kind
    ) -> DriverError:
        where = f"{method} {url}"
        tls = _tls_failure(exc)
        if isinstance(tls, CertificatePinMismatch):
            return CertificateError(
                f"{where}: server certificate not trusted: fingerprint {tls.actual}, pinned "
                f"{tls.expected}; update certificateFingerprint if the BMC's certificate "
                "was replaced",
            )
        if isinstance(tls, ssl.SSLCertVerificationError):
            return CertificateError(
                f"{where}: server certificate not trusted ({self._trust_mode()}): "
                f"{tls.verify_message or tls}",
            )
        if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | httpx.PoolTimeout):
            return TransientError(f"{where}: cannot connect: {_describe(exc)}")
        if kind is Kind.CHANGE:
            return AmbiguousOutcome(
                f"{where}: sent, but no answer came ({_describe(exc)}); it may have been carried "
                "out and is not re-sent",
            )
        if isinstance(exc, httpx.TransportError):
            return TransientError(f"{where}: no answer: {_describe(exc)}")
        return PermanentError(f"{where}: {_describe(exc)}")

    def _poll_expired(self) -> bool:
        return self._poll_alarm is not None and self._poll_alarm.fired

    def _expired_limit(self, step: float) -> str:
        """Which deadline passed, for a message: the poll's or the request's own."""
        if self._poll_expired():
            return f"the poll deadline of {self._target.timeouts.poll:g} s (spec.pollTimeout)"
        return f"{step:g} s"

    def _deadline_error(self, method: str, url: str, kind: Kind, step: float) -> DriverError:
        where = f"{method} {url}"
        if kind is Kind.CHANGE:
            return AmbiguousOutcome(
                f"{where}: sent, but no complete answer within {self._expired_limit(step)}; it "
                "may have been carried out and is not re-sent"
            )
        return TransientError(f"{where}: no complete answer within {self._expired_limit(step)}")

    def _trust_mode(self) -> str:
        mode = self.trust.mode if self.trust is not None else "system"
        return {
            "ca-bundle": "checked against the chassis's CA bundle",
            "pinned+ca-bundle": "checked against the chassis's CA bundle and fingerprint",
            "system": "checked against the system trust store; set a CA bundle or "
            "certificateFingerprint for a self-signed BMC certificate",
        }.get(mode, mode)

    def _check(self, response: Reply, method: str, url: str, kind: Kind) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = _error_detail(response)
        where = f"{method} {url}: HTTP {status} {response.reason_phrase}".rstrip()
        message = f"{where}: {detail}" if detail else where
        cls: type[DriverError]
        if status in _REDIRECTS:
            location = response.headers.get("Location", "?")
            message = f"{message} (redirect to {location}); {method} not re-sent"
            cls = DeviceError
        elif status in (401, 403):
            cls = AuthError
            if kind is Kind.LOGIN or self.auth_mode == "basic":
                message = f"{message} (credentials of user {self._target.credentials.username!r})"
        elif status == 404:
            cls = DeviceError
        elif status == 501:
            cls = UnsupportedError
        elif status == 429 or status >= 500:
            cls = DeviceError if kind is Kind.CHANGE else TransientError
        else:
            cls = DeviceError
        raise cls(message)

    def _decode(self, response: Reply, url: str) -> Resource:
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"not JSON: {exc}", command=url) from exc
        if not isinstance(data, dict):
            raise ParseError(f"expected a JSON object, got {type(data).__name__}", command=url)
        return Resource(response.url, data)


class _Streams:
    """The connections of one session, so an alarm can cut them all from its timer thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[_WatchedStream] = set()

    def add(self, stream: _WatchedStream) -> None:
        with self._lock:
            self._open.add(stream)

    def discard(self, stream: _WatchedStream) -> None:
        with self._lock:
            self._open.discard(stream)

    def cut_all(self) -> None:
        with self._lock:
            streams = list(self._open)
        for stream in streams:
            cut(stream.get_extra_info("socket"))


class _WatchedStream(httpcore.NetworkStream):
    """An httpcore stream that stays listed in ``_Streams`` until it is closed."""

    def __init__(self, inner: httpcore.NetworkStream, streams: _Streams) -> None:
        self._inner = inner
        self._streams = streams
        streams.add(self)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._streams.discard(self)
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self._streams.discard(self)
        return _WatchedStream(
            self._inner.start_tls(ssl_context, server_hostname, timeout), self._streams
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _WatchedBackend(httpcore.SyncBackend):
    """httpcore's own socket backend, with every connection listed in ``_Streams``."""

    def __init__(self, streams: _Streams) -> None:
        self._streams = streams

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        inner = super().connect_tcp(host, port, timeout, local_address, socket_options)
        return _WatchedStream(inner, self._streams)


class _WatchedTransport(httpx.HTTPTransport):
    """httpx's transport over ``_WatchedBackend``: httpx has no public seam for httpcore's
    network backend, so the pool its constructor built is replaced by an equal one with it."""

    def __init__(self, context: ssl.SSLContext, streams: _Streams) -> None:
        super().__init__(verify=context)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, network_backend=_WatchedBackend(streams)
        )


def _base_url(target: ChassisTarget) -> str:
    address = target.address.strip().rstrip("/")
    if address.lower().startswith("https://"):
        address = address[len("https://") :]
    host, port = replace(target, address=address).host_port(DEFAULT_PORT)
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}" if port == DEFAULT_PORT else f"https://{host}:{port}"


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port or DEFAULT_PORT) == (
        b.scheme,
        b.hostname,
        b.port or DEFAULT_PORT,
    )


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl`` error somewhere in the cause/context chain of an httpx error, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error_detail(response: Reply) -> str:
    """The device's own words from an error body: Redfish ``error`` or RIS ``Messages``."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        text = response.text.strip()
        return text[:_ERROR_TEXT_LIMIT]
    parts: list[str] = []
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            for info in error.get("@Message.ExtendedInfo") or []:
                if isinstance(info, dict):
                    parts.append(str(info.get("Message") or info.get("MessageId") or ""))
            message = error.get("message")
            if isinstance(message, str) and message not in parts:
                parts.insert(0, message)
        for info in body.get("Messages") or []:  # RIS (iLO 4, Moonshot CM)
            if isinstance(info, dict):
                args = info.get("MessageArgs") or []
                text = str(info.get("MessageID") or info.get("MessageId") or "")
                if args:
                    text += f" ({', '.join(str(a) for a in args)})"
                parts.append(text)
    return "; ".join(p for p in parts if p)[:_ERROR_TEXT_LIMIT]
