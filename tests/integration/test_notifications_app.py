"""Subscriptions and fan-out on SQLite and PostgreSQL: one ledger row per (event, recipient, channel)."""

import datetime as dt
import itertools
import uuid

import pytest

from notifications.application import NotificationsApplication
from notifications.bootstrap import known_event_types
from shared.errors import InvalidInput
from shared.persistence import eventsourcing_env
from shared.wire import WireEvent

pytestmark = pytest.mark.integration
_ids = itertools.count(1)
SECRET = "khoa-bi-mat-du-dai-16"


def app_on(catalog, url):
    return NotificationsApplication(catalog, known_event_types(), env=eventsourcing_env(url))


def subscriber(n=1, **overrides):
    data = {"recipient_id": f"nguoi-{n}", "recipient_kind": "person", "name": f"Cán bộ {n}",
            "fields": ["household-economy"],
            "channels": [{"channel": "inbox"}, {"channel": "email", "address": f"canbo{n}@yenthe.example.vn"},
                         {"channel": "webhook", "address": "http://127.0.0.1:9/hook", "secret": SECRET}]}
    return data | overrides


def receive(app, wire, **kw) -> list[str]:
    """Every delivery id the fan-out of ``wire`` queues, all chunks together."""
    return [delivery_id for chunk in app.receive(wire, **kw) for delivery_id in chunk]


def event(kind="exemplar.detected", exemplar_id=None, **payload):
    base = {"exemplar.detected": {"department": "hoi-nong-dan-yen-the", "field": "household-economy",
                                  "movement": "farmers-good-business", "name": "Hộ ông Thắng", "unit": "xã Đồng Tâm",
                                  "subject_kind": "household", "achievements": ["Gà đồi"]}}.get(kind, {})
    return WireEvent(type=kind, source="nominations", instance="nominations-test", notification_id=next(_ids),
                     aggregate_id=exemplar_id or uuid.uuid4(), aggregate_version=1, business_date=dt.date(2018, 10, 12),
                     payload=base | payload)


@pytest.mark.parametrize("change,field", [
    ({"fields": ["astrology"]}, "fields"),
    ({"channels": [{"channel": "email", "address": "not-an-address"}]}, "channels.0"),
    ({"channels": [{"channel": "webhook", "address": "ftp:/x", "secret": SECRET}]}, "channels.0"),
    ({"channels": [{"channel": "pigeon"}]}, "channels.0.channel"),
    ({"event_types": ["exemplar.exploded"]}, "event_types"),
    ({"channels": []}, "channels"),
])
def test_a_bad_subscription_is_refused_and_stores_nothing(catalog, database_url, change, field):
    app = app_on(catalog, database_url)
    with pytest.raises(InvalidInput) as caught:
        app.subscribe(subscriber(**change))
    assert caught.value.detail == field and caught.value.message
    assert app.subscriptions.active() == []


def test_one_event_becomes_one_row_per_recipient_and_channel_once(catalog, database_url):
    app = app_on(catalog, database_url)
    for n in range(3):
        app.subscribe(subscriber(n))
    app.subscribe(subscriber(9, fields=["health"]))  # another field: not for this event
    detected = event()
    queued = receive(app, detected)
    assert len(queued) == 9  # 3 recipients x 3 channels
    assert sorted(receive(app, detected)) == sorted(queued)  # a duplicate queues the same jobs again, no new rows
    rows = app.ledger.for_event(f"nominations-test/{detected.notification_id}")["items"]
    assert len(rows) == 9 and {r["status"] for r in rows} == {"queued"}
    assert {r["recipient_id"] for r in rows} == {"nguoi-0", "nguoi-1", "nguoi-2"}
    awarded = event("exemplar.awarded", exemplar_id=detected.aggregate_id)  # matched through what detection said
    assert len(receive(app, awarded)) == 9


def test_muted_digest_and_quiet_hours(catalog, database_url):
    app = app_on(catalog, database_url)
    muted = app.subscribe(subscriber(1))["id"]
    app.change_preferences(muted, {"muted": True})
    app.subscribe(subscriber(2, preferences={"digest": True}))
    app.subscribe(subscriber(3, preferences={"quiet_hours": {"start": "22:00", "end": "06:00"}}))
    late_evening = dt.datetime(2018, 10, 12, 16, 30, tzinfo=dt.timezone.utc)  # 23:30 in Hà Nội
    detected = event()
    queued = receive(app, detected, at=late_evening)
    rows = {(r["recipient_id"], r["channel"]): r for r in app.ledger.for_event(f"nominations-test/{detected.notification_id}")["items"]}
    assert not any(recipient == "nguoi-1" for recipient, _ in rows)
    assert {rows[("nguoi-2", c)]["status"] for c in ("inbox", "email", "webhook")} == {"digest"}
    assert rows[("nguoi-3", "inbox")]["status"] == "queued"  # the inbox is never held
    assert rows[("nguoi-3", "email")]["status"] == "held"
    assert len(queued) == 1
    assert app.due_held(at=late_evening) == []
    morning = dt.datetime(2018, 10, 12, 23, 5, tzinfo=dt.timezone.utc)  # 06:05 in Hà Nội
    assert sorted(app.due_held(at=morning)) == sorted(
        [rows[("nguoi-3", "email")]["delivery_id"], rows[("nguoi-3", "webhook")]["delivery_id"]])


def test_a_cancelled_subscription_receives_nothing(catalog, database_url):
    app = app_on(catalog, database_url)
    subscription = app.subscribe(subscriber(1))["id"]
    app.cancel(subscription, {"reason": "Chuyển công tác"})
    assert receive(app, event()) == []


def test_a_daily_digest_gathers_the_days_items_once(catalog, database_url):
    app = app_on(catalog, database_url)
    app.subscribe(subscriber(2, preferences={"digest": True}, channels=[{"channel": "inbox"}]))
    for _ in range(3):
        receive(app, event())
    six_am = dt.datetime(2018, 10, 12, 23, 0, tzinfo=dt.timezone.utc)  # 06:00 in Hà Nội: too early
    assert app.due_digests(at=six_am, hour=7) == []
    eight_am = six_am + dt.timedelta(hours=2)
    digests = app.due_digests(at=eight_am, hour=7)
    assert len(digests) == 1
    assert app.due_digests(at=eight_am, hour=7) == []  # nothing pending any more: no second digest
    digest = app.ledger.delivery(digests[0])
    assert digest["status"] == "queued" and len(app.ledger.event(digest["event_key"])["items"]) == 3


def test_the_worker_delivers_a_digest_as_one_inbox_message(catalog, postgres_url):
    from notifications.worker import Deliverer

    app = app_on(catalog, postgres_url)
    app.subscribe(subscriber(4, preferences={"digest": True}, channels=[{"channel": "inbox"}]))
    detected = event()
    receive(app, detected)
    receive(app, event("exemplar.withdrawn", exemplar_id=detected.aggregate_id, reason="Chuyển công tác"))
    digest_id = app.due_digests(at=dt.datetime(2018, 10, 13, 1, 0, tzinfo=dt.timezone.utc), hour=7)[0]  # 08:00 HN
    deliverer = Deliverer({"DATABASE_URL": postgres_url})
    assert deliverer.deliver(digest_id) == "sent"
    assert deliverer.deliver(digest_id) == "already-sent-or-unknown"  # a redelivered job sends nothing
    inbox = app.ledger.inbox_of("nguoi-4")
    assert inbox["unread"] == 1
    message = inbox["items"][0]
    assert message["subject"] == "Bản tin thông báo ngày 13/10/2018 (2 thông báo)"
    assert message["body"].count("•") == 2 and "Hộ ông Thắng" in message["body"]


def test_attempts_are_counted_when_they_end_and_a_sent_delivery_is_never_marked_failed(catalog, database_url):
    app = app_on(catalog, database_url)
    app.subscribe(subscriber(5, channels=[{"channel": "inbox"}]))
    delivery_id = receive(app, event())[0]
    ledger = app.ledger
    assert ledger.unsent([delivery_id])[delivery_id]["attempts"] == 0  # reading does not count a try
    ledger.mark_failed(delivery_id, "OperationalError: database away", parked=False)
    assert ledger.delivery(delivery_id)["status"] == "failed" and ledger.delivery(delivery_id)["attempts"] == 1
    assert ledger.mark_sent([delivery_id]) == {delivery_id}
    ledger.mark_failed(delivery_id, "a second copy of the job failed late", parked=True)
    row = ledger.delivery(delivery_id)
    assert (row["status"], row["attempts"]) == ("sent", 2)  # not failed, not parked: it was sent
    assert ledger.unsent([delivery_id]) == {}


def test_a_fan_out_interrupted_between_chunks_is_finished_by_the_redelivery(catalog, database_url):
    app = app_on(catalog, database_url)
    for n in range(5):
        app.subscribe(subscriber(n))  # 15 rows: 3 channels each
    detected = event()
    chunks = app.receive(detected, chunk=4)
    first = next(chunks)  # committed; then the publisher fails and the event is not acked
    chunks.close()
    key = f"nominations-test/{detected.notification_id}"
    assert len(first) == 4 and app.ledger.for_event(key)["total"] == 4
    assert not app.consumer.handled(detected)
    again = [list(chunk) for chunk in app.receive(detected, chunk=4)]  # the redelivery
    assert [len(chunk) for chunk in again] == [4, 4, 4, 3]
    assert set(first) <= {delivery_id for chunk in again for delivery_id in chunk}
    assert app.ledger.for_event(key)["total"] == 15  # the first chunk's rows kept, not doubled
    assert app.consumer.handled(detected)
    assert sorted(receive(app, detected)) == sorted(r["delivery_id"] for r in app.ledger.for_event(key)["items"])
