"""What every delivery channel is: a name, an address check, a sender. No channel here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

if TYPE_CHECKING:
    from notifications.rendering import RenderedMessage


class DeliveryFailed(Exception):
    """The channel refused or could not be reached; the job is retried, then parked."""


class Undeliverable(DeliveryFailed):
    """It will never succeed as it stands (an address webhooks may not reach, a channel no
    longer known): parked at once."""


@dataclass(frozen=True)
class Outgoing:
    """One delivery, rendered, as a sender gets it."""

    delivery_id: str
    recipient_id: str
    address: str
    message: RenderedMessage
    event: dict  # the wire event, or a digest's day and item keys
    key: bytes | None = None  # the subscription's signing key, for a channel with a secret


# A worker's way of delivering on one channel; it answers a row of the in-app inbox to record
# with the delivery's mark, or None.
Sender = Callable[[Outgoing], "dict | None"]


@dataclass(frozen=True)
class Channel:
    name: str  # stored in subscriptions and ledger rows: never renamed
    label_vi: str
    # The address's problem for an officer, in Vietnamese ("" / None: fine).
    address_problem: Callable[[str], str | None]
    # The worker's sender, built once from its configuration (config.yml).
    connect: Callable[[Mapping], Sender]
    # Signed with a secret of its subscription, kept sealed (notifications.sealing).
    secret: bool = False
    # Goes to an address on the network: subscribing checks it against the outbound policy.
    outbound: bool = False
    # Waits for the recipient's quiet hours to end (the inbox does not: reading it is a choice).
    quiet_hours: bool = True
