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

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from notifications.channels import email, inbox, webhook
from notifications.channels.base import Channel, DeliveryFailed, Outgoing, Sender, Undeliverable
from notifications.channels.email import send_email
from notifications.channels.webhook import (ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookPools, refusal,
                                            send_webhook, sign, verify)

CHANNELS: dict[str, Channel] = {c.name: c for c in (inbox.CHANNEL, email.CHANNEL, webhook.CHANNEL)}
NAMES = tuple(CHANNELS)
WITH_SECRET = tuple(name for name, c in CHANNELS.items() if c.secret)

__all__ = ["CHANNELS", "NAMES", "WITH_SECRET", "Channel", "ChannelName", "DeliveryFailed", "ID_HEADER", "Outgoing",
           "SIGNATURE_HEADER", "Sender", "TIMESTAMP_HEADER", "Undeliverable", "UnknownChannel", "WebhookPools",
           "address_error", "channel", "with_secret", "refusal", "send_email", "send_webhook", "sign", "verify"]


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


def refused(reason_vi: str, log: str) -> PydanticCustomError:
    """A validation error whose Vietnamese reason shared.validation.parse shows with the field."""
    return PydanticCustomError("explained", "{log}", {"reason": reason_vi, "log": log})


def _known(name: str) -> str:
    if name not in CHANNELS:
        raise refused(f"không có kênh «{name}»; các kênh: {', '.join(NAMES)}", f"unknown channel {name!r}")
    return name


# A channel's name in a command: one of the registry's, the OpenAPI schema's enum saying which.
ChannelName = Annotated[str, AfterValidator(_known), Field(json_schema_extra={"enum": list(NAMES)})]


def address_error(name: str, address: str) -> PydanticCustomError | None:
    """The error of ``address`` on channel ``name`` (known), or None when it fits."""
    problem = CHANNELS[name].address_problem(address)
    return refused(problem, f"malformed {name} address {address!r}") if problem else None
