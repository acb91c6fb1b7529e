"""Subscriptions as event-sourced aggregates, and which events reach whom. No I/O here.

A subscription says who (a person or a unit, with a locale), what (filters on
department, field, movement, event type or one exemplar; an empty filter means any),
how (channels, named as notifications.channels names them) and when (muted, daily digest, quiet hours).
Event class names and this module's path are stored topics: frozen.

A webhook channel carries its secret sealed (``secret_sealed``, see notifications.sealing):
the log never holds it in clear. Subscriptions recorded before that carry ``secret`` in
clear in their Subscribed event; events are never edited, so such a subscription gets a
SecretSealed event (the same secret, sealed) and, better, a SecretRotated one (a new
secret: the one in the old event is then worthless).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

from eventsourcing.domain import Aggregate

FILTER_KEYS = ("departments", "fields", "movements", "event_types", "exemplar_ids")


class Subscription(Aggregate):
    class Event(Aggregate.Event):
        wire_type: ClassVar[str] = ""

    class Subscribed(Aggregate.Created, Event):
        wire_type = "subscription.created"
        recipient_id: str
        recipient_kind: str
        name: str
        locale: str
        filters: dict
        channels: list
        preferences: dict

    class PreferencesChanged(Event):
        wire_type = "subscription.preferences_changed"
        preferences: dict

        def apply(self, subscription: Subscription) -> None:
            subscription.preferences = self.preferences

    class Cancelled(Event):
        wire_type = "subscription.cancelled"
        reason: str

        def apply(self, subscription: Subscription) -> None:
            subscription.active = False

    class SecretSealed(Event):
        """The same secret, sealed again: a legacy clear one, or under the service's new key."""
        wire_type = "subscription.secret_sealed"
        channel: str
        secret_sealed: str

        def apply(self, subscription: Subscription) -> None:
            subscription.set_sealed(self.channel, self.secret_sealed)

    class SecretRotated(Event):
        """A new secret: receivers verify with it from now on."""
        wire_type = "subscription.secret_rotated"
        channel: str
        secret_sealed: str

        def apply(self, subscription: Subscription) -> None:
            subscription.set_sealed(self.channel, self.secret_sealed)

    def __init__(self, recipient_id, recipient_kind, name, locale, filters, channels, preferences):
        self.recipient_id = recipient_id
        self.recipient_kind = recipient_kind
        self.name = name
        self.locale = locale
        self.filters = filters
        self.channels = channels
        self.preferences = preferences
        self.active = True

    @classmethod
    def subscribe(cls, subscription_id: uuid.UUID | None = None, **facts) -> Subscription:
        """``subscription_id``: given when a retry must find the same one (shared.requests)."""
        return cls._create(cls.Subscribed, id=subscription_id or uuid.uuid4(), **facts)

    def change_preferences(self, preferences: dict) -> None:
        self.trigger_event(self.PreferencesChanged, preferences=preferences)

    def cancel(self, reason: str) -> None:
        if self.active:
            self.trigger_event(self.Cancelled, reason=reason)

    def set_sealed(self, channel: str, sealed: str) -> None:
        self.channels = [{k: v for k, v in c.items() if k != "secret"} | {"secret_sealed": sealed}
                         if c["channel"] == channel else c for c in self.channels]

    def seal_secret(self, channel: str, sealed: str) -> None:
        self.trigger_event(self.SecretSealed, channel=channel, secret_sealed=sealed)

    def rotate_secret(self, channel: str, sealed: str) -> None:
        self.trigger_event(self.SecretRotated, channel=channel, secret_sealed=sealed)


def without_secrets(payload: dict) -> dict:
    """An event's payload as it may leave the service (the wire, histories): no webhook
    secret, sealed or (in events from before sealing) clear."""
    cleaned = {k: v for k, v in payload.items() if k not in ("secret", "secret_sealed")}
    if isinstance(payload.get("channels"), list):
        cleaned["channels"] = [{k: v for k, v in c.items() if k not in ("secret", "secret_sealed")}
                               for c in payload["channels"]]
    return cleaned


def matches(filters: dict, event_type: str, exemplar_id: str | None, facts: dict | None) -> bool:
    """Does an event (with what is known of its exemplar) pass a subscription's filters?"""
    if filters.get("event_types") and event_type not in filters["event_types"]:
        return False
    if filters.get("exemplar_ids") and exemplar_id not in filters["exemplar_ids"]:
        return False
    for key, fact in (("departments", "department"), ("fields", "field"), ("movements", "movement")):
        if filters.get(key) and (facts is None or facts.get(fact) not in filters[key]):
            return False
    return True


def in_quiet_hours(quiet: dict | None, now: dt.time) -> bool:
    """Quiet hours may cross midnight (22:00-06:00)."""
    if not quiet:
        return False
    start, end = dt.time.fromisoformat(quiet["start"]), dt.time.fromisoformat(quiet["end"])
    return start <= now < end if start < end else now >= start or now < end


def quiet_hours_end(quiet: dict, now: dt.datetime) -> dt.datetime:
    """The first moment after ``now`` when the quiet hours are over."""
    end = dt.time.fromisoformat(quiet["end"])
    candidate = now.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return candidate if candidate > now else candidate + dt.timedelta(days=1)
