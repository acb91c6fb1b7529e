"""Acking consumed messages in runs: one basic.ack(multiple) for many, never past a running one."""

from __future__ import annotations

import collections

import amqp.exceptions
from nameko.messaging import QueueConsumer


class AckRuns:
    """The unacked delivery tags of one channel, in delivery order, and which are finished."""

    def __init__(self):
        self._order: collections.deque[int] = collections.deque()
        self._finished: set[int] = set()

    def received(self, tag: int) -> None:
        if self._order and tag <= self._order[-1]:  # the channel was reopened: its old tags are void
            self.__init__()
        self._order.append(tag)

    def finished(self, tag: int) -> None:
        self._finished.add(tag)

    def forget(self, tag: int) -> None:
        """Requeued (rejected) on its own: no longer the consumer's to ack."""
        self._finished.discard(tag)
        if tag in self._order:
            self._order.remove(tag)

    def take(self) -> tuple[int | None, list[int]]:
        """What to ack now: the last tag of the run of finished tags at the head (one
        basic.ack with multiple for the run, never reaching a message still running), and
        the finished tags behind a running one, to ack one by one so that a slow message
        holds back no others."""
        last = None
        while self._order and self._order[0] in self._finished:
            last = self._order.popleft()
            self._finished.discard(last)
        singles = sorted(self._finished)
        if singles:
            self._order = collections.deque(t for t in self._order if t not in self._finished)
            self._finished.clear()
        return last, singles


class RunAckingQueueConsumer(QueueConsumer):
    """nameko's queue consumer, acking finished messages in runs rather than one by one.

    Acking each message cost RabbitMQ about 55 µs of CPU per consumed message here, acking
    in runs about 15 µs (kombu alone, 20,000 messages), and the consumer a frame each.
    Tags are recorded in delivery order as messages arrive; an ack is sent by one flusher
    after the messages finishing now have finished. Unacked messages come back if the
    worker dies, as before: the delivery ledger makes that harmless.
    """

    def __init__(self):
        super().__init__()
        self._runs: dict = {}  # channel -> AckRuns
        self._flushing = False
        self.consuming = False  # its consumers are registered with the broker right now

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.consuming = True
        super().on_consume_ready(connection, channel, consumers, **kwargs)

    def on_connection_revived(self):
        self.consuming = False  # until the consumers are declared again
        super().on_connection_revived()

    def stop(self):
        self.consuming = False
        super().stop()

    def handle_message(self, provider, body, message):
        # Here, not in the provider: its handler runs in a thread of its own, maybe out of order.
        self._runs.setdefault(message.channel, AckRuns()).received(message.delivery_tag)
        super().handle_message(provider, body, message)

    def ack_message(self, message):
        self._runs.setdefault(message.channel, AckRuns()).finished(message.delivery_tag)
        if not self._flushing:
            self._flushing = True
            self.container.spawn_managed_thread(self._flush)

    def requeue_message(self, message):
        self._runs.setdefault(message.channel, AckRuns()).forget(message.delivery_tag)
        super().requeue_message(message)

    def _flush(self) -> None:
        """The one flusher: acks until a pass finds nothing (finishers meanwhile start none)."""
        try:
            acked = True
            while acked:
                acked = False
                for channel, runs in list(self._runs.items()):
                    if channel.connection is None:  # closed: the broker has taken its messages back
                        self._runs.pop(channel, None)
                        continue
                    last, singles = runs.take()
                    try:
                        if last is not None:
                            channel.basic_ack(last, multiple=True)
                        for tag in singles:
                            channel.basic_ack(tag)
                    except (OSError, amqp.exceptions.ConnectionError):
                        self._runs.pop(channel, None)
                    acked = acked or last is not None or bool(singles)
        finally:
            self._flushing = False
