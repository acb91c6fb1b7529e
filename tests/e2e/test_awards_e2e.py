"""Across services on the real broker: nomination → council case → decision → exemplar history."""

import datetime as dt
import time
import uuid

import kombu
import pytest
import requests

from conftest import LIFECYCLE, STEPS, detect_data, signed, wait_for
from gateway.http import ACTIONS
from shared.reliable_events import REASON_HEADER, parked_queue_name
from shared.relay import events_exchange
from shared.wire import WireEvent, routing_key

pytestmark = pytest.mark.integration
ACTION_OF = {command: action for action, command in ACTIONS.items()}
DISTRICT, PROVINCE = "huyen-yen-the", "tinh-bac-giang"
NOMINATION_QUEUE = "evt-nominations-council--awards_huyen_yen_the.on_nominations_event"




def get(system, path, **params):
    response = requests.get(system.url(path), params=params, timeout=30, headers=system.auth_for(path))
    assert response.status_code == 200, response.text
    return response.json()


def post(system, path, body):
    return requests.post(system.url(path), json=body, timeout=30, headers=system.auth_for(path))


def nominated_exemplar(system, award_form="giay-khen", kind="household"):
    exemplar_id = post(system, "/exemplars", detect_data(subject_kind=kind)).json()["id"]
    for step in LIFECYCLE[:4]:
        assert post(system, f"/exemplars/{exemplar_id}/{ACTION_OF[step]}", STEPS[step]).status_code == 200
    nomination = STEPS["nominate"] | {"award_form": award_form}
    assert post(system, f"/exemplars/{exemplar_id}/nominations", nomination).status_code == 200
    return exemplar_id


def case_for(system, council, exemplar_id, status=None):
    cases = get(system, f"/councils/{council}/cases", **({"status": status} if status else {}))["items"]
    return next((c for c in cases if c["exemplar_id"] == exemplar_id), None)


def history_types(system, exemplar_id):
    return [h["type"] for h in get(system, f"/exemplars/{exemplar_id}/history")]


def test_a_district_decision_lands_on_the_exemplar_history(system):
    exemplar_id = nominated_exemplar(system)
    case = wait_for(lambda: case_for(system, DISTRICT, exemplar_id), what="the district case")
    view = get(system, f"/councils/{DISTRICT}/cases/{case['id']}")
    assert view["eligibility"]["eligible"] and view["exemplar_history"][0]["type"] == "exemplar.detected"

    path = f"/councils/{DISTRICT}/cases/{case['id']}"
    no_quorum = post(system, path + "/appraisal", {"passed": True, "appraiser": "Phòng Nội vụ", "note": "Đủ",
                                                   "business_date": "2018-10-10"})
    assert no_quorum.status_code == 200
    refused = post(system, path + "/sessions", {"session": "Phiên 10/2018", "members": 9, "present": 5,
                                                "in_favour": 5, "against": 0, "business_date": "2018-10-12"})
    assert refused.status_code == 409 and refused.json()["rule"] == "no-quorum"
    assert "hai phần ba" in refused.json()["title"]
    assert post(system, path + "/sessions", {"session": "Phiên 10/2018", "members": 9, "present": 8,
                                             "in_favour": 7, "against": 1, "business_date": "2018-10-12"}
                ).status_code == 200
    decided = post(system, path + "/decision", {"decision_number": "123/QĐ-UBND", "signer": "Chủ tịch UBND huyện",
                                                "business_date": "2018-10-20"})
    assert decided.status_code == 200, decided.text

    wait_for(lambda: "exemplar.awarded" in history_types(system, exemplar_id), what="the award on the history")
    for step in LIFECYCLE[5:]:  # publicity and replication after the award
        assert post(system, f"/exemplars/{exemplar_id}/{ACTION_OF[step]}", STEPS[step]).status_code == 200
    assert history_types(system, exemplar_id) == [
        "exemplar.detected", "exemplar.nurture_planned", "exemplar.progress_recorded", "exemplar.reviewed",
        "exemplar.endorsed", "exemplar.nominated", "exemplar.council_case_progressed", "exemplar.awarded",
        "exemplar.publicized", "exemplar.adoption_started",
    ]
    awarded = get(system, f"/exemplars/{exemplar_id}/history")[7]
    assert awarded["payload"]["decision_number"] == "123/QĐ-UBND" and awarded["business_date"] == "2018-10-20"
    listed = wait_for(lambda: [a for a in get(system, f"/councils/{DISTRICT}/awards", year=2018,
                                              field="household-economy")["items"] if a["exemplar_id"] == exemplar_id],
                      what="the award in the council's list")
    assert listed[0]["decision_number"] == "123/QĐ-UBND" and listed[0]["award_form"] == "giay-khen"


def test_a_form_above_the_district_is_forwarded_to_the_province(system):
    exemplar_id = nominated_exemplar(system, award_form="bang-khen-tinh")
    wait_for(lambda: case_for(system, PROVINCE, exemplar_id), what="the province case")
    assert case_for(system, DISTRICT, exemplar_id, status="forwarded")["status"] == "forwarded"

    def steps():
        history = get(system, f"/exemplars/{exemplar_id}/history")
        return [(h["payload"]["step"], h["payload"]["council_level"]) for h in history
                if h["type"] == "exemplar.council_case_progressed"]

    wait_for(lambda: len(steps()) == 3, what="both councils on the history")
    assert steps() == [("opened", "district"), ("forwarded", "district"), ("opened", "province")]


def publish_raw(system, event: WireEvent) -> None:
    """As a department's relay would: signed by its instance, routed to its council."""
    with kombu.Connection(system.amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(signed(event).to_message(), exchange=events_exchange("nominations"),
                                routing_key=routing_key(event),
                                serializer="json", delivery_mode=2, declare=[events_exchange("nominations")])


def test_the_same_nomination_delivered_twice_opens_one_case(system):
    exemplar_id = uuid.uuid4()
    event = WireEvent(type="exemplar.nominated", source="nominations", instance=f"dup-test-{uuid.uuid4().hex[:6]}",
                      notification_id=1, aggregate_id=exemplar_id, aggregate_version=6,
                      business_date=dt.date(2018, 10, 2),
                      payload={"award_form": "giay-khen", "dossier_refs": ["TTr 1"], "achievement": "Kinh tế giỏi",
                               "subject": {"subject_kind": "household", "name": "Hộ bà Lý Thị Mai",
                                           "field": "household-economy", "unit": "xã Tam Tiến",
                                           "department": "hoi-nong-dan-yen-the"},
                               "council_level": "district", "jurisdiction": DISTRICT})
    publish_raw(system, event)
    publish_raw(system, event)
    wait_for(lambda: case_for(system, DISTRICT, str(exemplar_id)), what="the case")
    time.sleep(1.0)  # give the second copy every chance to be (wrongly) applied
    cases = [c for c in get(system, f"/councils/{DISTRICT}/cases")["items"] if c["exemplar_id"] == str(exemplar_id)]
    assert len(cases) == 1


def test_a_failing_handler_is_retried_then_parked_with_its_reason_not_dropped(system):
    poison = WireEvent(type="exemplar.nominated", source="nominations", instance=f"poison-{uuid.uuid4().hex[:6]}",
                       notification_id=1, aggregate_id=uuid.uuid4(), aggregate_version=6,
                       business_date=dt.date(2018, 10, 2),
                       payload={"award_form": "huy-chuong-khong-ton-tai", "dossier_refs": [], "achievement": "x",
                                "subject": {"subject_kind": "household", "name": "x", "field": "household-economy",
                                            "unit": "x", "department": "hoi-nong-dan-yen-the"},
                                "council_level": "district", "jurisdiction": DISTRICT})
    publish_raw(system, poison)

    def parked():
        with kombu.Connection(system.amqp_uri) as conn:
            queue = kombu.Queue(parked_queue_name(NOMINATION_QUEUE), durable=True)(conn.channel())
            while True:
                message = queue.get(no_ack=False)
                if message is None:
                    return None
                if message.payload.get("instance") == poison.instance:
                    message.ack()
                    return message
                message.requeue()
                return None

    message = wait_for(parked, timeout=30, what="the parked message")
    assert message.headers["x-exemplars-attempt"] == 3  # two retries (200 ms, 400 ms), then parked
    assert "huy-chuong-khong-ton-tai" in message.headers[REASON_HEADER]


def test_council_cli_lists_cases_and_refuses_a_session_without_quorum(system):
    exemplar_id = nominated_exemplar(system)
    case = wait_for(lambda: case_for(system, DISTRICT, exemplar_id), what="the district case")
    listed = system.cli("council", "cases", "--council", DISTRICT, "--json")
    assert listed.returncode == 0 and case["id"] in listed.stdout
    appraised = system.cli("council", "appraise", case["id"], "--council", DISTRICT, "--pass", "--appraiser",
                           "Phòng Nội vụ", "--note", "Đủ hồ sơ", "--date", "2018-10-08")
    assert appraised.returncode == 0, appraised.stderr
    refused = system.cli("council", "session", case["id"], "--council", DISTRICT, "--session", "Phiên 1",
                         "--members", "12", "--present", "7", "--for", "7", "--date", "2018-10-10")
    assert refused.returncode == 4 and "túc số" in refused.stderr
    unknown = system.cli("council", "cases", "--council", "xa-khong-ton-tai")
    assert unknown.returncode == 3 and "Không có hội đồng hoặc dịch vụ" in unknown.stderr
