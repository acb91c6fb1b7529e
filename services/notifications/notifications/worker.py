"""Delivery workers: competing consumers of the durable job queue. Start more to go faster.

    nameko run notifications.worker --config services/notifications/config.yml

Each job is one delivery id. The ledger says whether it was already sent: a redelivered
or replayed job of a delivery marked sent sends nothing. A worker killed between sending
and marking sends it once more when the job comes again, with the same delivery id (in
the webhook's header and the email's Message-ID), by which receivers dedupe. A failure
is recorded, retried with growing delays and finally parked with its reason; one that can
never succeed (an address webhooks may not reach, a channel no longer known) is parked
at once. A delivery of a
cancelled subscription is not sent (it is marked cancelled), and webhook secrets are
opened from the read model's sealed copies, never read in clear from anywhere.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from typing import Callable

import kombu
from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, select

import shared.nameko_support  # noqa: F401 - cooperative psycopg2 under eventlet
from notifications import channels
from notifications.channels import DeliveryFailed, Outgoing, Undeliverable
from notifications.ledger import DELIVERY_QUEUE, Ledger
from notifications.projections import SubscriptionsProjection, subscriptions
from notifications.rendering import Renderer
from notifications.sealing import SecretBox, box_from_config, signing_key
from shared.follower import log_positions
from shared.observability import Observability
from shared.batching import GroupCall
from shared.catalog import load_catalog
from shared.persistence import default_database_url, sqlalchemy_url
from shared.recorders import postgres_pool
from shared.reliable_events import attempts_in, reliable_consume, retry_delays
from shared.wire import WireEvent

log = logging.getLogger(__name__)


class SubscriptionGone(Exception):
    """The delivery's subscription was cancelled: nothing is sent."""


class Subscriptions:
    """What the workers need of each subscription: is it active, and the signing key of its
    channel with a secret (its webhook), opened from the read model's sealed secret.

    Read whole (a fan-out asks for thousands at once) and read again when the read model
    has moved on: checked at most every ``recheck_s`` on use, and on a subscription not yet
    seen. So a cancelled subscription or a rotated secret is seen within ``recheck_s`` (the
    cancel also marks the subscription's waiting deliveries in the ledger at once). Sealed
    secrets already opened are not opened again."""

    def __init__(self, engine, box: SecretBox, recheck_s: float = 1.0):
        self.engine = engine
        self.box = box
        self.recheck_s = recheck_s
        self._state: dict[str, tuple[bool, str | None]] = {}  # id -> (active, sealed webhook secret)
        self._opened: dict[str, bytes] = {}  # sealed secret -> signing key
        self._position: int | None = None
        self._checked = 0.0
        self._loading = threading.Lock()

    def _read_model_position(self, conn) -> int | None:
        return conn.execute(select(log_positions.c.position)
                            .where(log_positions.c.follower == SubscriptionsProjection.name)).scalar()

    def _refresh(self, force: bool) -> None:
        if not force and time.monotonic() - self._checked < self.recheck_s:
            return
        with self._loading:  # the deliveries that asked together read once
            if not force and time.monotonic() - self._checked < self.recheck_s:
                return
            with self.engine.connect() as conn:
                position = self._read_model_position(conn)
                if position != self._position or not self._state:
                    rows = conn.execute(select(subscriptions.c.id, subscriptions.c.channels,
                                               subscriptions.c.active)).all()
                    state = {}
                    for sub_id, stored, active in rows:
                        signed = channels.with_secret(json.loads(stored)) or {}
                        state[sub_id] = (bool(active), signed.get("secret_sealed"))
                    self._state, self._position = state, position
                    in_use = {sealed for _, sealed in state.values() if sealed}
                    self._opened = {k: v for k, v in self._opened.items() if k in in_use}  # forget cancelled ones
            self._checked = time.monotonic()

    def _get(self, subscription_id: str) -> tuple[bool, str | None]:
        self._refresh(force=False)
        if subscription_id not in self._state:
            self._checked = 0.0
            self._refresh(force=True)
        if subscription_id not in self._state:
            raise DeliveryFailed(f"subscription {subscription_id} is not in the read model yet")
        return self._state[subscription_id]

    def check_active(self, subscription_id: str) -> None:
        if not self._get(subscription_id)[0]:
            raise SubscriptionGone(subscription_id)

    def webhook_key(self, subscription_id: str) -> bytes:
        active, sealed = self._get(subscription_id)
        if not active:
            raise SubscriptionGone(subscription_id)
        if not sealed:  # a subscription from before secrets were sealed, not yet sealed by the service
            raise DeliveryFailed(f"subscription {subscription_id} has no sealed secret yet")
        if sealed not in self._opened:
            self._opened[sealed] = signing_key(self.box.open(sealed))
        return self._opened[sealed]


class Deliverer:
    def __init__(self, config: dict):
        url = sqlalchemy_url(config.get("DATABASE_URL") or default_database_url("notifications"))
        if "postgresql" in url:
            # Ledger marks need not wait for the disk (see ledger.relaxed_commit): set once per
            # connection rather than per transaction, which saves two statements per delivery.
            engine = create_engine(url, connect_args={"options": "-c synchronous_commit=off"}, **postgres_pool())
        else:
            engine = create_engine(url)
        self.ledger = Ledger(engine, relaxed_connections="postgresql" in url)
        self.renderer = Renderer(load_catalog(config.get("CATALOG_DIR") or None))
        self.senders = {name: kind.connect(config) for name, kind in channels.CHANNELS.items()}
        self.render = functools.lru_cache(maxsize=512)(self._render)
        self.event = functools.lru_cache(maxsize=512)(self.ledger.event)  # events are immutable
        self.subscriptions = Subscriptions(engine, box_from_config(config))
        # The deliveries running at once share their ledger statements: one read and one
        # mark for a group, instead of two statements per delivery.
        self.unsent = GroupCall(self._unsent_group, name="ledger-reads")
        self.mark_sent = GroupCall(self._mark_group, name="ledger-marks")

    def _unsent_group(self, delivery_ids: list[str]) -> list[dict | None]:
        rows = self.ledger.unsent(delivery_ids)
        # The same job twice in one group (a replay beside the original): one of them sends.
        return [rows.pop(delivery_id, None) for delivery_id in delivery_ids]

    def _mark_group(self, items: list[tuple[str, dict | None]]) -> list[bool]:
        moved = self.ledger.mark_sent([delivery_id for delivery_id, _ in items],
                                      [inbox_row for _, inbox_row in items if inbox_row])
        first = []
        for delivery_id, _ in items:  # a second copy in the group did not move it
            first.append(delivery_id in moved)
            moved.discard(delivery_id)
        return first

    def _render(self, event_key: str, locale: str):
        wire = self.event(event_key)
        if wire.get("type") == "digest":  # one message listing the day's notifications
            items = [self.render(item, locale) for item in wire["items"]]
            return self.renderer.render_digest(wire["day"], items, locale)
        event = WireEvent.model_validate(wire)
        exemplar_id = str(event.aggregate_id) if event.type.startswith("exemplar.") else event.payload.get("exemplar_id")
        return self.renderer.render(event, locale, exemplar_name=self.ledger.exemplar_name(exemplar_id))

    def deliver(self, delivery_id: str, last_try: bool = False) -> str:
        """Send one delivery unless it was sent; ``last_try``: a failure now parks it."""
        row = self.unsent(delivery_id)
        if row is None:
            return "already-sent-or-unknown"
        inbox_row = None
        try:
            self.subscriptions.check_active(row["subscription_id"])
            kind = channels.channel(row["channel"])  # one no longer known: Undeliverable, parked
            key = self.subscriptions.webhook_key(row["subscription_id"]) if kind.secret else None
            inbox_row = self.senders[kind.name](Outgoing(
                delivery_id=delivery_id, recipient_id=row["recipient_id"], address=row["address"],
                message=self.render(row["event_key"], row["locale"]), event=self.event(row["event_key"]), key=key))
            first = self.mark_sent((delivery_id, inbox_row))
        except SubscriptionGone:
            self.ledger.mark_cancelled([delivery_id])
            return "cancelled"
        except Undeliverable as exc:  # retrying cannot help: parked now, the job done
            log.warning("delivery %s parked: %s", delivery_id, exc)
            self.ledger.mark_failed(delivery_id, f"{type(exc).__name__}: {exc}", parked=True)
            return "parked"
        except Exception as exc:  # any failure — channel, template, database — is the ledger's to show
            self.ledger.mark_failed(delivery_id, f"{type(exc).__name__}: {exc}", parked=last_try)
            raise
        return "sent" if first else "already-sent"


class DeliveryProvider(DependencyProvider):
    """``deliver(delivery_id)`` for the job at hand, knowing from the job's attempt header
    whether a failure now is its last: the ledger parks it exactly when the queue does."""

    def setup(self) -> None:
        self.deliverer = Deliverer(self.container.config)
        self.retries = len(retry_delays(self.container.config))

    def get_dependency(self, worker_ctx) -> Callable[[str], str]:
        return functools.partial(self.deliverer.deliver, last_try=attempts_in(worker_ctx.data) >= self.retries)


class NotificationsWorker:
    name = "notifications_worker"
    delivery = DeliveryProvider()
    # its own address: the worker shares the service's config file (WORKER_METRICS_ADDRESS)
    observability = Observability("WORKER_METRICS_ADDRESS")

    @reliable_consume(queue=kombu.Queue(DELIVERY_QUEUE, durable=True))
    def deliver(self, job):
        self.delivery(job["delivery_id"])
