"""The awards application on SQLite and PostgreSQL, fed wire events as the broker would."""

import datetime as dt
import itertools
import uuid

import pytest

from awards_helpers import (
    COMMUNE, COMMUNE_2025, DISTRICT, PROVINCE, SESSION, council_app, decide_path, hold_event, nomination_event,
    published,
)
from conftest import LIFECYCLE, STEPS, detect_data
from nominations.application import NominationsApplication
from nominations.bootstrap import NominationsRuntime
from shared.consumer import IdempotentConsumer
from shared.errors import InvalidInput, RuleViolation
from shared.persistence import eventsourcing_env
from shared.wire import WireEvent, describe_event, wire_event

pytestmark = pytest.mark.integration
_granted_ids = itertools.count(1)


def with_facts(event: WireEvent, **facts) -> WireEvent:
    """The nomination as a department sends it now: the subject carries what eligibility needs."""
    subject = event.payload["subject"] | facts
    return event.model_copy(update={"payload": event.payload | {"subject": subject}})


def granted_elsewhere(exemplar_id: uuid.UUID, form: str, year: int, kind: str = "individual") -> WireEvent:
    """An award another council (a commune) granted the same subject, as it reaches the register."""
    return WireEvent(
        type="award.granted", source="awards", instance="awards_xa_dong_tam", notification_id=next(_granted_ids),
        aggregate_id=uuid.uuid4(), aggregate_version=1, business_date=dt.date(year, 12, 20),
        payload={"exemplar_id": str(exemplar_id), "subject": {"subject_kind": kind, "name": "Ông A",
                 "field": "household-economy", "unit": "xã Đồng Tâm", "department": "hoi-nong-dan-yen-the"},
                 "award_form": form, "year": year, "achievement": f"{form} {year}",
                 "decision_number": f"{year}/QĐ-UBND", "council_level": "commune", "jurisdiction": "xa-dong-tam",
                 "prerequisite_award_ids": []})


def initiative(year: int, scope: str = "co-so") -> dict:
    return {"initiative_id": f"I{year}", "title": f"Sáng kiến {year}", "kind": "initiative", "year": year,
            "scope": scope, "recognised_by": "Hội đồng sáng kiến huyện Yên Thế", "reference": f"{year}/QĐ-HĐSK"}


def opened_case(app):
    cases = [e for e in published(app, "x") if e.type == "case.opened"]
    return str(cases[-1].aggregate_id)


def test_a_nomination_opens_one_case_however_often_it_is_delivered(catalog, database_url):
    app = council_app(catalog, database_url)
    event = nomination_event()
    assert app.receive(event) == "open"
    assert app.receive(event) == "duplicate"  # redelivered
    assert app.receive(event.model_copy()) == "duplicate"  # replayed
    assert [e.type for e in published(app, "x")] == ["case.opened"]
    case = app.case_view(opened_case(app))
    assert case["eligibility"]["eligible"] and case["subject"]["name"] == "Hộ ông Hoàng Văn Thắng"


def test_a_nomination_for_another_council_is_not_taken(catalog, database_url):
    app = council_app(catalog, database_url, PROVINCE)
    assert app.receive(nomination_event(council=DISTRICT)) == "not-for-this-council"
    assert published(app, "x") == []


def test_above_authority_the_case_is_forwarded_and_the_province_opens_it(catalog, database_url, tmp_path):
    district = council_app(catalog, database_url)
    province = council_app(catalog, f"sqlite:///{tmp_path / 'province.sqlite'}", PROVINCE)
    assert district.receive(nomination_event(award_form="bang-khen-tinh", kind="household")) == "forwarded"
    forwarded = [e for e in published(district, "awards_huyen_yen_the") if e.type == "case.forwarded"]
    assert forwarded[0].payload["to_level"] == "province"
    assert forwarded[0].payload["to_jurisdiction"] == "tinh-bac-giang"
    assert province.receive(forwarded[0]) == "open"
    assert province.receive(forwarded[0]) == "duplicate"
    case = province.case_view(opened_case(province))
    assert case["forwarded_from"] == "awards_huyen_yen_the" and case["nomination"]["award_form"] == "bang-khen-tinh"


def test_the_district_decides_a_giay_khen_and_it_reaches_the_exemplar(catalog, database_url, tmp_path):
    nominations = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the",
                                         env=eventsourcing_env(f"sqlite:///{tmp_path / 'n.sqlite'}"))
    exemplar_id = nominations.detect(detect_data())["id"]
    for step in LIFECYCLE[:5]:  # up to and including the nomination
        nominations.change(exemplar_id, step, STEPS[step])
    district = council_app(catalog, database_url)
    assert district.receive(nomination_event(exemplar_id=uuid.UUID(exemplar_id))) == "open"
    decided = decide_path(district, opened_case(district))
    assert decided["status"] == "decided"

    receiver = NominationsRuntime(nominations, exemplars=None, relay=None, sealer=None, instance="nominations-test",
                                 consumer=IdempotentConsumer(nominations))
    for event in published(district, "awards_huyen_yen_the"):
        receiver.receive(event)
        assert receiver.receive(event) == "duplicate"
    history = nominations.history(exemplar_id)
    assert [h["type"] for h in history][-3:] == [
        "exemplar.nominated", "exemplar.council_case_progressed", "exemplar.awarded"]
    assert history[-1]["payload"]["decision_number"] == "123/QĐ-UBND"
    assert nominations.summary(exemplar_id)["stage"] == "awarded"


def test_no_decision_while_the_exemplar_is_on_hold(catalog, database_url):
    app = council_app(catalog, database_url)
    exemplar_id = uuid.uuid4()
    app.receive(nomination_event(exemplar_id=exemplar_id))
    case_id = opened_case(app)
    app.receive(hold_event(exemplar_id))
    with pytest.raises(RuleViolation) as caught:
        decide_path(app, case_id)
    assert caught.value.detail == "not-eligible" and "tạm dừng" in caught.value.message
    app.receive(hold_event(exemplar_id, "exemplar.hold_released"))
    assert app.change_case(case_id, "decide", {"decision_number": "5/QĐ-UBND", "signer": "Chủ tịch",
                                               "business_date": "2018-10-21"})["status"] == "decided"


def test_bad_decision_number_is_invalid_input_and_stores_nothing(catalog, database_url):
    app = council_app(catalog, database_url)
    app.receive(nomination_event())
    case_id = opened_case(app)
    before = len(published(app, "x"))
    with pytest.raises(InvalidInput) as caught:
        app.change_case(case_id, "decide", {"decision_number": "quyết định số một", "signer": "x",
                                            "business_date": "2018-10-20"})
    assert caught.value.detail == "decision_number" and len(published(app, "x")) == before


def test_revoking_a_prerequisite_flags_the_award_that_counted_it(catalog, database_url, tmp_path):
    district = council_app(catalog, f"sqlite:///{tmp_path / 'district.sqlite'}")
    province = council_app(catalog, database_url, PROVINCE)
    exemplar_id = uuid.uuid4()
    base_ids = []
    for year in (2021, 2022, 2023):
        # Chiến sĩ thi đua cơ sở: that year's Lao động tiên tiến and a recognised initiative
        district.receive(granted_elsewhere(exemplar_id, "lao-dong-tien-tien", year))
        district.receive(with_facts(
            nomination_event(award_form="chien-si-thi-dua-co-so", on=f"{year}-11-01", kind="individual",
                             exemplar_id=exemplar_id, achievement=f"Xuất sắc {year}"),
            award_year=year, initiatives=[initiative(year)]))
        app_case = opened_case(district)
        district.change_case(app_case, "appraise", {"passed": True, "appraiser": "p", "note": "n",
                                                    "business_date": f"{year}-11-05"})
        district.change_case(app_case, "record_session", SESSION | {"present": 9, "in_favour": 9,
                                                                    "business_date": f"{year}-11-05"})
        base_ids.append(district.change_case(app_case, "decide", {"decision_number": f"{year}/QĐ-UBND",
                                                                  "signer": "Chủ tịch UBND huyện",
                                                                  "business_date": f"{year}-11-10"})["result"])
    for event in published(district, "awards_huyen_yen_the"):
        if event.type.startswith("award."):
            province.receive(event)

    province.receive(nomination_event(award_form="chien-si-thi-dua-tinh", on="2024-03-01", kind="individual",
                                      exemplar_id=exemplar_id, achievement="Sáng kiến cấp tỉnh 2024",
                                      council=PROVINCE))
    case_id = opened_case(province)
    assert province.case_view(case_id)["eligibility"]["eligible"]
    province.change_case(case_id, "appraise", {"passed": True, "appraiser": "Sở Nội vụ", "note": "n",
                                               "business_date": "2024-03-02"})
    province.change_case(case_id, "record_session", SESSION | {"members": 10, "present": 10, "in_favour": 10,
                                                               "business_date": "2024-03-03"})
    province.change_case(case_id, "open_consultation", {"business_date": "2024-03-04"})
    provincial = province.change_case(case_id, "decide", {"decision_number": "88/QĐ-UBND", "signer": "Chủ tịch UBND tỉnh",
                                                          "business_date": "2024-03-12"})["result"]
    for event in published(province, "awards_tinh_bac_giang"):
        if event.type == "award.granted":
            province.receive(event)  # the province hears its own award back from the broker
            district.receive(event)

    revoked = district.revoke_award(base_ids[1], {"ground": "d", "reason": "Phát hiện không đủ tiêu chuẩn",
                                                  "decision_number": "7/QĐ-UBND", "business_date": "2024-06-01"})
    assert revoked["flagged"] == [provincial]  # known to the district, kept by the province
    revocation = [e for e in published(district, "awards_huyen_yen_the") if e.type == "award.revoked"]
    assert province.receive(revocation[0]) == "dependants-flagged"
    assert province.receive(revocation[0]) == "duplicate"
    flagged = [e for e in published(province, "awards_tinh_bac_giang") if e.type == "award.flagged_for_review"]
    assert [e.aggregate_id for e in flagged] == [uuid.UUID(provincial)]
    assert flagged[0].payload["revoked_award_id"] == base_ids[1]
    for event in flagged:
        province.receive(event)
    listed = {a["award_id"]: a for a in province.list_awards({"year": 2024})["items"]}
    assert listed[provincial]["flagged"] is True


def test_commune_council_before_and_after_2025_07_01(catalog, database_url):
    """Chiến sĩ thi đua cơ sở at a commune: forwarded to the district before, decided at home after
    (by the commune that took over the area: the old commune's council is not in force then)."""
    commune = council_app(catalog, database_url, COMMUNE)
    assert commune.receive(nomination_event(award_form="chien-si-thi-dua-co-so", on="2025-06-10", kind="individual",
                                            council=COMMUNE)) == "forwarded"
    forwarded = [e for e in published(commune, "x") if e.type == "case.forwarded"][-1]
    assert forwarded.payload["to_level"] == "district"
    new_commune = council_app(catalog, database_url, COMMUNE_2025)
    assert new_commune.receive(nomination_event(award_form="chien-si-thi-dua-co-so", on="2025-07-10",
                                                kind="individual", council=COMMUNE_2025)) == "open"


def test_a_returned_case_shows_on_the_exemplar_and_it_can_be_nominated_again(catalog, database_url, tmp_path):
    nominations = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the",
                                         env=eventsourcing_env(f"sqlite:///{tmp_path / 'n.sqlite'}"))
    exemplar_id = nominations.detect(detect_data())["id"]
    for step in LIFECYCLE[:5]:
        nominations.change(exemplar_id, step, STEPS[step])
    district = council_app(catalog, database_url)
    district.receive(nomination_event(exemplar_id=uuid.UUID(exemplar_id)))
    district.change_case(opened_case(district), "appraise", {"passed": False, "appraiser": "Phòng Nội vụ",
                                                             "note": "Thiếu minh chứng thu nhập",
                                                             "business_date": "2018-10-08"})
    receiver = NominationsRuntime(nominations, exemplars=None, relay=None, sealer=None, instance="nominations-test",
                                 consumer=IdempotentConsumer(nominations))
    for event in published(district, "awards_huyen_yen_the"):
        receiver.receive(event)
    last = nominations.history(exemplar_id)[-1]
    assert (last["payload"]["step"], last["payload"]["reason"]) == ("returned", "Thiếu minh chứng thu nhập")
    assert nominations.summary(exemplar_id)["stage"] == "reviewed"
    again = nominations.change(exemplar_id, "nominate", STEPS["nominate"] | {"business_date": "2018-11-02"})
    assert again["version"] == len(nominations.history(exemplar_id))


def nominations_log(app: NominationsApplication, instance: str = "nominations-test") -> list[WireEvent]:
    return [wire_event(describe_event(app.mapper.to_domain_event(n)), "nominations", instance, n.id)
            for n in app.recorder.select_notifications(start=1, limit=10_000)]


def test_the_award_year_travels_from_the_nomination_to_the_register(catalog, database_url, tmp_path):
    """Decided in January 2019 for 2018: the award is for 2018, and a second one for 2018 is refused."""
    nominations = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the",
                                         env=eventsourcing_env(f"sqlite:///{tmp_path / 'n.sqlite'}"))
    exemplar_id = nominations.detect(detect_data())["id"]
    for step in LIFECYCLE[:4]:
        nominations.change(exemplar_id, step, STEPS[step])
    nominations.change(exemplar_id, "nominate", STEPS["nominate"] | {"award_year": 2018, "business_date": "2019-01-08"})
    nominated = [e for e in nominations_log(nominations) if e.type == "exemplar.nominated"][-1]
    assert nominated.payload["award_year"] == 2018 and nominated.payload["subject"]["award_year"] == 2018
    district = council_app(catalog, database_url)
    assert district.receive(nominated) == "open"
    assert decide_path(district, opened_case(district), on="2019-01-15")["status"] == "decided"
    granted = [e for e in published(district, "awards_huyen_yen_the") if e.type == "award.granted"]
    assert granted[-1].payload["year"] == 2018 and granted[-1].business_date == dt.date(2019, 1, 15)
    district.receive(granted[-1])
    assert [a["year"] for a in district.list_awards({"exemplar_id": exemplar_id})["items"]] == [2018]

    again = nominated.model_copy(update={"notification_id": nominated.notification_id + 1000, "payload": {
        **nominated.payload, "achievement": "Hộ sản xuất giỏi năm 2018"}})
    district.receive(again)
    case = district.case_view(opened_case(district))
    assert [p["rule"] for p in case["eligibility"]["problems"]] == ["year-form-commended"]
