"""nameko consumers that never drop a message whose handler failed.

nameko's own ``event_handler`` (and ``consume``) ack a message whose handler raised:
it is gone. These republish the failed message to a delay queue (RabbitMQ per-queue
TTL, dead-lettered back to the handler's queue: growing delays, no busy loop) and only
then ack it; after the last delay they park it in ``<queue>.parked`` with the reason in
its headers, for an operator to inspect and replay.
"""

from __future__ import annotations

import logging
import traceback

import kombu
from nameko.events import EventHandler
from nameko.messaging import Consumer

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

    def stop(self) -> None:
        super().stop()
        self._connection.release()

    def handle_message_processed(self, message, result=None, exc_info=None) -> None:
        if exc_info is not None:
            self._retry_or_park(message, exc_info)  # raises if it cannot: then nothing is acked
        self.queue_consumer.ack_message(message)

    def _retry_or_park(self, message, exc_info) -> None:
        attempt = int(message.headers.get(ATTEMPT_HEADER, 0)) + 1
        reason = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        headers = dict(message.headers) | {ATTEMPT_HEADER: attempt, REASON_HEADER: reason[:2000]}
        if attempt <= len(self.delays):
            target = retry_queue_name(self.queue.name, self.delays[attempt - 1])
            log.warning("event handler %s failed (attempt %d), retrying in %d ms: %s",
                        self.method_name, attempt, self.delays[attempt - 1], reason)
        else:
            target = parked_queue_name(self.queue.name)
            log.error("event handler %s failed %d times; parked in %s: %s", self.method_name, attempt, target, reason)
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
    pass


class ReliableConsumer(RetryThenPark, Consumer):
    """A competing consumer of a durable work queue (several processes share its jobs)."""


reliable_event_handler = ReliableEventHandler.decorator
reliable_consume = ReliableConsumer.decorator
