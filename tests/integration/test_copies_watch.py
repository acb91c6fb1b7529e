"""A nominations process knows whether it is its instance's only copy (RPC queue consumers)."""

import uuid

import kombu

from nominations.bootstrap import CopiesWatch


def test_alone_only_while_it_is_the_one_consumer_of_its_rpc_queue(amqp_uri):
    service = f"copies_watch_{uuid.uuid4().hex[:8]}"
    watch = CopiesWatch(amqp_uri, service)
    watch.serving = lambda: True  # this process's own consumer is the first one below
    assert not watch.alone()  # no queue yet: not known to be alone
    queue = kombu.Queue(f"rpc-{service}", durable=False, auto_delete=True)
    with kombu.Connection(amqp_uri) as first, kombu.Connection(amqp_uri) as second:
        with first.Consumer(queue, callbacks=[lambda body, message: None]):
            assert watch.alone()
            with second.Consumer(queue, callbacks=[lambda body, message: None]):
                assert not watch.alone()  # a second copy came up
            assert watch.alone()
            watch.serving = lambda: False  # one consumer, but not this process's: a copy starting up
            assert not watch.alone()
    away = CopiesWatch("amqp://guest:guest@127.0.0.1:1/", service)
    away.serving = lambda: True
    assert not away.alone()  # broker away: not known to be alone
