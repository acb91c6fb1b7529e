"""Sending one rendered message on email or webhook. The inbox is a ledger row (see ledger)."""

from __future__ import annotations

import email.message
import hashlib
import hmac
import json
import smtplib

import urllib3

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


def webhook_pool(concurrency: int) -> urllib3.PoolManager:
    """Kept-alive connections per receiver, as many as deliveries run at once; no retries of
    its own (a failed delivery goes back to the queue's growing delays) and no proxy lookups."""
    return urllib3.PoolManager(num_pools=50, maxsize=concurrency, retries=False,
                               timeout=urllib3.Timeout(connect=5, read=10))


def send_webhook(pool: urllib3.PoolManager, *, url: str, secret: str, payload: dict, delivery_id: str) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(secret, body),
               DELIVERY_HEADER: delivery_id}
    try:
        response = pool.request("POST", url, body=body, headers=headers)
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryFailed(f"webhook {url} unreachable: {exc}") from exc
    if response.status >= 300:
        raise DeliveryFailed(f"webhook {url} answered {response.status}")
