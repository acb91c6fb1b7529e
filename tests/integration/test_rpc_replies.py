"""RPC replies published on the service's own channel, on the real broker."""

import json
import subprocess
import time
import uuid
from types import SimpleNamespace

import kombu
import pytest
from nameko.exceptions import UnserializableValueError

from conftest import wait_for
from shared.errors import RuleViolation
from shared.rpc import ReplyPublisher


@pytest.fixture
def reply_queue(amqp_uri):
    exchange = kombu.Exchange("nameko-rpc", type="topic", durable=True)
    queue = kombu.Queue(f"rpc.reply-test-{uuid.uuid4().hex[:8]}", exchange=exchange,
                        routing_key=f"reply-{uuid.uuid4().hex[:8]}", auto_delete=True)
    with kombu.Connection(amqp_uri) as conn:
        bound = queue(conn.channel())
        bound.declare()

        def get():  # replies are not confirmed: wait for each to arrive
            return wait_for(lambda: bound.get(no_ack=True), timeout=10, what="the reply")

        yield SimpleNamespace(routing_key=queue.routing_key, get=get)
        bound.delete()


def request(reply_to: str, correlation_id: str):
    return SimpleNamespace(properties={"content_type": "application/json", "reply_to": reply_to,
                                       "correlation_id": correlation_id})


def test_a_reply_reaches_the_caller_with_its_correlation_id(amqp_uri, reply_queue):
    replies = ReplyPublisher(amqp_uri, "nameko-rpc")
    try:
        assert replies.reply(request(reply_queue.routing_key, "c-1"), {"id": "x", "version": 2}, None) == (
            {"id": "x", "version": 2}, None)
        message = reply_queue.get()
        assert message.properties["correlation_id"] == "c-1"
        assert json.loads(message.body) == {"result": {"id": "x", "version": 2}, "error": None}
    finally:
        replies.close()


def test_an_error_and_an_unsendable_result_reach_the_caller_as_errors(amqp_uri, reply_queue):
    replies = ReplyPublisher(amqp_uri, "nameko-rpc")
    try:
        refused = RuleViolation("Chưa sơ kết.", "not reviewed", "review")
        replies.reply(request(reply_queue.routing_key, "c-2"), None, (RuleViolation, refused, None))
        assert json.loads(reply_queue.get().body)["error"]["exc_type"] == "RuleViolation"
        result, exc_info = replies.reply(request(reply_queue.routing_key, "c-3"), {"when": object()}, None)
        assert result is None and exc_info[0] is not None  # as nameko: the worker learns it too
        error = json.loads(reply_queue.get().body)["error"]
        assert error["exc_type"] == UnserializableValueError.__name__
    finally:
        replies.close()


def test_a_broken_connection_is_replaced_for_the_next_reply(amqp_uri, reply_queue):
    replies = ReplyPublisher(amqp_uri, "nameko-rpc")
    try:
        replies.reply(request(reply_queue.routing_key, "c-4"), 1, None)
        replies._connection.connection.sock.close()  # the broker connection drops under it
        replies.reply(request(reply_queue.routing_key, "c-5"), 2, None)
        got = [reply_queue.get(), reply_queue.get()]
        assert [m.properties["correlation_id"] for m in got] == ["c-4", "c-5"]
    finally:
        replies.close()


def test_a_connection_the_broker_closed_is_replaced_for_the_next_reply(amqp_uri, reply_queue):
    replies = ReplyPublisher(amqp_uri, "nameko-rpc")
    try:
        replies.reply(request(reply_queue.routing_key, "c-6"), 1, None)
        port = replies._connection.connection.sock.getsockname()[1]
        listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "peer_port"], check=True,
                                capture_output=True, text=True, timeout=60).stdout
        pid = next(line.rsplit("\t", 1)[0] for line in listed.splitlines() if line.endswith(f"\t{port}"))
        subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test: the broker hangs up"], check=True,
                       capture_output=True, timeout=60)
        time.sleep(0.5)  # the close frame arrives
        replies.reply(request(reply_queue.routing_key, "c-7"), 2, None)
        got = [reply_queue.get(), reply_queue.get()]
        assert [m.properties["correlation_id"] for m in got] == ["c-6", "c-7"]
    finally:
        replies.close()


def test_after_close_a_reply_is_dropped_not_sent_on_a_new_connection(amqp_uri, reply_queue):
    replies = ReplyPublisher(amqp_uri, "nameko-rpc")
    replies.close()  # the container is stopping
    assert replies.reply(request(reply_queue.routing_key, "c-8"), 3, None) == (3, None)
    assert replies._connection is None
