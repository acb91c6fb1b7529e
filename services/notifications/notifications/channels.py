"""Sending one rendered message on email or webhook. The inbox is a ledger row (see ledger)."""

from __future__ import annotations

import email.message
import hashlib
import hmac
import json
import smtplib

import urllib3
import urllib3.connection

try:  # the real poll(2), also under eventlet's monkey patching
    import eventlet.patcher

    _select = eventlet.patcher.original("select")
except ImportError:  # pragma: no cover - eventlet always comes with nameko
    import select as _select

SIGNATURE_HEADER = "X-Exemplars-Signature"  # "sha256=<hex HMAC of the body with the subscription's secret>"
DELIVERY_HEADER = "X-Exemplars-Delivery"  # the delivery id: receivers dedupe on it


class DeliveryFailed(Exception):
    """The channel refused or could not be reached; the job is retried, then parked."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature or "")


def send_email(*, host: str, port: int, sender: str, to: str, subject: str, body: str, delivery_id: str) -> None:
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = f"<{delivery_id}@exemplars>"  # the same id on a re-send: mail clients dedupe
    message.set_content(body)  # UTF-8: diacritics survive
    try:
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP {host}:{port} refused {to}: {exc}") from exc


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


class _HTTPConnection(_ReadinessByPoll, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_ReadinessByPoll, urllib3.connection.HTTPSConnection):
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
    cache of pools per URL would have kept one, with its sockets, for every URL ever seen."""

    def __init__(self, concurrency: int, receivers: int = 50):
        self._manager = urllib3.PoolManager(num_pools=receivers, maxsize=concurrency, retries=False,
                                            timeout=urllib3.Timeout(connect=5, read=10))
        self._manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self._parsed: dict[str, tuple[str, str, int | None, str]] = {}  # url -> scheme, host, port, path

    def post(self, url: str, body: bytes, headers: dict) -> int:
        if url not in self._parsed:
            if len(self._parsed) > 10_000:  # receivers come and go: do not grow for ever
                self._parsed.clear()
            parts = urllib3.util.parse_url(url)
            self._parsed[url] = (parts.scheme or "http", parts.host, parts.port, parts.request_uri)
        scheme, host, port, path = self._parsed[url]
        pool = self._manager.connection_from_host(host, port, scheme)
        response = pool.urlopen("POST", path, body=body, headers=headers, retries=False, redirect=False,
                                assert_same_host=False)
        return response.status


def send_webhook(pools: WebhookPools, *, url: str, secret: str, payload: dict, delivery_id: str) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(secret, body),
               DELIVERY_HEADER: delivery_id}
    try:
        status = pools.post(url, body, headers)
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryFailed(f"webhook {url} unreachable: {exc}") from exc
    if status >= 300:
        raise DeliveryFailed(f"webhook {url} answered {status}")
