"""Routing by the dated topology, on both sides of 2025-07-01, on SQLite and PostgreSQL.

A nomination goes to the council in force on its date; a council forwards up only when a
council in force above it may decide; otherwise the case comes back to the department
with the rule named, on the exemplar's own history. Nothing is forwarded into nothing.
"""

import dataclasses
import datetime as dt
import uuid

import pytest

from awards_helpers import (
    COMMUNE_2025, DISTRICT, PROVINCE_2025, SESSION, TOPOLOGY, as_wire, council_app, nomination_event, published,
)
from conftest import LIFECYCLE, STEPS, detect_data
from nominations.application import NominationsApplication
from nominations.bootstrap import NominationsRuntime
from shared.consumer import IdempotentConsumer
from shared.errors import RuleViolation
from shared.persistence import eventsourcing_env
from shared.topology import Topology
from shared.wire import describe_event

pytestmark = pytest.mark.integration


def cases_of(app, kind="case.opened"):
    return [e for e in published(app, "x") if e.type == kind]


def department_app(catalog, url, department="hoi-nong-dan-yen-the"):
    return NominationsApplication(catalog=catalog, department=department, env=eventsourcing_env(url))


def nominated_on(app, on: str, award_form="giay-khen") -> str:
    """An exemplar taken through the lifecycle and nominated on ``on``; its id."""
    data = detect_data() | {"business_date": on}
    exemplar_id = app.detect(data)["id"]
    for step in LIFECYCLE[:4]:
        app.change(exemplar_id, step, STEPS[step] | {"business_date": on})
    app.change(exemplar_id, "nominate", STEPS["nominate"] | {"award_form": award_form, "business_date": on})
    return exemplar_id


def logged(app, source: str) -> list:
    """What the app's relay would publish: its log as wire events from ``source``."""
    return [as_wire(describe_event(app.mapper.to_domain_event(n)), source, f"{source}-test", n.id)
            for n in app.recorder.select_notifications(start=1, limit=10_000)]


def nominated_payload(app, exemplar_id: str) -> dict:
    return [h for h in app.history(exemplar_id) if h["type"] == "exemplar.nominated"][-1]["payload"]


@pytest.mark.parametrize("on,council", [("2018-10-02", "huyen-yen-the"), ("2025-06-30", "huyen-yen-the"),
                                        ("2025-07-01", "xa-yen-the"), ("2026-03-02", "xa-yen-the")])
def test_a_nomination_is_addressed_to_the_council_in_force_on_its_date(catalog, database_url, on, council):
    app = department_app(catalog, database_url)
    payload = nominated_payload(app, nominated_on(app, on))
    assert payload["jurisdiction"] == council
    assert payload["council_level"] == TOPOLOGY.council(council).level


def test_a_department_outside_the_topology_cannot_nominate_and_nothing_is_stored(catalog, database_url):
    app = department_app(catalog, database_url, department="phong-khong-co-trong-so-do")
    exemplar_id = app.detect(detect_data())["id"]
    for step in LIFECYCLE[:4]:
        app.change(exemplar_id, step, STEPS[step])
    before = len(app.history(exemplar_id))
    with pytest.raises(RuleViolation) as refused:
        app.change(exemplar_id, "nominate", STEPS["nominate"])
    assert refused.value.detail == "no-council-for-department"
    assert "phong-khong-co-trong-so-do" in refused.value.message
    assert len(app.history(exemplar_id)) == before


def test_in_2026_the_commune_decides_a_giay_khen_itself(catalog, database_url):
    commune = council_app(catalog, database_url, COMMUNE_2025)
    assert commune.receive(nomination_event(on="2026-03-02", council=COMMUNE_2025)) == "open"
    case_id = str(cases_of(commune)[-1].aggregate_id)
    commune.change_case(case_id, "appraise", {"passed": True, "appraiser": "Văn phòng UBND xã", "note": "Đủ",
                                              "business_date": "2026-03-05"})
    commune.change_case(case_id, "record_session", SESSION | {"business_date": "2026-03-06"})
    decided = commune.change_case(case_id, "decide", {"decision_number": "15/QĐ-UBND",
                                                      "signer": "Chủ tịch UBND xã Yên Thế",
                                                      "business_date": "2026-03-09"})
    assert decided["status"] == "decided"
    granted = cases_of(commune, "award.granted")[-1]
    assert (granted.payload["council_level"], granted.payload["jurisdiction"]) == ("commune", "xa-yen-the")


def test_in_2026_a_bang_khen_goes_from_the_commune_to_the_merged_province(catalog, database_url, tmp_path):
    commune = council_app(catalog, database_url, COMMUNE_2025)
    province = council_app(catalog, f"sqlite:///{tmp_path / 'bac-ninh.sqlite'}", PROVINCE_2025)
    assert commune.receive(nomination_event(award_form="bang-khen-tinh", on="2026-03-02",
                                            council=COMMUNE_2025)) == "forwarded"
    forwarded = cases_of(commune, "case.forwarded")[-1]
    assert (forwarded.payload["to_level"], forwarded.payload["to_jurisdiction"]) == ("province", "tinh-bac-ninh")
    assert "Bằng khen của Chủ tịch UBND tỉnh" in forwarded.payload["reason"]
    assert province.receive(forwarded) == "open"


def test_a_nomination_reaching_the_district_after_it_was_abolished_is_returned_with_the_rule(catalog, database_url):
    district = council_app(catalog, database_url, DISTRICT)
    exemplar_id = uuid.uuid4()
    assert district.receive(nomination_event(on="2025-08-01", council=DISTRICT, exemplar_id=exemplar_id)) == "returned"
    returned = cases_of(district, "case.returned")[-1]
    assert returned.payload["rule"] == "council-not-in-force"
    assert "huyện Yên Thế không hoạt động vào ngày 01/08/2025" in returned.payload["reason"]
    assert "129/2025" in returned.payload["reason"]
    assert cases_of(district, "case.forwarded") == []  # never upward into nothing
    # the same nomination dated before the reform is the district's to decide
    assert district.receive(nomination_event(on="2025-06-30", council=DISTRICT)) == "open"


def without_the_central_council(catalog):
    """A deployment whose topology names no council above the province."""
    councils = dict(catalog.topology.councils)
    councils["tinh-bac-ninh"] = councils["tinh-bac-ninh"].model_copy(update={"parents": ()})
    councils.pop("tinh-bac-giang")
    councils = {code: c for code, c in councils.items() if code not in ("huyen-yen-the", "xa-dong-tam")}
    departments = {code: d.model_copy(update={"nominates_to": d.nominates_to[1:]})
                   for code, d in catalog.topology.departments.items()}
    return dataclasses.replace(catalog, topology=Topology(councils, departments))


def test_a_form_no_council_in_force_above_may_grant_comes_back_to_the_department(catalog, database_url, tmp_path):
    """The whole path, as the broker would carry it: department -> commune -> back, the rule on the history."""
    catalog = without_the_central_council(catalog)
    department = department_app(catalog, f"sqlite:///{tmp_path / 'department.sqlite'}")
    exemplar_id = nominated_on(department, "2026-03-02", award_form="bang-khen-thu-tuong")
    commune = council_app(catalog, database_url, catalog.topology.council("xa-yen-the"))
    nominated = [e for e in logged(department, "nominations") if e.type == "exemplar.nominated"][-1]
    assert commune.receive(nominated) == "returned"
    returned = cases_of(commune, "case.returned")[-1]
    assert returned.payload["rule"] == "no-council-may-decide"
    assert "Bằng khen của Thủ tướng Chính phủ" in returned.payload["reason"]

    receiver = NominationsRuntime(department, exemplars=None, relay=None, sealer=None, instance="nominations-test",
                                  consumer=IdempotentConsumer(department))
    for event in published(commune, "awards_xa_yen_the"):
        receiver.receive(event)
    last = department.history(exemplar_id)[-1]
    assert last["type"] == "exemplar.council_case_progressed" and last["payload"]["step"] == "returned"
    assert "Không hội đồng nào có hiệu lực ngày 02/03/2026" in last["payload"]["reason"]
    summary = department.summary(exemplar_id)
    assert summary["pending_nomination"] is None and summary["stage"] == "reviewed"  # free to nominate again
    department.change(exemplar_id, "nominate", STEPS["nominate"] | {"award_form": "bang-khen-tinh",
                                                                    "business_date": "2026-03-20"})
    assert dt.date.fromisoformat(department.history(exemplar_id)[-1]["business_date"]) == dt.date(2026, 3, 20)
