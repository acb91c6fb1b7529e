"""Build the notifications runtime from configuration."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import kombu
from eventsourcing.persistence import Notification

from notifications.application import NotificationsApplication
from notifications.domainmodel import without_secrets
from notifications.ledger import DELIVERY_QUEUE
from notifications.outbound import AddressPolicy
from notifications.sealing import box_from_config
from shared.catalog import load_catalog
from shared.confirms import ConfirmingPublisher
from shared.contracts.wire_events import fanned_out
from shared.persistence import default_database_url, eventsourcing_env
from shared.relay import Relay
from shared.sealer import Sealer
from shared.signing import signer_from_config
from shared.wire import WireEvent, describe_event, wire_event

SERVICE = "notifications"
log = logging.getLogger(__name__)


def known_event_types() -> set[str]:
    """Every wire event type a subscription may name (the wire registry's)."""
    return set(fanned_out())


class JobPublisher:
    """Puts delivery jobs on the durable work queue, persistent and confirmed.

    All of a fan-out's jobs go out on one channel and are confirmed together
    (shared.confirms): 10,000 jobs are not 10,000 round trips to the broker.
    """

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.queue = kombu.Queue(DELIVERY_QUEUE, durable=True)
        self._publisher = ConfirmingPublisher(amqp_uri, declare=[self.queue])
        self._publishing = threading.Lock()  # one batch at a time on the publisher's channel

    def publish(self, delivery_ids: list[str]) -> None:
        """Returns once the broker holds every job; raises otherwise (the event is then
        retried, and its still-queued deliveries are published again)."""
        if not delivery_ids:
            return
        with self._publishing:
            self._publisher.publish_all(
                {"body": {"delivery_id": delivery_id}, "routing_key": DELIVERY_QUEUE, "delivery_mode": 2,
                 "serializer": "json"} for delivery_id in delivery_ids)

    def depth(self) -> int:
        with kombu.Connection(self.amqp_uri) as conn:
            return self.queue(conn.channel()).queue_declare(passive=True).message_count


class SubscriptionRelay(Relay):
    """Subscription events go out without their webhook secrets, not even sealed: no one
    outside this service has any use for them."""

    def to_wire(self, notification: Notification) -> WireEvent:
        described = describe_event(self.app.mapper.to_domain_event(notification))
        described["payload"] = without_secrets(described["payload"])
        return wire_event(described, self.source, self.instance, notification.id).signed(self.signer)


@dataclass
class NotificationsRuntime:
    app: NotificationsApplication
    relay: Relay
    sealer: Sealer
    jobs: JobPublisher
    instance: str
    digest_hour: int = 7
    legacy_sealed: bool = False

    def background_catch_up(self) -> None:
        self.app.subscriptions.catch_up()
        if not self.legacy_sealed:  # once a start: secrets still in clear in old events get sealed
            self.app.reseal_secrets(legacy_only=True)
            self.legacy_sealed = True
        self.sealer.seal_pending()

    def receive(self, event: WireEvent) -> int:
        started = time.perf_counter()
        queued = 0
        for delivery_ids in self.app.receive(event):  # each chunk committed before its jobs go out
            self.jobs.publish(delivery_ids)
            if not queued and delivery_ids:
                log.info("%s %s/%d: first %d jobs queued after %.0f ms", event.type, event.instance,
                         event.notification_id, len(delivery_ids), (time.perf_counter() - started) * 1000)
            queued += len(delivery_ids)
        if queued:
            log.info("%s %s/%d: %d deliveries recorded and queued in %.0f ms", event.type, event.instance,
                     event.notification_id, queued, (time.perf_counter() - started) * 1000)
        return queued


def build(config: dict) -> NotificationsRuntime:
    catalog = load_catalog(config.get("CATALOG_DIR") or None)
    database_url = config.get("DATABASE_URL") or default_database_url(SERVICE)
    instance = config.get("INSTANCE_ID") or SERVICE
    app = NotificationsApplication(catalog, known_event_types(), env=eventsourcing_env(database_url),
                                   secret_box=box_from_config(config), addresses=AddressPolicy.from_config(config))

    signer = signer_from_config(config, instance, service=SERVICE)  # signs checkpoints (and wire events)
    relay = SubscriptionRelay(app, SERVICE, instance, config["AMQP_URI"], signer)
    sealer = Sealer(app, signer)
    return NotificationsRuntime(app, relay, sealer, JobPublisher(config["AMQP_URI"]), instance,
                                int(config.get("DIGEST_HOUR") or 7))
