"""Subscriptions and fan-out on SQLite and PostgreSQL: one ledger row per (event, recipient, channel)."""

import datetime as dt
import itertools
import json
import uuid

import pytest
import sqlalchemy
from cryptography.fernet import Fernet

from conftest import TRUSTED_KEYS_DIR, free_port
from notifications.application import NotificationsApplication
from notifications.bootstrap import known_event_types
from notifications.channels import DeliveryFailed, WebhookPools, with_secret
from notifications.outbound import AddressPolicy
from notifications.projections import subscriptions
from notifications.sealing import SecretBox, new_webhook_secret
from shared.errors import InvalidInput, RuleViolation
from shared.persistence import eventsourcing_env
from shared.wire import WireEvent
from sinks import WebhookSink

pytestmark = pytest.mark.integration
_ids = itertools.count(1)
SECRET = "whsec_a2hvYS1iaS1tYXQtZHUtZGFpLTE2LWJ5dGUtdGhlby1jaHVhbg=="
KEY = Fernet.generate_key()  # this module's key for webhook secrets (the service's, in production)
LOOPBACK = AddressPolicy.parse("127.0.0.1")  # the test receivers listen there


def app_on(catalog, url, box=None, addresses=LOOPBACK):
    return NotificationsApplication(catalog, known_event_types(), env=eventsourcing_env(url),
                                    secret_box=box or SecretBox([KEY]), addresses=addresses)


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
    ({"channels": [{"channel": "email", "address": "not-an-address"}]}, "channels.0.address"),
    ({"channels": [{"channel": "webhook", "address": "ftp:/x", "secret": SECRET}]}, "channels.0.address"),
    ({"channels": [{"channel": "inbox", "address": "canbo@yenthe.example.vn"}]}, "channels.0.address"),
    ({"channels": [{"channel": "inbox"}, {"channel": "inbox"}]}, "channels"),
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


# -- webhook secrets and addresses -----------------------------------------------------------

def raw_log(app) -> list[bytes]:
    """Every stored event's bytes, as the database holds them."""
    with app.recorder.datastore.engine.connect() as conn:
        table = app.recorder.events_table_name
        return [bytes(state) for (state,) in conn.execute(sqlalchemy.text(f"SELECT state FROM {table}"))]


def read_model_text(app) -> str:
    with app.ledger.engine.connect() as conn:
        return " ".join(str(row) for row in conn.execute(sqlalchemy.select(subscriptions)))


def deliverer_for(app, url, tmp_path, key=KEY):
    from notifications.worker import Deliverer

    key_file = tmp_path / f"secrets-{uuid.uuid4().hex[:6]}.key"
    key_file.write_bytes(key + b"\n")
    deliverer = Deliverer({"DATABASE_URL": url, "SECRETS_KEY_FILE": str(key_file), "WEBHOOK_ALLOW_HOSTS": "127.0.0.1"})
    deliverer.subscriptions.recheck_s = 0  # see each change at once, not within a second
    return deliverer


def webhook_only(url, secret=SECRET):
    return [{"channel": "webhook", "address": url, **({"secret": secret} if secret else {})}]


def test_the_log_and_the_read_model_hold_the_webhook_secret_sealed_never_in_clear(catalog, database_url):
    app = app_on(catalog, database_url)
    subscription_id = app.subscribe(subscriber(1))["id"]
    stored = raw_log(app)
    assert any("Cán bộ 1".encode() in state for state in stored)  # the bytes are readable: the test means something
    clear_key = SECRET.removeprefix("whsec_")
    assert not any(SECRET.encode() in state or clear_key.encode() in state for state in stored)
    assert SECRET not in read_model_text(app) and clear_key not in read_model_text(app)
    webhook = with_secret(app.repository.get(uuid.UUID(subscription_id)).channels)
    assert "secret" not in webhook and SecretBox([KEY]).open(webhook["secret_sealed"]) == SECRET


def test_a_webhook_without_a_secret_gets_one_answered_once(catalog, database_url):
    app = app_on(catalog, database_url)
    answer = app.subscribe(subscriber(1, channels=webhook_only("http://127.0.0.1:9/hook", secret="")))
    assert answer["webhook_secret"].startswith("whsec_")
    assert not any(answer["webhook_secret"].encode() in state for state in raw_log(app))
    assert "webhook_secret" not in app.subscribe(subscriber(2))  # given by the subscriber: not echoed


@pytest.mark.parametrize("channels,field,words", [
    (webhook_only("http://127.0.0.1:9/hook", secret="khoa-bi-mat-du-dai-16"), "channels.0.secret", "whsec_"),
    ([{"channel": "email", "address": "a@yenthe.example.vn", "secret": SECRET}], "channels.0.secret", "webhook"),
    (webhook_only("http://10.1.2.3/hook"), "channels.0.address", "mạng riêng"),
    (webhook_only("http://169.254.169.254/latest/meta-data/"), "channels.0.address", "siêu dữ liệu"),
    (webhook_only("http://[::1]:8080/hook"), "channels.0.address", "loopback"),
    (webhook_only("http://localhost:8080/hook"), "channels.0.address", "127.0.0.1"),  # a name, resolved
    (webhook_only("https://khong-co-may-nay.invalid/hook"), "channels.0.address", "Không tìm thấy máy chủ"),
])
def test_a_bad_webhook_secret_or_address_is_refused_naming_the_field(catalog, database_url, channels, field, words):
    app = app_on(catalog, database_url, addresses=AddressPolicy())  # production: nothing private allowed
    with pytest.raises(InvalidInput) as caught:
        app.subscribe(subscriber(1, channels=channels))
    assert caught.value.detail == field and field in caught.value.message and words in caught.value.message
    assert app.subscriptions.active() == [] and raw_log(app) == []


def test_an_email_channel_is_one_address_never_a_list(catalog, database_url):
    app = app_on(catalog, database_url)
    for smuggled in ("a@x.example.vn,b@y.example.vn", "a@x.example.vn; b@y.example.vn",
                     "Cán bộ <a@x.example.vn>", "a@x.example.vn\nBcc: b@y.example.vn"):
        with pytest.raises(InvalidInput) as caught:
            app.subscribe(subscriber(1, channels=[{"channel": "email", "address": smuggled}]))
        assert caught.value.detail == "channels.0.address"


def test_an_old_subscription_with_a_clear_secret_still_delivers_once_sealed(catalog, postgres_url, tmp_path):
    """Events recorded before sealing carry the secret in clear: they are never edited. The
    read model leaves it out; the service seals it by a new event, and deliveries go on,
    signed with the very same secret."""
    from notifications.domainmodel import Subscription

    app = app_on(catalog, postgres_url)
    old_secret = "khoa-cu-cua-bao-bac-giang-2018"
    with WebhookSink(free_port(), old_secret) as hook:
        old = Subscription.subscribe(recipient_id="bao-bac-giang", recipient_kind="unit", name="Báo Bắc Giang",
                                     locale="vi", filters={"fields": ["household-economy"]},
                                     channels=[{"channel": "inbox", "address": "", "secret": ""},
                                               {"channel": "webhook", "address": hook.url, "secret": old_secret}],
                                     preferences={"muted": False, "digest": False, "quiet_hours": None})
        app.save(old)  # as the service of 2026 recorded it
        app.subscriptions.catch_up()
        assert old_secret not in read_model_text(app)
        assert app.reseal_secrets(legacy_only=True) == {"legacy": 1, "rekeyed": 0}
        assert app.reseal_secrets() == {"legacy": 0, "rekeyed": 0}  # done once
        assert app.repository.get(old.id).version == 2  # a new event; the first one is as it was
        assert any(old_secret.encode() in state for state in raw_log(app))  # (history is not rewritten)
        webhook_delivery = [d for d in receive(app, event()) if app.ledger.delivery(d)["channel"] == "webhook"][0]
        assert deliverer_for(app, postgres_url, tmp_path).deliver(webhook_delivery) == "sent"
        assert list(hook.unique) == [webhook_delivery] and hook.bad_signatures == 0


def test_a_rotated_secret_is_what_the_receiver_must_verify_with(catalog, postgres_url, tmp_path):
    app = app_on(catalog, postgres_url)
    with WebhookSink(free_port(), SECRET) as hook:
        subscription_id = app.subscribe(subscriber(1, channels=webhook_only(hook.url)))["id"]
        deliverer = deliverer_for(app, postgres_url, tmp_path)
        first = receive(app, event())[0]
        assert deliverer.deliver(first) == "sent" and hook.bad_signatures == 0
        rotated = app.rotate_secret(subscription_id, {})
        new_secret = rotated["webhook_secret"]
        assert new_secret != SECRET and not any(new_secret.encode() in state for state in raw_log(app))
        second = receive(app, event())[0]
        with pytest.raises(DeliveryFailed):  # the receiver still checks with the old secret: 401
            deliverer.deliver(second)
        assert hook.bad_signatures == 1 and list(hook.unique) == [first]
        hook.secret = new_secret  # the subscriber takes the new one
        assert deliverer.deliver(second) == "sent" and list(hook.unique) == [first, second]
    given = new_webhook_secret()
    assert "webhook_secret" not in app.rotate_secret(subscription_id, {"secret": given})  # given: not echoed
    with pytest.raises(InvalidInput):
        app.rotate_secret(subscription_id, {"secret": "ngan-qua"})
    inbox_only = app.subscribe(subscriber(2, channels=[{"channel": "inbox"}]))["id"]
    with pytest.raises(InvalidInput):
        app.rotate_secret(inbox_only, {})


def test_a_new_service_key_reseals_every_secret_and_the_old_key_can_then_go(catalog, postgres_url, tmp_path):
    app = app_on(catalog, postgres_url)
    with WebhookSink(free_port(), SECRET) as hook:
        app.subscribe(subscriber(1, channels=webhook_only(hook.url)))
        app.subscribe(subscriber(2, channels=webhook_only(hook.url)))
        new_key = Fernet.generate_key()
        rotated = app_on(catalog, postgres_url, box=SecretBox([new_key, KEY]))  # the new key first in the file
        assert rotated.reseal_secrets() == {"legacy": 0, "rekeyed": 2}
        assert rotated.reseal_secrets() == {"legacy": 0, "rekeyed": 0}
        delivery = receive(rotated, event())[0]
        assert deliverer_for(rotated, postgres_url, tmp_path, key=new_key).deliver(delivery) == "sent"  # new key alone
        assert hook.bad_signatures == 0 and list(hook.unique) == [delivery]


def test_nothing_is_sent_for_a_cancelled_subscription(catalog, postgres_url, tmp_path):
    app = app_on(catalog, postgres_url)
    with WebhookSink(free_port(), SECRET) as hook:
        subscription_id = app.subscribe(subscriber(1, channels=[{"channel": "inbox"}, *webhook_only(hook.url)]))["id"]
        deliverer = deliverer_for(app, postgres_url, tmp_path)
        waiting = receive(app, event())
        assert len(waiting) == 2 and deliverer.subscriptions.webhook_key(subscription_id)  # opened and kept
        app.cancel(subscription_id, {"reason": "Báo thôi nhận tin"})
        assert {app.ledger.delivery(d)["status"] for d in waiting} == {"cancelled"}
        assert [deliverer.deliver(d) for d in waiting] == ["already-sent-or-unknown"] * 2
        app.ledger.requeue(waiting)  # as if queued again behind the cancellation's back
        assert [deliverer.deliver(d) for d in waiting] == ["cancelled"] * 2
        assert hook.received == [] and app.ledger.inbox_of("nguoi-1")["total"] == 0
        assert deliverer.subscriptions._opened == {}  # its secret forgotten by the worker
        assert "secret_sealed" not in read_model_text(app)  # and by the read model
        with pytest.raises(RuleViolation):
            app.rotate_secret(subscription_id, {})


def test_a_webhook_whose_address_is_refused_when_sending_is_parked_at_once(catalog, postgres_url, tmp_path):
    """Allowed when subscribing, refused when sending (the operator narrowed the allow-list,
    or the name now resolves elsewhere): retrying cannot help, so it is parked with the reason."""
    app = app_on(catalog, postgres_url)
    app.subscribe(subscriber(1, channels=webhook_only("http://127.0.0.1:9/hook")))
    delivery = receive(app, event())[0]
    deliverer = deliverer_for(app, postgres_url, tmp_path)
    deliverer.senders["webhook"].pools = WebhookPools(concurrency=1, addresses=AddressPolicy())
    assert deliverer.deliver(delivery) == "parked"
    row = app.ledger.delivery(delivery)
    assert row["status"] == "parked" and "127.0.0.1, a loopback address; refused" in row["last_error"]


def test_subscription_events_leave_the_service_without_their_secrets(catalog, postgres_url, amqp_uri):
    from notifications.bootstrap import SubscriptionRelay
    from shared.signing import load_signer

    app = app_on(catalog, postgres_url)
    subscription_id = app.subscribe(subscriber(1))["id"]
    app.rotate_secret(subscription_id, {})
    relay = SubscriptionRelay(app, "notifications", "notifications-test",
                              amqp_uri, load_signer("notifications-test", keys_dir=TRUSTED_KEYS_DIR))
    try:
        wired = [relay.to_wire(n) for n in app.recorder.select_notifications(start=1, limit=10)]
    finally:
        relay.close()
    assert [w.type for w in wired] == ["subscription.created", "subscription.secret_rotated"]
    payloads = json.dumps([w.payload for w in wired])
    assert "secret" not in payloads and "whsec_" not in payloads and "127.0.0.1:9/hook" in payloads
    assert wired[1].payload == {"channel": "webhook"}


def test_a_stored_delivery_on_a_channel_no_longer_known_is_parked_never_sent_another_way(catalog, postgres_url,
                                                                                         tmp_path):
    """A subscription in the log naming a channel since removed from the registry: its
    deliveries are recorded (not held by quiet hours) and the worker parks each at once,
    the reason named, instead of sending it on some other channel."""
    from notifications.domainmodel import Subscription

    app = app_on(catalog, postgres_url)
    old = Subscription.subscribe(recipient_id="nguoi-cu", recipient_kind="person", name="Cán bộ cũ", locale="vi",
                                 filters={"fields": ["household-economy"]},
                                 channels=[{"channel": "pigeon", "address": "chuong-bo-cau-1"}],
                                 preferences={"quiet_hours": {"start": "05:00", "end": "07:00"}})
    app.save(old)
    at = dt.datetime(2018, 10, 12, 23, 0, tzinfo=dt.timezone.utc)  # 06:00 in Hà Nội: quiet hours
    [delivery] = receive(app, event(), at=at)
    assert app.ledger.delivery(delivery)["status"] == "queued"
    deliverer = deliverer_for(app, postgres_url, tmp_path)
    assert deliverer.deliver(delivery) == "parked"
    row = app.ledger.delivery(delivery)
    assert row["status"] == "parked" and "UnknownChannel" in row["last_error"] and "'pigeon'" in row["last_error"]
    assert deliverer.deliver(delivery) == "already-sent-or-unknown"  # parked: a redelivered job sends nothing
