"""The publishing relay: stored events are the outbox.

A command commits its events to the service's log; the relay reads the log after the
commit, in log order, turns each event into a wire event signed with the instance's
key and publishes it to RabbitMQ as a persistent message with publisher confirms (a batch
at a time, confirmed as a whole: shared.confirms). Only then does it move its position. A broker outage delays publishing; it never loses an event.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Iterable

import kombu
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from sqlalchemy import Connection, Engine, text

from shared.confirms import ConfirmingPublisher
from shared.follower import LogFollower
from shared.requests import request_id_of
from shared.signing import Signer
from shared.wire import WireEvent, describe_event, exchange_name, routing_key, wire_event

log = logging.getLogger(__name__)


def events_exchange(source_service: str) -> kombu.Exchange:
    # Same declaration as nameko's EventDispatcher, so nameko @event_handler can bind to it.
    return kombu.Exchange(exchange_name(source_service), type="topic", durable=True, auto_delete=False)


class Leadership:
    """One active relay per instance, however many copies of it run.

    On PostgreSQL the leader holds a session advisory lock on a connection of its own; a
    copy that dies loses its connection and the lock, and another copy takes over. A
    SQLite file serves one process, which is always the leader.
    """

    def __init__(self, engine: Engine, name: str):
        self.engine = engine
        self.key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._connection: Connection | None = None

    def hold(self) -> bool:
        if self.engine.dialect.name != "postgresql" or self._connection is not None:
            return True
        connection = self.engine.connect()
        won = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
        connection.commit()  # the lock belongs to the session, not to this transaction
        if won:
            self._connection = connection
        else:
            connection.close()
        return bool(won)

    def release(self) -> None:
        """Unlock explicitly: closing a pooled connection keeps its session, and the lock, alive."""
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self._connection.commit()
                self._connection.close()
            except Exception:  # noqa: BLE001 - the database is away: drop the session, and the lock with it
                self._connection.invalidate()
            self._connection = None


class Relay:
    def __init__(
        self,
        app: Application,
        source: str,
        instance: str,
        amqp_uri: str,
        signer: Signer,
        batch_size: int = 500,
        queues: Iterable[kombu.Queue] = (),
    ):
        """``queues``: declared (with their bindings) before anything is published, so an
        event addressed to a consumer that has not started yet waits for it (shared.council_queues)."""
        if signer.instance != instance:
            raise ValueError(f"the relay of {instance!r} was given the key of {signer.instance!r}")
        self.follower = LogFollower(app, f"relay:{instance}", batch_size)
        self.leadership = Leadership(self.follower.engine, f"relay:{instance}")
        self.app = app
        self.source = source
        self.instance = instance
        self.exchange = events_exchange(source)
        self.signer = signer
        self.publisher = ConfirmingPublisher(amqp_uri, declare=[self.exchange, *queues])
        self._position: int | None = None  # cached; the database row stays the truth (compare-and-set)
        self.published = 0
        self._decoded = None  # (notification id, its domain event)

    def close(self) -> None:
        self.publisher.close()

    def domain_event(self, notification: Notification):
        """The stored event, decoded once for its wire form and its headers."""
        if self._decoded is None or self._decoded[0] != notification.id:
            self._decoded = (notification.id, self.app.mapper.to_domain_event(notification))
        return self._decoded[1]

    def to_wire(self, notification: Notification) -> WireEvent:
        described = describe_event(self.domain_event(notification))
        return wire_event(described, self.source, self.instance, notification.id).signed(self.signer)

    def headers(self, notification: Notification, wire: WireEvent) -> dict:
        """Beside the signed body: the request that stored the event, as nameko context data
        (``nameko.request_id``), so the consumer's worker and its log lines carry it. Unsigned,
        and so only ever a label (shared.requests)."""
        headers = {"instance": wire.instance, "notification_id": wire.notification_id}
        request_id = request_id_of(self.domain_event(notification))
        if request_id is not None:
            headers["nameko.request_id"] = request_id
        return headers

    def publish_pending(self) -> int:
        """Publish one batch after the stored position; return how many were published."""
        if self._position is None:
            self._position = self.follower.position()
        position = self._position
        batch = self.follower.next_batch(position)
        if not batch:
            return 0
        messages = []
        for notification in batch:
            wire = self.to_wire(notification)
            messages.append({
                "body": wire.to_message(),
                "exchange": self.exchange,
                "routing_key": routing_key(wire),
                "serializer": "json",
                "delivery_mode": 2,
                "headers": self.headers(notification, wire),
            })
        self.publisher.publish_all(messages)  # raises unless the broker confirmed every one
        try:
            with self.follower.engine.begin() as conn:
                self.follower.move(conn, position, batch[-1].id)
        except Exception:
            self._position = None  # another copy moved it, or the database is away: read it again
            raise
        self._position = batch[-1].id
        self.published += len(batch)
        return len(batch)

    def run(self, stop: threading.Event, wake: threading.Event, idle_wait: float = 0.5,
            gather: float = 0.05) -> None:
        """Publish until stopped; back off (up to 5 s) while the broker or database is away.

        Every worker of this process wakes it when it ends, so the idle poll only matters for
        events stored by another copy of the service. After a wake-up it waits ``gather``
        seconds so events stored meanwhile leave in one batch: one log read and one position
        update per batch instead of per command.
        """
        failures = 0
        while not stop.is_set():
            try:
                if not self.leadership.hold():
                    stop.wait(1.0)  # another copy of this instance is publishing
                    continue
                published = self.publish_pending()
                if failures:
                    log.info("relay %s recovered after %d failed attempts", self.follower.follower, failures)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - keep relaying whatever went wrong
                failures += 1
                self.leadership.release()  # let a healthy copy take over, if there is one
                delay = min(5.0, 0.1 * 2 ** min(failures, 6))
                log.warning("relay %s could not publish (%s); retrying in %.1fs", self.follower.follower, exc, delay)
                stop.wait(delay)
                continue
            if published < self.follower.batch_size:
                if wake.wait(idle_wait):
                    stop.wait(gather)
                wake.clear()
        self.close()
        self.leadership.release()

    def drain(self, timeout: float = 30.0) -> None:
        """Publish everything stored so far (tests, tools); raise if it cannot within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.publish_pending() == 0:
                    return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
