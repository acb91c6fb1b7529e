"""nameko RPC for our services: domain errors that cross as themselves, and lean replies.

Domain errors: nameko serialises a raised exception as its type path and args; a class
registered here is rebuilt on the caller's side, so the gateway and CLI can map it to an
HTTP status or exit code instead of parsing RemoteError text.

Replies: nameko's own responder takes a connection and a producer from kombu's pools for
each reply, serialises the result twice (once to check it can), publishes through
kombu's retrying wrapper and waits for the broker's confirm. In the bench that was a
sixth of the nominations service's CPU. Here a service publishes its replies on one
channel of its own, serialised once, without confirms: a reply goes to the caller's own
queue, and were the broker to lose it (a connection broken without a word, a broker
crash) the caller would time out — the gateway bounds its wait, GATEWAY_RPC_TIMEOUT_S —
as it would if the broker went down a moment earlier, while the command is stored.
Requests are acked in runs (shared.acks).
"""

from __future__ import annotations

import logging
import sys
import threading

import amqp
import amqp.exceptions
import kombu
import kombu.exceptions
import kombu.serialization
from nameko.constants import (AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY,
                              TRANSPORT_OPTIONS_CONFIG_KEY)
from nameko.exceptions import UnserializableValueError, deserialize_to_instance, serialize
from nameko.rpc import Rpc, RpcConsumer, get_rpc_exchange

from shared.acks import RunAckingQueueConsumer
from shared.confirms import release_quietly
from shared.errors import ALL_ERRORS

log = logging.getLogger(__name__)

for _error in ALL_ERRORS:
    deserialize_to_instance(_error)


def amqp_connection_options(config: dict) -> dict:
    """kombu.Connection options for a service's own connections, as nameko's would be."""
    return {"ssl": config.get(AMQP_SSL_CONFIG_KEY), "login_method": config.get(LOGIN_METHOD_CONFIG_KEY),
            "transport_options": config.get(TRANSPORT_OPTIONS_CONFIG_KEY) or {}}


class ReplyPublisher:
    def __init__(self, amqp_uri: str, exchange: str, **connection_options):
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self.connection_options = connection_options  # ssl, login_method, transport_options
        self._connection: kombu.Connection | None = None
        self._channel = None
        self._closed = False
        self._lock = threading.RLock()  # one message's frames at a time on the channel

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
            if self._closed:  # the container is stopping: the caller's timeout tells it
                log.warning("reply to %s dropped: the service is stopping", request.properties.get("correlation_id"))
                return result, exc_info
            for attempt in (1, 2):  # once more on a fresh connection if the old one broke
                try:
                    self._open().basic_publish(message, exchange=self.exchange,
                                               routing_key=request.properties["reply_to"])
                    break
                except (OSError, amqp.exceptions.AMQPError, kombu.exceptions.OperationalError) as broken:
                    # py-amqp reads what the broker sent before writing: a close (of the
                    # connection, or of the channel for an earlier reply) shows here.
                    log.warning("reply channel broken (%s); reconnecting", broken)
                    self._reset()
                    if attempt == 2:
                        raise
        return result, exc_info

    def _open(self):
        if self._channel is None:
            self._connection = kombu.Connection(self.amqp_uri, **self.connection_options)
            self._channel = self._connection.default_channel
        return self._channel

    def _reset(self) -> None:
        release_quietly(self._connection)
        self._connection, self._channel = None, None

    def close(self) -> None:
        with self._lock:  # not in the middle of a reply's frames
            self._closed = True
            self._reset()


class LeanRpcConsumer(RpcConsumer):
    queue_consumer = RunAckingQueueConsumer()

    def setup(self):
        super().setup()
        config = self.container.config
        self.replies = ReplyPublisher(config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config).name,
                                      **amqp_connection_options(config))

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


def rpc_consuming(container) -> bool:
    """Whether this service's RPC requests are being consumed from the broker right now."""
    return any(isinstance(extension, LeanRpcConsumer) and extension.queue_consumer.consuming
               for extension in container.subextensions)
