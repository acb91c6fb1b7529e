"""Notifications end to end: real SMTP and HTTP servers on loopback, two workers, the real broker."""

import datetime as dt
import subprocess
import time
import uuid

import kombu
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import LIFECYCLE, STEPS, detect_data, free_port, signed, start_system, wait_for
from gateway.http import ACTIONS
from notifications.ledger import DELIVERY_QUEUE
from shared.relay import events_exchange
from shared.wire import WireEvent
from sinks import SmtpSink, WebhookSink

pytestmark = pytest.mark.integration
ACTION_OF = {command: action for action, command in ACTIONS.items()}
SECRET = "whsec_a2hvYS1reS1obWFjLWN1YS10aW5oLWRvYW4tYmFjLWdpYW5n"
DISTRICT = "huyen-yen-the"


@pytest.fixture(scope="module")
def smtp():
    with SmtpSink(free_port()) as sink:
        yield sink


WORKER_CONCURRENCY = 10  # deliveries a worker runs at once: few, so the kill test's bound is tight


@pytest.fixture(scope="module")
def notify_system(tmp_path_factory, smtp):
    yield from start_system(tmp_path_factory, workers=2,
                            extra_env={"SMTP_PORT": str(smtp.controller.port), "SMTP_HOST": "127.0.0.1",
                                       "NOTIFICATIONS_WORKER_CONCURRENCY": str(WORKER_CONCURRENCY)})




def post(system, path, body):
    return requests.post(system.url(path), json=body, timeout=30, headers=system.auth_for(path))


def get(system, path, **params):
    response = requests.get(system.url(path), params=params, timeout=30, headers=system.auth_for(path))
    assert response.status_code == 200, response.text
    return response.json()


def award_an_exemplar(system) -> str:
    exemplar_id = post(system, "/exemplars", detect_data()).json()["id"]
    for step in LIFECYCLE[:5]:
        assert post(system, f"/exemplars/{exemplar_id}/{ACTION_OF[step]}", STEPS[step]).status_code == 200
    case = wait_for(lambda: next((c for c in get(system, f"/councils/{DISTRICT}/cases")["items"]
                                  if c["exemplar_id"] == exemplar_id), None), what="the case")
    path = f"/councils/{DISTRICT}/cases/{case['id']}"
    post(system, path + "/appraisal", {"passed": True, "appraiser": "Phòng Nội vụ", "note": "Đủ", "business_date": "2018-10-08"})
    post(system, path + "/sessions", {"session": "Phiên 10/2018", "members": 9, "present": 9, "in_favour": 9,
                                      "against": 0, "business_date": "2018-10-10"})
    assert post(system, path + "/decision", {"decision_number": "2156/QĐ-UBND", "signer": "Chủ tịch UBND huyện Yên Thế",
                                             "business_date": "2018-10-12"}).status_code == 200
    return exemplar_id


def test_the_award_reaches_inbox_email_and_signed_webhook_subscribers(notify_system, smtp):
    with WebhookSink(free_port(), SECRET) as hook:
        created = post(notify_system, "/subscriptions", {
            "recipient_id": "hoi-nong-dan-tinh", "recipient_kind": "unit", "name": "Hội Nông dân tỉnh Bắc Giang",
            "fields": ["household-economy"], "event_types": ["exemplar.awarded"],
            "channels": [{"channel": "inbox"}, {"channel": "email", "address": "vanphong@hnd.bacgiang.example.vn"},
                         {"channel": "webhook", "address": hook.url, "secret": SECRET}]})
        assert created.status_code == 201, created.text
        exemplar_id = award_an_exemplar(notify_system)

        inbox = wait_for(lambda: get(notify_system, "/inbox/hoi-nong-dan-tinh")["items"] or None, what="the inbox")
        assert get(notify_system, "/inbox/hoi-nong-dan-tinh")["unread"] == 1
        assert "khen thưởng" in (inbox[0]["subject"] + inbox[0]["body"]).lower()
        mail = wait_for(lambda: [m for m in smtp.messages if m["To"] == "vanphong@hnd.bacgiang.example.vn"],
                        what="the email")[0]
        assert "Hoàng Văn Thắng" in mail.get_content() and mail["Message-ID"]
        delivered = wait_for(lambda: list(hook.unique.values()) or None, what="the webhook")
        assert hook.bad_signatures == 0 and delivered[0]["event"]["aggregate_id"] == exemplar_id

        event_key = f"{delivered[0]['event']['instance']}/{delivered[0]['event']['notification_id']}"
        statuses = wait_for(lambda: (lambda d: d if {x["status"] for x in d} == {"sent"} else None)(
            get(notify_system, "/deliveries", event=event_key)["items"]), what="all sent")
        assert sorted(d["channel"] for d in statuses) == ["email", "inbox", "webhook"]
    read = post(notify_system, "/inbox/hoi-nong-dan-tinh/read", {"delivery_ids": [inbox[0]["delivery_id"]]}).json()
    assert read == {"marked": 1} and get(notify_system, "/inbox/hoi-nong-dan-tinh")["unread"] == 0
    metrics = requests.get(notify_system.metrics_url + "/metrics", timeout=10).text
    families = {family.name: family for family in text_string_to_metric_families(metrics)}
    assert any(sample.labels == {"channel": "email", "status": "sent"} and sample.value >= 1
               for sample in families["exemplars_deliveries"].samples)
    assert "# TYPE exemplars_deliveries_sent_total counter" in metrics
    assert families["exemplars_deliveries_sent"].type == "counter"
    assert families["exemplars_delivery_queue_depth"].type == families["exemplars_delivery_lag_seconds"].type == "gauge"


def test_a_bad_subscription_is_refused_over_http(notify_system):
    refused = post(notify_system, "/subscriptions", {"recipient_id": "x", "recipient_kind": "person", "name": "X",
                                                     "channels": [{"channel": "webhook", "address": "not a url",
                                                                   "secret": SECRET}]})
    assert refused.status_code == 400 and refused.json()["field"] == "channels.0.address"


@pytest.mark.parametrize("address", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1:15672/api",
                                     "http://[fd00::1]/hook", "http://127.0.0.2:5432/"])
def test_a_webhook_to_an_internal_address_is_refused_over_http(notify_system, address):
    """The test system allows 127.0.0.1 (its receivers listen there), nothing else internal."""
    refused = post(notify_system, "/subscriptions", {"recipient_id": "x", "recipient_kind": "person", "name": "X",
                                                     "channels": [{"channel": "webhook", "address": address}]})
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "channels.0.address" and "webhook" in refused.json()["title"]


def test_a_webhook_secret_made_by_the_service_rotated_and_dropped_on_cancel(notify_system):
    """The service makes the secret and answers it once; a rotation (officers' CLI) changes
    what the receiver verifies with; after the cancellation nothing reaches it."""
    exemplar_id = uuid.uuid4()
    with WebhookSink(free_port(), "") as hook:
        created = post(notify_system, "/subscriptions", {
            "recipient_id": "bao-bac-giang", "recipient_kind": "unit", "name": "Báo Bắc Giang",
            "exemplar_ids": [str(exemplar_id)], "channels": [{"channel": "webhook", "address": hook.url}]})
        assert created.status_code == 201, created.text
        subscription_id, hook.secret = created.json()["id"], created.json()["webhook_secret"]
        time.sleep(1.5)  # the subscription reaches the read model before the event
        instance = publish_awarded(notify_system, exemplar_id).instance
        first = wait_for(lambda: list(hook.unique) or None, what="the first webhook")
        assert hook.bad_signatures == 0

        rotated = notify_system.cli("rotate-secret", subscription_id)
        assert rotated.returncode == 0, rotated.stderr
        old_secret, hook.secret = hook.secret, __import__("json").loads(rotated.stdout)["webhook_secret"]
        assert hook.secret != old_secret
        publish_awarded(notify_system, exemplar_id, instance, 2)
        wait_for(lambda: len(hook.unique) == 2, what="the webhook signed with the new secret")
        assert hook.bad_signatures == 0

        cancelled = post(notify_system, f"/subscriptions/{subscription_id}/cancellation", {"reason": "Thôi nhận"})
        assert cancelled.status_code == 200, cancelled.text
        publish_awarded(notify_system, exemplar_id, instance, 3)
        time.sleep(3)
        assert len(hook.received) == 2 and first[0] in hook.unique


def publish_awarded(system, exemplar_id: uuid.UUID, instance: str | None = None, notification_id: int = 1) -> WireEvent:
    """``instance``: the log that holds the exemplar (its next event comes from the same one)."""
    event = WireEvent(type="exemplar.awarded", source="nominations", instance=instance or f"e2e-{uuid.uuid4().hex[:6]}",
                      notification_id=notification_id, aggregate_id=exemplar_id, aggregate_version=8 + notification_id,
                      business_date=dt.date(2018, 10, 12),
                      payload={"award_id": str(uuid.uuid4()), "award_form": "giay-khen",
                               "decision_number": "2156/QĐ-UBND", "signer": "Chủ tịch UBND huyện Yên Thế",
                               "council_level": "district", "jurisdiction": DISTRICT})
    with kombu.Connection(system.amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(signed(event).to_message(), exchange=events_exchange("nominations"),
                                routing_key=event.type,
                                serializer="json", delivery_mode=2, declare=[events_exchange("nominations")])
    return event


def test_a_failing_webhook_is_retried_then_parked_and_an_operator_replays_it(notify_system):
    exemplar_id = uuid.uuid4()
    with WebhookSink(free_port(), SECRET, fail_first=100) as hook:
        post(notify_system, "/subscriptions", {
            "recipient_id": "so-noi-vu", "recipient_kind": "unit", "name": "Sở Nội vụ", "exemplar_ids": [str(exemplar_id)],
            "channels": [{"channel": "webhook", "address": hook.url, "secret": SECRET}]})
        time.sleep(1.5)  # the subscription reaches the read model before the event
        publish_awarded(notify_system, exemplar_id)
        parked = wait_for(lambda: [p for p in get(notify_system, "/operator/parked")["items"] if p["recipient_id"] == "so-noi-vu"],
                          what="the parked delivery")
        assert "503" in parked[0]["last_error"] and parked[0]["attempts"] == 3
        hook.fail_left = 0  # the receiver is fixed
        replayed = post(notify_system, "/operator/replay", {"delivery_ids": [parked[0]["delivery_id"]]}).json()
        assert replayed["replayed"] == [parked[0]["delivery_id"]]
        wait_for(lambda: parked[0]["delivery_id"] in hook.unique, what="the replayed delivery")


def test_killing_a_worker_mid_batch_loses_and_repeats_nothing_in_effect(notify_system):
    recipients = [f"don-vi-{n:03d}" for n in range(300)]
    exemplar_id = uuid.uuid4()
    with WebhookSink(free_port(), SECRET, delay=0.02) as hook:
        for recipient in recipients:
            post(notify_system, "/subscriptions", {
                "recipient_id": recipient, "recipient_kind": "unit", "name": recipient,
                "exemplar_ids": [str(exemplar_id)],
                "channels": [{"channel": "webhook", "address": hook.url, "secret": SECRET}]})
        time.sleep(1.5)
        publish_awarded(notify_system, exemplar_id)
        wait_for(lambda: len(hook.unique) >= 60, what="the batch under way")
        notify_system.processes["notifications-worker-1"].kill()  # SIGKILL: no goodbye, unacked jobs return
        wait_for(lambda: len(hook.unique) == len(recipients), timeout=90, what="every recipient")
        per_recipient = {}
        for payload in hook.unique.values():
            per_recipient.setdefault(payload["recipient_id"], []).append(payload)
        assert sorted(per_recipient) == recipients and all(len(v) == 1 for v in per_recipient.values())
        assert hook.bad_signatures == 0
        # A job in flight when the worker died may be sent again with the same delivery id (the
        # receiver dedupes on it); no more than one worker's prefetch (its concurrency) can be in flight.
        assert len(hook.received) - len(hook.unique) <= WORKER_CONCURRENCY


def unacked_jobs(system) -> int:
    vhost = system.amqp_uri.rsplit("/", 1)[1]
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages_unacknowledged"],
                            check=True, capture_output=True, text=True, timeout=60).stdout
    return sum(int(count) for name, count in (line.split() for line in listed.splitlines() if line.strip())
               if name == DELIVERY_QUEUE)


def test_slow_receivers_hold_back_no_other_deliveries_and_every_job_is_acked(notify_system):
    exemplar_id = uuid.uuid4()
    with WebhookSink(free_port(), SECRET, delay=6) as slow, WebhookSink(free_port(), SECRET) as fast:
        for n in range(64):
            hook = slow if n % 16 == 0 else fast  # 4 slow receivers among them
            post(notify_system, "/subscriptions", {
                "recipient_id": f"nhan-{n:02d}", "recipient_kind": "unit", "name": f"Đơn vị {n}",
                "exemplar_ids": [str(exemplar_id)],
                "channels": [{"channel": "webhook", "address": hook.url, "secret": SECRET}]})
        time.sleep(1.5)
        publish_awarded(notify_system, exemplar_id)
        # Each worker runs 10 at once: finished jobs behind a slow one must still be acked,
        # or its prefetch fills and it stops taking jobs until the slow one ends.
        wait_for(lambda: len(fast.unique) == 60, timeout=60, what="the fast receivers")
        assert len(slow.unique) == 0, "the fast deliveries waited for the slow ones"
        wait_for(lambda: len(slow.unique) == 4, timeout=60, what="the slow receivers")
        wait_for(lambda: unacked_jobs(notify_system) == 0 or None, what="every job acked")


def test_the_cli_subscribes_changes_preferences_and_refuses_a_bad_address(notify_system):
    created = notify_system.cli("subscribe", "--recipient", "can-bo-phong-noi-vu", "--name", "Cán bộ Phòng Nội vụ",
                                "--field", "household-economy", "--email", "noivu@yenthe.example.vn")
    assert created.returncode == 0, created.stderr
    subscription_id = __import__("json").loads(created.stdout)["id"]
    changed = notify_system.cli("preferences", subscription_id, "--digest", "--quiet", "22:00-06:00")
    assert changed.returncode == 0 and '"version": 2' in changed.stdout
    refused = notify_system.cli("subscribe", "--recipient", "x", "--name", "X", "--email", "khong-phai-dia-chi")
    assert refused.returncode == 2 and "channels" in refused.stderr
    inbox = notify_system.cli("inbox", "can-bo-phong-noi-vu")
    assert inbox.returncode == 0 and "0 thông báo chưa đọc" in inbox.stdout
