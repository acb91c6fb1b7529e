"""nameko consumers that never drop a message whose handler failed.

nameko's own ``event_handler`` (and ``consume``) ack a message whose handler raised:
it is gone. These republish the failed message to a delay queue (RabbitMQ per-queue
TTL, dead-lettered back to the handler's queue: growing delays, no busy loop) and only
then ack it; after the last delay they park it in ``<queue>.parked`` with the reason in
its headers, for an operator to inspect and replay.

``reliable_event_handler`` hands the method a verified ``WireEvent``, never a raw body: a
message that is unsigned, signed by no trusted instance or changed since it was signed
is parked at once (retrying cannot make it true) and nothing of it is acted on.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Callable, Iterable

import kombu
from nameko.events import EventHandler, get_event_exchange
from nameko.messaging import Consumer

from shared.acks import RunAckingQueueConsumer
from shared.signing import trusted_from_config
from shared.wire import Unverified, verified

log = logging.getLogger(__name__)

DEFAULT_DELAYS_MS = (1000, 5000, 30000)
ATTEMPT_HEADER = "x-exemplars-attempt"
REASON_HEADER = "x-exemplars-reason"


def retry_queue_name(queue: str, delay_ms: int) -> str:
    return f"{queue}.retry.{delay_ms}ms"


def parked_queue_name(queue: str) -> str:
    return f"{queue}.parked"


def retry_delays(config: dict) -> tuple[int, ...]:
    """The retry delays (ms) from EVENT_RETRY_DELAYS_MS: a message is tried 1 + len(delays) times."""
    configured = config.get("EVENT_RETRY_DELAYS_MS")
    return tuple(int(d) for d in str(configured).split(",")) if configured else DEFAULT_DELAYS_MS


def attempts_so_far(message) -> int:
    return attempts_in(message.headers)


def attempts_in(headers: dict | None) -> int:
    """The failed tries a message's headers record (a handler sees them in ``worker_ctx.data``)."""
    try:  # headers are not signed: anyone could have set this one
        return max(0, int((headers or {}).get(ATTEMPT_HEADER, 0)))
    except (TypeError, ValueError):
        return 0


class RetryThenPark:
    """Mixin for a nameko Consumer: retry with growing delays, then park. Never drop."""

    def setup(self) -> None:
        super().setup()
        self.delays = retry_delays(self.container.config)
        self.amqp_uri = self.container.config["AMQP_URI"]
        name = self.queue.name
        with kombu.Connection(self.amqp_uri) as conn:
            channel = conn.channel()
            for delay in self.delays:
                kombu.Queue(
                    retry_queue_name(name, delay),
                    durable=True,
                    queue_arguments={
                        "x-message-ttl": delay,
                        "x-dead-letter-exchange": "",  # the default exchange routes by queue name
                        "x-dead-letter-routing-key": name,
                    },
                )(channel).declare()
            kombu.Queue(parked_queue_name(name), durable=True)(channel).declare()
        self._connection = kombu.Connection(self.amqp_uri, transport_options={"confirm_publish": True})
        self._sending = threading.Lock()  # one publish (and its confirm) at a time on that connection

    def stop(self) -> None:
        super().stop()
        self._connection.release()

    def handle_message_processed(self, message, result=None, exc_info=None) -> None:
        if exc_info is not None and isinstance(exc_info[1], Unverified):  # retrying cannot make it true
            reason = f"rejected: {exc_info[1]}"
            log.error("event handler %s refused a wire event; parked in %s: %s", self.method_name,
                      parked_queue_name(self.queue.name), reason)
            self._send(message, parked_queue_name(self.queue.name), attempts_so_far(message) + 1, reason)
        elif exc_info is not None:
            self._retry_or_park(message, exc_info)  # raises if it cannot: then nothing is acked
        self.queue_consumer.ack_message(message)

    def _retry_or_park(self, message, exc_info) -> None:
        attempt = attempts_so_far(message) + 1
        reason = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        if attempt <= len(self.delays):
            target = retry_queue_name(self.queue.name, self.delays[attempt - 1])
            log.warning("event handler %s failed (attempt %d), retrying in %d ms: %s",
                        self.method_name, attempt, self.delays[attempt - 1], reason)
        else:
            target = parked_queue_name(self.queue.name)
            log.error("event handler %s failed %d times; parked in %s: %s", self.method_name, attempt, target, reason)
        self._send(message, target, attempt, reason)

    def _send(self, message, target: str, attempt: int, reason: str) -> None:
        headers = dict(message.headers or {}) | {ATTEMPT_HEADER: attempt, REASON_HEADER: reason[:2000]}
        with self._sending:
            producer = kombu.Producer(self._connection.default_channel)
            self._connection.ensure(producer, producer.publish, max_retries=3)(
                message.body,
                exchange="",
                routing_key=target,
                headers=headers,
                delivery_mode=2,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
            )


class ReliableEventHandler(RetryThenPark, EventHandler):
    """A nameko event handler that retries, parks, and acts only on verified wire events.

    ``routes(config)``, if given, lists the routing keys the queue binds instead of
    ``event_type``, which then only names the queue (``evt-<source>-<event_type>--<service>.<method>``).
    ``ordered``: one consumer at a time takes the queue (RabbitMQ single active consumer),
    so scaled copies apply events in the broker's order and the others stand by to take over.
    """

    def __init__(self, source_service: str, event_type: str,
                 routes: Callable[[dict], Iterable[str]] | None = None, ordered: bool = False, **kwargs):
        self.routes = routes
        self.ordered = ordered
        super().__init__(source_service, event_type, **kwargs)

    def setup(self) -> None:
        super().setup()
        self.trusted = trusted_from_config(self.container.config)
        if self.routes is not None or self.ordered:
            exchange = get_event_exchange(self.source_service, self.container.config)
            keys = self.routes(self.container.config) if self.routes is not None else [self.event_type]
            self.queue = kombu.Queue(
                self.queue.name, durable=True, bindings=[kombu.binding(exchange, routing_key=key) for key in keys],
                queue_arguments={"x-single-active-consumer": True} if self.ordered else None)

    def handle_message(self, body, message) -> None:
        try:
            event = verified(body, self.source_service, self.trusted)
        except Unverified as rejected:
            self._reject(body, message, str(rejected))
            return
        super().handle_message(event, message)

    def _reject(self, body, message, reason: str) -> None:
        """Park at once with the reason; log who and what it claims to be, never the payload."""
        claims = body if isinstance(body, dict) else {}
        target = parked_queue_name(self.queue.name)
        log.error("rejected wire event %.100r from instance %.100r, notification %.30r, on %s: %.300s; parked in %s",
                  claims.get("type"), claims.get("instance"), claims.get("notification_id"), self.method_name,
                  reason, target)
        try:
            self._send(message, target, attempts_so_far(message) + 1, f"rejected: {reason}")
        except Exception:  # noqa: BLE001 - not parked: put it back rather than lose it
            log.exception("could not park a rejected wire event; requeued")
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)


class ReliableConsumer(RetryThenPark, Consumer):
    """A competing consumer of a durable work queue (several processes share its jobs)."""

    queue_consumer = RunAckingQueueConsumer()


reliable_event_handler = ReliableEventHandler.decorator
reliable_consume = ReliableConsumer.decorator
