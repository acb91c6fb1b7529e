"""Forged, tampered and unsigned wire events, straight onto the broker: nobody acts on them,
nor on what a trusted key signs that is not its instance's to say (another service's event
type, another council's award).

Every consumer of awards events (the department, both councils, notifications) parks each
one at once with the reason, and the exemplar's history, the councils' award registers and
the deliveries stay as they were. The same event genuinely signed, sent last, is acted on:
the path is live, and what was refused was refused for its signature.
"""

import datetime as dt
import uuid

import psycopg2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import TRUSTED_KEYS_DIR, detect_data, signed, wait_for
from nominations.bootstrap import service_name as nominations_service
from rpc_helpers import publish, rpc_proxy, take_parked
from shared.reliable_events import ATTEMPT_HEADER, REASON_HEADER
from shared.signing import Signer, load_signer
from shared.wire import WireEvent

pytestmark = pytest.mark.integration
DISTRICT, PROVINCE = "awards_huyen_yen_the", "awards_tinh_bac_giang"
STRANGER = "awards_huyen_khong_ton_tai"  # no public key anywhere


@pytest.fixture(scope="module")
def rpc(system):
    with rpc_proxy(amqp_uri=system.amqp_uri) as proxy:
        yield proxy


def award_granted(exemplar_id: str, instance: str, notification_id: int, decision_number: str) -> WireEvent:
    return WireEvent(
        type="award.granted", source="awards", instance=instance, notification_id=notification_id,
        aggregate_id=uuid.uuid4(), aggregate_version=1, business_date=dt.date(2018, 10, 12),
        recorded_at=dt.datetime.now(dt.timezone.utc),
        payload={"case_id": str(uuid.uuid4()), "exemplar_id": exemplar_id,
                 "subject": {"subject_kind": "household", "name": "Hộ ông Hoàng Văn Thắng",
                             "field": "household-economy", "unit": "xã Đồng Tâm", "department": "hoi-nong-dan-yen-the"},
                 "award_form": "giay-khen", "year": 2018, "achievement": "Hộ kinh tế giỏi 2018",
                 "decision_number": decision_number, "signer": "Chủ tịch UBND huyện Yên Thế",
                 "council_level": "district", "jurisdiction": "huyen-yen-the", "prerequisite_award_ids": []})


def test_forged_tampered_and_unsigned_awards_change_nothing_and_are_parked_with_the_reason(system, rpc):
    nominations = getattr(rpc, nominations_service(system.env["NOMINATIONS_INSTANCE_ID"]))
    exemplar_id = nominations.detect(detect_data())["id"]
    recipient = f"so-noi-vu-{uuid.uuid4().hex[:6]}"
    rpc.notifications.subscribe({"recipient_id": recipient, "recipient_kind": "unit", "name": "Sở Nội vụ",
                                 "exemplar_ids": [exemplar_id], "channels": [{"channel": "inbox"}]})
    before = nominations.history(exemplar_id)

    district_key = load_signer(DISTRICT, keys_dir=TRUSTED_KEYS_DIR)  # the council's own (development) key
    base = 10**9 + uuid.uuid4().int % 10**6  # far from the council's own notification ids
    impostor = award_granted(exemplar_id, DISTRICT, base + 1, "9001/QĐ-UBND").signed(
        Signer(DISTRICT, Ed25519PrivateKey.generate())).to_message()
    stranger = award_granted(exemplar_id, STRANGER, base + 2, "9002/QĐ-UBND").signed(
        Signer(STRANGER, Ed25519PrivateKey.generate())).to_message()
    tampered = award_granted(exemplar_id, DISTRICT, base + 3, "9003/QĐ-UBND").signed(district_key).to_message()
    tampered["payload"]["award_form"] = "bang-khen-tinh"
    unsigned = award_granted(exemplar_id, DISTRICT, base + 4, "9004/QĐ-UBND").to_message() | {"schema_version": 2}
    del unsigned["signature"]
    # insiders: trusted keys signing what is not theirs to say (shared.trust)
    notifications_key = load_signer("notifications", keys_dir=TRUSTED_KEYS_DIR)  # the running service's own
    insider = award_granted(exemplar_id, "notifications", base + 6, "9006/QĐ-UBND").signed(
        notifications_key).to_message()
    other_council = award_granted(exemplar_id, PROVINCE, base + 7, "9007/QĐ-UBND").signed(
        load_signer(PROVINCE, keys_dir=TRUSTED_KEYS_DIR)).to_message()  # the province, as if the district
    expected = {base + 1: "bad signature", base + 2: "unknown source instance", base + 3: "bad signature",
                base + 4: "unsigned wire event (schema_version 2)",
                base + 6: "speaks for the notifications service, not awards",
                base + 7: "speaks for council 'tinh-bac-giang', not 'huyen-yen-the'"}
    forged = (impostor, stranger, tampered, unsigned, insider, other_council)
    for body in forged:
        publish(body, "awards", "award.granted", system.amqp_uri)
    genuine = award_granted(exemplar_id, DISTRICT, base + 5, "9005/QĐ-UBND").signed(district_key)
    publish(genuine.to_message(), "awards", "award.granted", system.amqp_uri)

    consumers = [f"evt-awards-#--{nominations_service(system.env['NOMINATIONS_INSTANCE_ID'])}.on_awards_event",
                 f"evt-awards-council--{DISTRICT}.on_awards_event", f"evt-awards-council--{PROVINCE}.on_awards_event",
                 "evt-awards-#--notifications.on_awards_event"]
    for queue in consumers:
        parked = take_parked(queue, lambda body: body.get("notification_id") in expected, len(expected),
                             amqp_uri=system.amqp_uri)
        assert len(parked) == len(expected), queue
        for message in parked:
            reason = message.headers[REASON_HEADER]
            assert reason.startswith("rejected: ") and expected[message.payload["notification_id"]] in reason, reason
            assert message.headers[ATTEMPT_HEADER] == 1  # parked at once: no retries

    # the genuine one, published last, is acted on everywhere; the forged ones before it are not
    after = wait_for(lambda: (lambda h: h if len(h) > len(before) else None)(nominations.history(exemplar_id)),
                     what="the genuine award on the history")
    assert after[:len(before)] == before
    assert [(h["type"], h["payload"]["decision_number"]) for h in after[len(before):]] == [
        ("exemplar.awarded", "9005/QĐ-UBND")]
    for council in (DISTRICT, PROVINCE):
        registered = wait_for(lambda: [a for a in getattr(rpc, council).awards({"year": 2018})["items"]
                                       if a["exemplar_id"] == exemplar_id], what=f"the award registered by {council}")
        assert [a["decision_number"] for a in registered] == ["9005/QĐ-UBND"], council
    assert wait_for(lambda: rpc.notifications.deliveries(f"{DISTRICT}/{base + 5}")["items"], what="the genuine delivery")
    for body in forged:
        assert rpc.notifications.deliveries(f"{body['instance']}/{body['notification_id']}")["items"] == []

    log = (system.logs / "nominations.log").read_text(errors="replace")
    assert f"rejected wire event 'award.granted' from instance '{STRANGER}', notification {base + 2}" in log
    assert "9002/QĐ-UBND" not in log  # who and what it claims to be, never the payload


def test_a_trusted_department_releasing_another_departments_hold_is_parked(system, rpc):
    """The other department's key is trusted and speaks for a department, but the exemplar lives
    in this department's log: the councils park its "release" at once and the hold stays."""
    nominations = getattr(rpc, nominations_service(system.env["NOMINATIONS_INSTANCE_ID"]))
    exemplar_id = nominations.detect(detect_data())["id"]
    held = nominations.change(exemplar_id, "put_on_hold", {"hold_kind": "complaint", "reason": "Đơn khiếu nại",
                                                           "business_date": "2018-05-02"})
    hold_id = held["result"]
    queue = f"evt-nominations-council--{DISTRICT}.on_nominations_event"
    wait_for(lambda: speaker_known_to_district(system, exemplar_id), what="the district hearing of the hold")
    other = f"nominations-doan-thanh-nien-{uuid.uuid4().hex[:6]}"
    release = signed(WireEvent(
        type="exemplar.hold_released", source="nominations", instance=other, notification_id=1,
        aggregate_id=uuid.UUID(exemplar_id), aggregate_version=9, business_date=dt.date(2018, 5, 3),
        payload={"hold_id": hold_id, "resolution": "Đã giải quyết"}), department="doan-thanh-nien-yen-the")
    publish(release.to_message(), "nominations", "exemplar.hold_released", system.amqp_uri)
    (parked,) = take_parked(queue, lambda body: body.get("instance") == other, 1, amqp_uri=system.amqp_uri)
    assert "whose log does not hold it" in parked.headers[REASON_HEADER]
    assert parked.headers[ATTEMPT_HEADER] == 1  # at once: retrying cannot make it theirs
    assert [h["type"] for h in nominations.history(exemplar_id)][-1] == "exemplar.put_on_hold"
    assert speaker_known_to_district(system, exemplar_id) == system.env["NOMINATIONS_INSTANCE_ID"]


def speaker_known_to_district(system, exemplar_id: str) -> str | None:
    """Whom the district's database says may speak of the exemplar (shared.consumer)."""
    url = next(source.split("=", 1)[1] for source in system.env["AUDIT_SOURCES"].split(",")
               if source.startswith(f"awards:{DISTRICT}="))
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT source_instance FROM aggregate_sources WHERE aggregate_id = %s", (exemplar_id,))
        found = cur.fetchone()
    return found[0] if found else None
