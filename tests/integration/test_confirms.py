"""Batches published with streamed confirms, on the real broker: all confirmed, or an error."""

import uuid

import kombu
import pytest

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
