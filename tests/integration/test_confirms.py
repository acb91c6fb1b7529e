"""Batches published with streamed confirms, on the real broker: all confirmed, or an error."""

import time
import uuid

import amqp.exceptions
import kombu
import pytest
from conftest import rabbitmqctl

from shared.confirms import ConfirmingPublisher, NotConfirmed


def test_a_batch_returns_once_the_broker_confirmed_all_of_it_in_order(amqp_uri):
    queue = kombu.Queue(f"confirms-{uuid.uuid4().hex[:8]}", durable=True, auto_delete=False)
    publisher = ConfirmingPublisher(amqp_uri, declare=[queue])
    try:
        sent = publisher.publish_all({"body": {"n": n}, "routing_key": queue.name, "delivery_mode": 2,
                                      "serializer": "json"} for n in range(1000))
        assert sent == 1000
        with kombu.Connection(amqp_uri) as conn:
            bound = queue(conn.channel())
            assert [bound.get(no_ack=True).payload["n"] for _ in range(1000)] == list(range(1000))
            bound.delete()
    finally:
        publisher.close()


def test_a_message_the_broker_refuses_fails_the_batch_and_the_next_batch_reconnects(amqp_uri):
    # A queue that holds one message and refuses (nacks) the rest.
    queue = kombu.Queue(f"confirms-full-{uuid.uuid4().hex[:8]}", durable=True, auto_delete=False,
                        queue_arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    publisher = ConfirmingPublisher(amqp_uri, declare=[queue])
    message = {"body": {"n": 1}, "routing_key": queue.name, "delivery_mode": 2, "serializer": "json"}
    try:
        with pytest.raises(NotConfirmed, match="refused"):
            publisher.publish_all([message, message, message])
        with kombu.Connection(amqp_uri) as conn:
            queue(conn.channel()).purge()
        assert publisher.publish_all([message]) == 1  # a fresh channel after the failure
    finally:
        publisher.close()
        with kombu.Connection(amqp_uri) as conn:
            queue(conn.channel()).delete()


def test_frames_built_here_carry_bodies_larger_than_a_frame_headers_and_diacritics(amqp_uri):
    # Frames are gathered and written many to a send: a body past frame_max is split in
    # pieces, and a batch past the send size is written in several sends.
    queue = kombu.Queue(f"confirms-frames-{uuid.uuid4().hex[:8]}", durable=True, auto_delete=False)
    publisher = ConfirmingPublisher(amqp_uri, declare=[queue])
    large = "Gương điển hình tiên tiến " * 20_000  # ~0.6 MB, several frames
    messages = [{"body": {"n": n, "text": large if n % 50 == 7 else f"Nông dân sản xuất giỏi {n}"},
                 "routing_key": queue.name, "delivery_mode": 2, "headers": {"instance": "yen-the", "n": n}}
                for n in range(400)]
    try:
        assert publisher.publish_all(messages) == 400
        with kombu.Connection(amqp_uri) as conn:
            bound = queue(conn.channel())
            for expected in messages:
                got = bound.get(no_ack=True)
                assert got.payload == expected["body"]
                assert got.headers == expected["headers"]
                assert got.properties["delivery_mode"] == 2
            assert bound.get(no_ack=True) is None
            bound.delete()
    finally:
        publisher.close()


def test_a_broker_that_stops_reading_fails_the_batch_in_time_and_the_next_batch_goes_out(amqp_uri):
    # A memory alarm: RabbitMQ stops reading from publishing connections. Once the socket's
    # buffers are full a send would wait for ever, but py-amqp's TCP_USER_TIMEOUT (1 s) has
    # the kernel fail it: the batch fails in time and the next one goes out on a new connection.
    queue = kombu.Queue(f"confirms-alarm-{uuid.uuid4().hex[:8]}", durable=True, auto_delete=False)
    publisher = ConfirmingPublisher(amqp_uri, declare=[queue])
    large = {"body": {"text": "x" * 500_000}, "routing_key": queue.name, "delivery_mode": 2}
    publisher.publish_all([large])  # connected and declared before the alarm
    rabbitmqctl("set_vm_memory_high_watermark", "0.000001")
    try:
        started = time.monotonic()
        with pytest.raises((NotConfirmed, OSError, amqp.exceptions.RecoverableConnectionError)):
            publisher.publish_all([large] * 200, timeout=3)  # 100 MB: far past any socket buffer
        assert time.monotonic() - started < 30
    finally:
        rabbitmqctl("set_vm_memory_high_watermark", "0.4")
    try:
        assert publisher.publish_all([{"body": {"n": 1}, "routing_key": queue.name}]) == 1  # reconnected
    finally:
        publisher.close()
        with kombu.Connection(amqp_uri) as conn:
            queue(conn.channel()).delete()
