"""A subject is one subject across departments and years: its titles follow it.

Two departments that know one person by her national id record one subject; an award
granted through one department's exemplar counts at the council when the other department
nominates her (as a commended achievement, and as a prerequisite), on SQLite and PostgreSQL.
"""

import uuid

import pytest

from awards_helpers import PROVINCE, council_app, decide_path, nomination_event, published
from conftest import detect_data
from nominations.application import NominationsApplication
from nominations.domainmodel import Exemplar
from shared.errors import InvalidInput
from shared.persistence import eventsourcing_env

pytestmark = pytest.mark.integration
NATIONAL_ID = "024185000123"


def department(catalog, tmp_path, code):
    return NominationsApplication(catalog=catalog, department=code,
                                  env=eventsourcing_env(f"sqlite:///{tmp_path / (code + '.sqlite')}"))


def test_two_departments_knowing_one_national_id_record_one_subject(catalog, tmp_path):
    farmers = department(catalog, tmp_path, "hoi-nong-dan-yen-the")
    labour = department(catalog, tmp_path, "lien-doan-lao-dong-yen-the")
    person = detect_data(subject_kind="individual", name="Nguyễn Thị Hoa", national_id=NATIONAL_ID)
    a = farmers.summary(farmers.detect(person)["id"])
    b = labour.summary(labour.detect(person | {"unit": "Công ty May Yên Thế"})["id"])
    assert a["id"] != b["id"] and a["subject_id"] == b["subject_id"]
    unknown = farmers.summary(farmers.detect(detect_data(subject_kind="individual"))["id"])
    assert unknown["subject_id"] == unknown["id"]  # nothing to go by: a new subject
    named = labour.summary(labour.detect(detect_data(subject_id=unknown["subject_id"]))["id"])
    assert named["subject_id"] == unknown["subject_id"]  # an officer may name a known subject
    unit = [farmers.summary(farmers.detect(detect_data(subject_kind="collective", unit_code=code))["id"])
            for code in ("HTX-YT-0042", "htx-yt-0042")]
    assert unit[0]["subject_id"] == unit[1]["subject_id"]


@pytest.mark.parametrize("bad,field", [({"national_id": "12345"}, "national_id"),
                                       ({"subject_id": "not-a-uuid"}, "subject_id")])
def test_a_malformed_identity_is_refused_naming_the_field(catalog, tmp_path, bad, field):
    app = department(catalog, tmp_path, "hoi-nong-dan-yen-the")
    with pytest.raises(InvalidInput) as refused:
        app.detect(detect_data() | bad)
    assert refused.value.detail == field


def test_an_exemplar_detected_before_subjects_had_ids_is_its_own_subject():
    state = {"originator_id": uuid.uuid4(), "achievements": ["x"]}
    Exemplar.Detected.upcast_v2_v3(state)
    assert state["subject_id"] == str(state["originator_id"])


def of_subject(event, subject_id: str):
    payload = dict(event.payload)
    payload["subject"] = payload["subject"] | {"subject_id": subject_id}
    return event.model_copy(update={"payload": payload})


def test_an_award_through_one_department_counts_when_another_nominates_the_subject(catalog, database_url, tmp_path):
    district = council_app(catalog, f"sqlite:///{tmp_path / 'district.sqlite'}")
    province = council_app(catalog, database_url, PROVINCE)
    subject_id = str(uuid.uuid4())
    first, second = uuid.uuid4(), uuid.uuid4()  # two exemplars of one subject, in two departments
    for year in (2018, 2019, 2020):
        district.receive(of_subject(nomination_event(award_form="giay-khen", on=f"{year}-10-02", exemplar_id=first,
                                                     achievement=f"Hộ kinh tế giỏi {year}"), subject_id))
        decide_path(district, str([e for e in published(district, "x") if e.type == "case.opened"][-1].aggregate_id),
                    on=f"{year}-10-20", number=f"{year}/QĐ-UBND")
    for event in published(district, "awards_huyen_yen_the"):
        if event.type == "award.granted":
            province.receive(event)

    again = of_subject(nomination_event(award_form="bang-khen-tinh", on="2021-03-01", exemplar_id=second,
                                        achievement="Hộ kinh tế  giỏi 2020.", council=PROVINCE,
                                        instance="nominations-lien-doan"), subject_id)
    assert province.receive(again) == "open"
    case = [e for e in published(province, "x") if e.type == "case.opened"][-1]
    problems = {p["rule"] for p in province.case_view(str(case.aggregate_id))["eligibility"]["problems"]}
    assert "achievement-commended" in problems  # the other exemplar's 2020 award, text normalised

    stranger = nomination_event(award_form="bang-khen-tinh", on="2021-03-01", achievement="Hộ kinh tế giỏi 2020",
                                council=PROVINCE, instance="nominations-lien-doan")
    assert province.receive(stranger) == "open"
    case = [e for e in published(province, "x") if e.type == "case.opened"][-1]
    assert province.case_view(str(case.aggregate_id))["eligibility"]["eligible"]  # another subject: free
