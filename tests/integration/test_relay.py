"""The publishing relay on the real RabbitMQ: every stored event arrives, in order."""

import threading
import time
import uuid

import kombu
import pytest

from conftest import LIFECYCLE, STEPS, TRUSTED_KEYS_DIR, detect_data, rabbitmqctl
from nominations.bootstrap import build
from shared.relay import events_exchange
from shared.signing import TrustedKeys
from shared.wire import WireEvent, verified

pytestmark = pytest.mark.integration


class Collector:
    """A durable queue bound to every nominations event; survives a broker restart."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.queue = kombu.Queue(
            f"test-collector-{uuid.uuid4().hex[:8]}", exchange=events_exchange("nominations"), routing_key="#",
            durable=True, queue_arguments={"x-expires": 120_000},
        )
        with kombu.Connection(amqp_uri) as conn:
            self.queue(conn.channel()).declare()

    def collect(self, instance: str, expected: int, timeout: float = 30.0) -> list[WireEvent]:
        received: list[WireEvent] = []
        self.routing_keys: dict[int, str] = {}

        def on_message(body, message):
            event = WireEvent.model_validate(body)
            if event.instance == instance:
                received.append(verified(body, "nominations", TrustedKeys(TRUSTED_KEYS_DIR)))
                self.routing_keys[event.notification_id] = message.delivery_info["routing_key"]
            message.ack()

        deadline = time.monotonic() + timeout
        with kombu.Connection(self.amqp_uri) as conn:
            with conn.Consumer(self.queue, callbacks=[on_message], accept=["json"]):
                while len(received) < expected and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:
                        pass
        return received


def config(postgres_url, amqp_uri, instance: str) -> dict:
    return {"AMQP_URI": amqp_uri, "DATABASE_URL": postgres_url, "INSTANCE_ID": instance,
            "TRUSTED_KEYS_DIR": str(TRUSTED_KEYS_DIR)}


def runtime_on(postgres_url, amqp_uri):
    return build(config(postgres_url, amqp_uri, f"relay-test-{uuid.uuid4().hex[:8]}"))


def drive(app, exemplars: int) -> int:
    for n in range(exemplars):
        exemplar_id = app.detect(detect_data(name=f"Hộ {n}"))["id"]
        for step in LIFECYCLE:
            app.change(exemplar_id, step, STEPS[step])
    return exemplars * (1 + len(LIFECYCLE))


def assert_complete_and_in_order(events: list[WireEvent], expected: int) -> None:
    assert len(events) == expected
    assert sorted(e.notification_id for e in events) == list(range(1, expected + 1))
    versions: dict = {}
    for event in events:
        versions.setdefault(event.aggregate_id, []).append(event.aggregate_version)
    for per_exemplar in versions.values():
        assert per_exemplar == list(range(1, len(per_exemplar) + 1))


def test_every_stored_event_is_published_as_a_signed_wire_event(postgres_url, amqp_uri):
    runtime = runtime_on(postgres_url, amqp_uri)
    collector = Collector(amqp_uri)
    expected = drive(runtime.app, 3)
    runtime.relay.drain()
    events = collector.collect(runtime.instance, expected)  # each one verified with the instance's public key
    assert_complete_and_in_order(events, expected)
    assert {e.schema_version for e in events} == {4} and all(e.signature for e in events)
    assert {e.key_id for e in events} == {runtime.relay.signer.key_id}  # v4: which of its keys signed
    nominated = next(e for e in events if e.type == "exemplar.nominated")
    assert nominated.source == "nominations" and nominated.business_date.isoformat() == "2018-10-02"
    assert nominated.payload["award_form"] == "giay-khen" and nominated.recorded_at is not None
    # addressed to its council in the routing key, so only that council's queue gets it
    assert collector.routing_keys[nominated.notification_id] == "exemplar.nominated.district.huyen-yen-the"
    detected = next(e for e in events if e.type == "exemplar.detected")
    assert collector.routing_keys[detected.notification_id] == "exemplar.detected"
    runtime.relay.drain()  # nothing new: publishes nothing twice
    assert runtime.relay.published == expected


def test_events_stored_while_the_broker_is_down_arrive_after_it_returns(postgres_url, amqp_uri):
    runtime = runtime_on(postgres_url, amqp_uri)
    collector = Collector(amqp_uri)
    stop, wake = threading.Event(), threading.Event()
    relay = threading.Thread(target=runtime.relay.run, args=(stop, wake), daemon=True)
    relay.start()
    try:
        before = drive(runtime.app, 1)
        deadline = time.monotonic() + 10
        while runtime.relay.published < before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runtime.relay.published == before

        rabbitmqctl("stop_app")
        try:
            during = drive(runtime.app, 4)  # commands keep working: the log is the outbox
            wake.set()
            time.sleep(1.0)
            assert runtime.relay.published == before  # nothing could leave
        finally:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup")
        events = collector.collect(runtime.instance, before + during, timeout=60)
    finally:
        stop.set()
        wake.set()
        relay.join(timeout=10)
    assert_complete_and_in_order(events, before + during)


def test_two_copies_of_one_instance_publish_each_event_once_and_one_takes_over(postgres_url, amqp_uri):
    instance = f"relay-copies-{uuid.uuid4().hex[:8]}"
    copies = [build(config(postgres_url, amqp_uri, instance)) for _ in range(2)]
    collector = Collector(amqp_uri)
    controls = [(threading.Event(), threading.Event()) for _ in copies]
    threads = [threading.Thread(target=copy.relay.run, args=control, daemon=True)
               for copy, control in zip(copies, controls)]
    for thread in threads:
        thread.start()
    try:
        first = drive(copies[0].app, 3)
        for _, wake in controls:
            wake.set()
        events = collector.collect(instance, first)
        time.sleep(1.0)  # room for a second copy to (wrongly) publish the same events
        assert sum(copy.relay.published for copy in copies) == first  # each event left once
        leader = next(n for n, copy in enumerate(copies) if copy.relay.published)
        controls[leader][0].set()  # the leader stops; the other copy takes over
        controls[leader][1].set()
        threads[leader].join(timeout=10)
        second = drive(copies[1 - leader].app, 1)
        events += collector.collect(instance, second, timeout=30)
    finally:
        for stop, wake in controls:
            stop.set()
            wake.set()
        for thread in threads:
            thread.join(timeout=10)
    assert_complete_and_in_order(events, first + second)
    assert copies[1 - leader].relay.published == second
