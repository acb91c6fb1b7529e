"""The delivery channels, one registry: each channel's name, address check and sender.

Subscribing (notifications.application) accepts only the channels named here, checking
each address with its channel's check; the OpenAPI document lists the names from the same
model; the fan-out holds deliveries in quiet hours by the channel's word; the worker
(notifications.worker) delivers through the channel's sender. A channel met in a stored
delivery but no longer here is an error, parked with its reason: never sent some other way.

A new channel is a module beside these (name, address check, sender, what it needs) and
one entry in CHANNELS; its settings go in config.yml.
"""

from __future__ import annotations

from notifications.channels import email, inbox, webhook
from notifications.channels.base import Channel, DeliveryFailed, Outgoing, Sender, Undeliverable
from notifications.channels.email import send_email
from notifications.channels.webhook import (ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookPools, refusal,
                                            send_webhook, sign, verify)

CHANNELS: dict[str, Channel] = {c.name: c for c in (inbox.CHANNEL, email.CHANNEL, webhook.CHANNEL)}
NAMES = tuple(CHANNELS)
WITH_SECRET = tuple(name for name, c in CHANNELS.items() if c.secret)

__all__ = ["CHANNELS", "NAMES", "WITH_SECRET", "Channel", "DeliveryFailed", "ID_HEADER", "Outgoing",
           "SIGNATURE_HEADER", "Sender", "TIMESTAMP_HEADER", "Undeliverable", "UnknownChannel", "WebhookPools",
           "channel", "with_secret", "refusal", "send_email", "send_webhook", "sign", "verify"]


class UnknownChannel(Undeliverable):
    """A channel name not in the registry (a stored delivery of a channel since removed)."""


def channel(name: str) -> Channel:
    try:
        return CHANNELS[name]
    except KeyError:
        raise UnknownChannel(f"unknown delivery channel {name!r} (known: {', '.join(NAMES)})") from None


def with_secret(stored: list[dict]) -> dict | None:
    """A subscription's channel signed with a secret (its webhook), or None."""
    return next((c for c in stored if c["channel"] in WITH_SECRET), None)


