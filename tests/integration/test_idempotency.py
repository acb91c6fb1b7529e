"""Retried commands (shared.requests): the same Idempotency-Key gets the first attempt's answer
and stores nothing more; the same key for another command is refused; every event a person's
command stores says who asked. On the library's stores as production runs them."""

from __future__ import annotations

import uuid

import pytest

from awards_helpers import SESSION, case_id_of, council_app, nomination_event
from conftest import LIFECYCLE, STEPS, detect_data
from nominations.application import NominationsApplication
from shared.errors import IdempotencyKeyReused
from shared.persistence import eventsourcing_env


def officer(key: str | None = None, sub: str = "can-bo-hnd") -> dict:
    return {"sub": sub, "role": "department_officer", "idempotency_key": key}


@pytest.fixture
def nominations(catalog, database_url):
    return NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the",
                                  env=eventsourcing_env(database_url))


def stored(app) -> int:
    return app.recorder.max_notification_id() or 0


def test_a_detection_retried_with_its_key_makes_one_exemplar(nominations):
    first = nominations.detect(detect_data(), officer("k-1"))
    again = nominations.detect(detect_data(), officer("k-1"))
    assert again == first | {"replayed": True} and stored(nominations) == 1
    other = nominations.detect(detect_data(), officer("k-2"))  # a new key: a new exemplar
    assert other["id"] != first["id"] and stored(nominations) == 2
    someone_else = nominations.detect(detect_data(), officer("k-1", sub="can-bo-khac"))  # keys are per caller
    assert someone_else["id"] not in (first["id"], other["id"])
    assert nominations.history(first["id"])[0]["recorded_by"] == {"sub": "can-bo-hnd", "role": "department_officer"}


def test_a_key_used_again_for_another_command_is_refused_and_stores_nothing(nominations):
    exemplar_id = nominations.detect(detect_data(), officer("k-1"))["id"]
    with pytest.raises(IdempotencyKeyReused) as refused:
        nominations.detect(detect_data(name="Hộ bà Lý Thị Mai"), officer("k-1"))
    assert refused.value.detail == "k-1" and "đã dùng cho một thao tác khác" in refused.value.message
    nominations.change(exemplar_id, "plan_nurture", STEPS["plan_nurture"], caller=officer("k-2"))
    before = stored(nominations)
    with pytest.raises(IdempotencyKeyReused):
        nominations.change(exemplar_id, "record_progress", STEPS["record_progress"], caller=officer("k-2"))
    assert stored(nominations) == before


def test_a_change_retried_after_its_commit_is_answered_not_applied_twice(nominations):
    exemplar_id = nominations.detect(detect_data(), officer("d"))["id"]
    for step in LIFECYCLE[:4]:
        nominations.change(exemplar_id, step, STEPS[step], caller=officer(f"step-{step}"))
    hold = {"hold_kind": "complaint", "reason": "Đơn khiếu nại", "business_date": "2018-09-26"}
    first = nominations.change(exemplar_id, "put_on_hold", hold, expected_version=5, caller=officer("hold-1"))
    # the reply was lost; the client sends the same request again, If-Match and all
    again = nominations.change(exemplar_id, "put_on_hold", hold, expected_version=5, caller=officer("hold-1"))
    assert again == first | {"replayed": True} and again["result"] == first["result"]
    history = nominations.history(exemplar_id)
    assert [h["type"] for h in history].count("exemplar.put_on_hold") == 1 and len(history) == 6
    assert {h["recorded_by"]["sub"] for h in history} == {"can-bo-hnd"}
    assert "request" not in history[-1]["payload"] and "recorded_by" not in history[-1]["payload"]
    # without a key nothing is remembered: the same hold twice is two holds, as the officer asked
    nominations.change(exemplar_id, "put_on_hold", hold, caller=officer())
    nominations.change(exemplar_id, "put_on_hold", hold)
    assert [h["type"] for h in nominations.history(exemplar_id)].count("exemplar.put_on_hold") == 3
    assert nominations.history(exemplar_id)[-1]["recorded_by"] is None  # no caller given: the system's


def test_a_council_step_and_a_revocation_retried_are_answered_once(catalog, database_url):
    council = council_app(catalog, database_url)
    council.receive(nomination_event())
    case_id = case_id_of(council)
    secretary = {"sub": "thu-ky-huyen", "role": "council_secretary"}
    appraisal = {"passed": True, "appraiser": "Phòng Nội vụ", "note": "Đủ hồ sơ", "business_date": "2018-10-20"}
    first = council.change_case(case_id, "appraise", appraisal, secretary | {"idempotency_key": "a-1"})
    assert council.change_case(case_id, "appraise", appraisal, secretary | {"idempotency_key": "a-1"}) == \
        first | {"replayed": True}
    council.change_case(case_id, "record_session", SESSION | {"business_date": "2018-10-20"},
                        secretary | {"idempotency_key": "s-1"})
    decision = {"decision_number": "123/QĐ-UBND", "signer": "Chủ tịch UBND huyện", "business_date": "2018-10-20"}
    decided = council.change_case(case_id, "decide", decision, secretary | {"idempotency_key": "d-1"})
    replayed = council.change_case(case_id, "decide", decision, secretary | {"idempotency_key": "d-1"})
    assert replayed == decided | {"replayed": True}  # the same award, not a second one
    case_events = [type(e).__name__ for e in council.events.get(uuid.UUID(case_id))]
    assert case_events == ["Opened", "Appraised", "SessionRecorded", "Decided"]
    award_id = decided["result"]
    revocation = {"ground": "a", "reason": "Kê khai không trung thực", "decision_number": "9/QĐ-UBND",
                  "business_date": "2019-03-01"}
    revoked = council.revoke_award(award_id, revocation, secretary | {"idempotency_key": "r-1"})
    assert council.revoke_award(award_id, revocation, secretary | {"idempotency_key": "r-1"}) == \
        revoked | {"replayed": True}
    with pytest.raises(IdempotencyKeyReused):
        council.revoke_award(award_id, revocation | {"reason": "Khác"}, secretary | {"idempotency_key": "r-1"})
    award_events = list(council.events.get(uuid.UUID(award_id)))
    assert [type(e).__name__ for e in award_events].count("Revoked") == 1
    assert all(e.__dict__["recorded_by"] == secretary for e in award_events)


def test_a_subscription_retried_with_its_key_is_one_and_gets_its_made_secret_again(catalog, database_url):
    from cryptography.fernet import Fernet

    from notifications.application import NotificationsApplication
    from notifications.bootstrap import known_event_types
    from notifications.outbound import AddressPolicy
    from notifications.sealing import SecretBox

    app = NotificationsApplication(catalog, known_event_types(), env=eventsourcing_env(database_url),
                                   secret_box=SecretBox([Fernet.generate_key()]),
                                   addresses=AddressPolicy.parse("127.0.0.1"))
    operator = {"sub": "van-hanh", "role": "operator", "idempotency_key": "sub-1"}
    data = {"recipient_id": "so-noi-vu", "recipient_kind": "unit", "name": "Sở Nội vụ",
            "channels": [{"channel": "webhook", "address": "http://127.0.0.1:9/hook"}]}
    first = app.subscribe(data, operator)
    assert first["webhook_secret"].startswith("whsec_")
    again = app.subscribe(data, operator)
    assert again == first | {"replayed": True}  # the secret made the first time, unsealed again
    assert stored(app) == 1
    raw = b"".join(bytes(e.state) for e in app.recorder.select_events(uuid.UUID(first["id"])))
    assert first["webhook_secret"].encode() not in raw and b"whsec_" not in raw
    with pytest.raises(IdempotencyKeyReused):
        app.subscribe(data | {"name": "Sở khác"}, operator)
    preferences = {"muted": True}
    changed = app.change_preferences(first["id"], preferences, operator | {"idempotency_key": "pref-1"})
    assert app.change_preferences(first["id"], preferences, operator | {"idempotency_key": "pref-1"}) == \
        changed | {"replayed": True}
    events = list(app.events.get(uuid.UUID(first["id"])))
    assert len(events) == 2 and all(e.__dict__["recorded_by"]["sub"] == "van-hanh" for e in events)


def while_loading(app, then):
    """``app``'s commands load, and on the first load ``then()`` runs: another copy's command
    stored between this one's load and its save."""
    load, ran = app.writer.load, []

    def load_and_let_the_other_save(aggregate_id):
        aggregate = load(aggregate_id)
        if not ran:
            ran.append(then())
        return aggregate

    app.writer.load = load_and_let_the_other_save


def test_a_secretarys_step_racing_anothers_is_a_conflict_and_a_retry_racing_its_first_attempt_is_answered(
        catalog, database_url):
    from shared.errors import ConcurrentChange

    council, other_copy = council_app(catalog, database_url), council_app(catalog, database_url)
    council.receive(nomination_event())
    case_id = case_id_of(council)
    secretary = {"sub": "thu-ky", "role": "council_secretary"}
    appraise = {"passed": True, "appraiser": "Phòng Nội vụ", "note": "Đủ hồ sơ", "business_date": "2018-10-20"}
    reject = {"reason": "Không đủ tiêu chuẩn", "business_date": "2018-10-20"}
    while_loading(council, lambda: other_copy.change_case(case_id, "reject", reject, secretary))
    with pytest.raises(ConcurrentChange):
        council.change_case(case_id, "appraise", appraise, secretary)
    assert council.get_case(case_id).status == "rejected"  # the other's step stands, nothing overwritten
    assert len(list(council.events.get(uuid.UUID(case_id)))) == 2

    council.receive(nomination_event())
    case_id = case_id_of(council)
    first = {}
    while_loading(council, lambda: first.update(other_copy.change_case(
        case_id, "appraise", appraise, secretary | {"idempotency_key": "a-1"})))
    assert council.change_case(case_id, "appraise", appraise, secretary | {"idempotency_key": "a-1"}) == \
        first | {"replayed": True}
    assert len(list(council.events.get(uuid.UUID(case_id)))) == 2  # appraised once


def test_subscription_changes_racing_are_a_conflict_never_an_overwrite(catalog, database_url):
    from cryptography.fernet import Fernet

    from notifications.application import NotificationsApplication
    from notifications.outbound import AddressPolicy
    from notifications.sealing import SecretBox
    from shared.errors import ConcurrentChange

    box = SecretBox([Fernet.generate_key()])
    app, other_copy = (NotificationsApplication(catalog, set(), env=eventsourcing_env(database_url), secret_box=box,
                                                addresses=AddressPolicy.parse("127.0.0.1")) for _ in range(2))
    operator = {"sub": "van-hanh", "role": "operator"}
    subscription_id = app.subscribe({"recipient_id": "so-noi-vu", "recipient_kind": "unit", "name": "Sở Nội vụ",
                                     "channels": [{"channel": "inbox"}]}, operator)["id"]
    while_loading(app, lambda: other_copy.change_preferences(subscription_id, {"digest": True}, operator))
    with pytest.raises(ConcurrentChange):
        app.change_preferences(subscription_id, {"muted": True}, operator)
    assert app.subscriptions.active()[0]["preferences"] == {"muted": False, "digest": True, "quiet_hours": None}
