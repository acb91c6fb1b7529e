"""Webhooks: a signed JSON POST to the subscriber's URL.

Webhooks follow Standard Webhooks (standardwebhooks.com): ``webhook-id`` is the delivery
id (the same on a re-send: receivers dedupe on it), ``webhook-timestamp`` the Unix time of
this attempt, ``webhook-signature`` ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``
keyed with the subscription's secret, so a receiver can refuse a forged, altered or
replayed request (``verify``). A webhook reaches public addresses only (outbound), reads at
most RESPONSE_MAX bytes of the answer and takes at most TOTAL_S seconds in all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import json
import socket
import time
from typing import Mapping

import urllib3
import urllib3.connection
from urllib3.util.connection import create_connection

from notifications.channels.base import Channel, DeliveryFailed, Outgoing, Sender, Undeliverable
from notifications.outbound import AddressPolicy, RefusedAddress
from notifications.sealing import signing_key
from shared.contracts.notifications import ADDRESS_PROBLEMS

try:  # the real poll(2), also under eventlet's monkey patching
    import eventlet.patcher

    _select = eventlet.patcher.original("select")
except ImportError:  # pragma: no cover - eventlet always comes with nameko
    import select as _select

ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"
TOLERANCE_S = 5 * 60  # a receiver refuses a timestamp further than this from its clock
RESPONSE_MAX = 64 * 1024  # bytes of a receiver's answer read at most; nothing in it is used
TOTAL_S = 15.0  # one webhook call, connecting to the last byte read
CONNECT_S = 5.0


def sign(secret: str | bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``secret`` is a ``whsec_`` secret (or a legacy plain
    one), or the HMAC key itself."""
    key = secret if isinstance(secret, bytes) else signing_key(secret)
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def refusal(secret: str | bytes, headers: Mapping[str, str], body: bytes, now: float | None = None,
            tolerance: float = TOLERANCE_S) -> str | None:
    """What a receiver holding ``secret`` finds wrong with a request (None: it is ours,
    unaltered and fresh). ``headers``: any mapping, names in any case."""
    found = {name.lower(): value for name, value in headers.items()}
    message_id, timestamp, signatures = (found.get(h) for h in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
    if not (message_id and timestamp and signatures):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        sent_at = int(timestamp)
    except ValueError:
        return "webhook-timestamp is not a number of seconds"
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        return "webhook-timestamp too far from now (a replay?)"
    expected = sign(secret, message_id, sent_at, body)
    if any(hmac.compare_digest(expected, candidate) for candidate in signatures.split()):
        return None
    return "no signature matches"


def verify(secret: str | bytes, headers: Mapping[str, str], body: bytes, now: float | None = None,
           tolerance: float = TOLERANCE_S) -> bool:
    return refusal(secret, headers, body, now, tolerance) is None


class _ReadinessByPoll:
    """urllib3 checks a kept-alive connection before each reuse with a zero-timeout select.
    Under eventlet that select is the green one, which goes through the hub: a full turn
    of every other green thread, for a check that cannot block (5% of a worker's CPU in
    the fan-out bench). The real poll(2) answers the same question without yielding."""

    @property
    def is_connected(self) -> bool:
        if self.sock is None:
            return False
        poller = _select.poll()
        poller.register(self.sock.fileno(), _select.POLLIN)
        return not poller.poll(0)  # readable while idle: closed by the peer, or garbage


class _DeadlineReader(io.RawIOBase):
    """A response's socket reads, each given only what is left of the call's time."""

    def __init__(self, raw, sock, deadline: float):
        self._raw, self._sock, self._deadline = raw, sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout(f"the webhook call took its whole {TOTAL_S:.0f} s")
        self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _WholeDeadlineResponse(http.client.HTTPResponse):
    """Per-read timeouts let a receiver that trickles its headers or body, a byte before each
    timeout, hold a delivery for ever. urllib3 sets the socket's timeout, when the answer
    begins, to what is left of the call's total (Timeout(total=...)): from then on every
    read gets only what is left of that, so the whole call ends on time."""

    def __init__(self, sock, *args, **kwargs):
        super().__init__(sock, *args, **kwargs)
        left = sock.gettimeout()
        if left is not None:  # nothing read yet: the buffer can give up its raw stream
            self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock, time.monotonic() + left))


class _CheckedConnect:
    """Connects only to addresses the policy allows, resolved here and connected to as
    checked: the name is not resolved a second time between the check and the connect."""

    addresses: AddressPolicy = AddressPolicy()
    response_class = _WholeDeadlineResponse

    def _new_conn(self) -> socket.socket:
        try:
            targets = self.addresses.resolve(self._dns_host, self.port)
        except socket.gaierror as e:
            raise urllib3.exceptions.NameResolutionError(self.host, self, e) from e
        error: Exception | None = None
        for target in targets:
            try:
                return create_connection(target, self.timeout, source_address=self.source_address,
                                         socket_options=self.socket_options)
            except socket.timeout as e:
                error = urllib3.exceptions.ConnectTimeoutError(self, f"Connection to {self.host} ({target[0]}) "
                                                                     f"timed out. (connect timeout={self.timeout})")
                error.__cause__ = e
            except OSError as e:
                error = urllib3.exceptions.NewConnectionError(self, f"Failed to establish a new connection to "
                                                                    f"{target[0]}: {e}")
                error.__cause__ = e
        raise error or urllib3.exceptions.NewConnectionError(self, f"{self.host} resolved to no address")


class _HTTPConnection(_CheckedConnect, _ReadinessByPoll, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_CheckedConnect, _ReadinessByPoll, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class WebhookPools:
    """Kept-alive connections per receiver, as many as deliveries run at once; no retries of
    their own (a failed delivery goes back to the queue's growing delays), no proxy lookups.
    Each URL is parsed once, not for every delivery. The pools themselves stay the
    manager's, which keeps the ``receivers`` most used (and their idle connections); a
    cache of pools per URL would have kept one, with its sockets, for every URL ever seen.

    Every new connection is checked against ``addresses`` (outbound); a kept-alive one went
    to an address checked when it was made."""

    def __init__(self, concurrency: int, receivers: int = 50, addresses: AddressPolicy | None = None,
                 total_s: float = TOTAL_S):
        self.timeout = urllib3.Timeout(total=total_s, connect=min(CONNECT_S, total_s))
        self._manager = urllib3.PoolManager(num_pools=receivers, maxsize=concurrency, retries=False,
                                            timeout=self.timeout)
        policy = {"addresses": addresses or AddressPolicy()}
        self._manager.pool_classes_by_scheme = {
            "http": type("HTTPPool", (_HTTPPool,), {"ConnectionCls": type("HTTPConnection", (_HTTPConnection,), policy)}),
            "https": type("HTTPSPool", (_HTTPSPool,),
                          {"ConnectionCls": type("HTTPSConnection", (_HTTPSConnection,), policy)})}
        self._parsed: dict[str, tuple[str, str, int | None, str]] = {}  # url -> scheme, host, port, path

    def post(self, url: str, body: bytes, headers: dict) -> int:
        if url not in self._parsed:
            if len(self._parsed) > 10_000:  # receivers come and go: do not grow for ever
                self._parsed.clear()
            parts = urllib3.util.parse_url(url)
            self._parsed[url] = (parts.scheme or "http", parts.host, parts.port, parts.request_uri)
        scheme, host, port, path = self._parsed[url]
        pool = self._manager.connection_from_host(host, port, scheme)
        # Timeout(total=...) bounds connecting and waiting for the answer; the answer's reads
        # are bounded by what is left of it (_WholeDeadlineResponse).
        response = pool.urlopen("POST", path, body=body, headers=headers, retries=False, redirect=False,
                                assert_same_host=False, preload_content=False, timeout=self.timeout)
        try:
            if len(response.read(RESPONSE_MAX + 1, decode_content=False)) > RESPONSE_MAX:
                response.close()  # more than we read: the connection cannot carry the next request
        except BaseException:
            response.close()
            raise
        finally:
            response.release_conn()
        return response.status


def send_webhook(pools: WebhookPools, *, url: str, secret: str | bytes, payload: dict, delivery_id: str,
                 timestamp: int | None = None) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    sent_at = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json; charset=utf-8", ID_HEADER: delivery_id,
               TIMESTAMP_HEADER: str(sent_at), SIGNATURE_HEADER: sign(secret, delivery_id, sent_at, body)}
    try:
        status = pools.post(url, body, headers)
    except RefusedAddress as exc:
        raise Undeliverable(str(exc)) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryFailed(f"webhook {url} unreachable: {exc}") from exc
    if status >= 300:
        raise DeliveryFailed(f"webhook {url} answered {status}")




class WebhookSender:
    """The worker's webhook sender: its connection pools (``pools``) live as long as it does."""

    def __init__(self, config: Mapping):
        self.pools = WebhookPools(concurrency=int(config.get("max_workers") or 10),
                                  addresses=AddressPolicy.from_config(config))

    def __call__(self, outgoing: Outgoing) -> None:
        message = outgoing.message
        send_webhook(self.pools, url=outgoing.address, secret=outgoing.key, delivery_id=outgoing.delivery_id,
                     payload={"delivery_id": outgoing.delivery_id, "recipient_id": outgoing.recipient_id,
                              "subject": message.subject, "body": message.body, "locale": message.locale,
                              "event": outgoing.event})  # a digest: its item keys


def connect(config: Mapping) -> Sender:
    return WebhookSender(config)


CHANNEL = Channel("webhook", "webhook", ADDRESS_PROBLEMS["webhook"], connect, secret=True, outbound=True)
