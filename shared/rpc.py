"""nameko RPC for our services: domain errors that cross as themselves, and lean replies.

Domain errors: nameko serialises a raised exception as its type path and args; a class
registered here is rebuilt on the caller's side, so the gateway and CLI can map it to an
HTTP status or exit code instead of parsing RemoteError text.

Replies: nameko's own responder takes a connection and a producer from kombu's pools for
each reply, serialises the result twice (once to check it can), publishes through
kombu's retrying wrapper and waits for the broker's confirm. In the bench that was a
sixth of the nominations service's CPU. Here a service publishes its replies on one
channel of its own, serialised once, without confirms: a reply goes to the caller's own
non-durable queue, and were the broker to lose it the caller would time out, as it would
if the broker went down a moment earlier, while the command itself is already stored.
Requests are acked in runs (shared.acks).
"""

from __future__ import annotations

import sys
import threading

import amqp
import amqp.exceptions
import kombu
import kombu.serialization
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.exceptions import UnserializableValueError, deserialize_to_instance, serialize
from nameko.rpc import Rpc, RpcConsumer, get_rpc_exchange

from shared.acks import RunAckingQueueConsumer
from shared.errors import ALL_ERRORS

for _error in ALL_ERRORS:
    deserialize_to_instance(_error)


class ReplyPublisher:
    def __init__(self, amqp_uri: str, exchange: str):
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self._connection: kombu.Connection | None = None
        self._channel = None
        self._lock = threading.Lock()  # one message's frames at a time on the channel

    def reply(self, request, result, exc_info):
        """Publish the reply to ``request``; returns (result, exc_info) as nameko's responder does."""
        error = serialize(exc_info[1]) if exc_info is not None else None
        serializer = kombu.serialization.registry.type_to_name[request.properties["content_type"]]
        try:
            content_type, encoding, body = kombu.serialization.dumps({"result": result, "error": error}, serializer)
        except Exception:  # noqa: BLE001 - as nameko: the caller learns the result could not be sent
            exc_info = sys.exc_info()
            error, result = serialize(UnserializableValueError(result)), None
            content_type, encoding, body = kombu.serialization.dumps({"result": None, "error": error}, serializer)
        message = amqp.Message(body, content_type=content_type, content_encoding=encoding,
                               correlation_id=request.properties.get("correlation_id"))
        with self._lock:
            for attempt in (1, 2):  # once more on a fresh connection if the old one broke
                try:
                    self._open().basic_publish(message, exchange=self.exchange,
                                               routing_key=request.properties["reply_to"])
                    break
                except (OSError, amqp.exceptions.ConnectionError):
                    self.close()
                    if attempt == 2:
                        raise
        return result, exc_info

    def _open(self):
        if self._channel is None:
            self._connection = kombu.Connection(self.amqp_uri)
            self._channel = self._connection.default_channel
        return self._channel

    def close(self) -> None:
        if self._connection is not None:
            self._connection.release()
        self._connection, self._channel = None, None


class LeanRpcConsumer(RpcConsumer):
    queue_consumer = RunAckingQueueConsumer()

    def setup(self):
        super().setup()
        self.replies = ReplyPublisher(self.container.config[AMQP_URI_CONFIG_KEY],
                                      get_rpc_exchange(self.container.config).name)

    def stop(self):  # after the workers have finished (nameko stops entrypoints, waits, then this)
        super().stop()
        self.replies.close()

    def kill(self):
        super().kill()
        self.replies.close()

    def handle_result(self, message, result, exc_info):
        result, exc_info = self.replies.reply(message, result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class LeanRpc(Rpc):
    rpc_consumer = LeanRpcConsumer()


rpc = LeanRpc.decorator
