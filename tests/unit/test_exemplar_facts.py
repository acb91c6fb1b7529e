"""What an exemplar knows for its titles: initiatives, yearly ratings, rosters, the award year.

On the in-memory store: the new events and commands, what a nomination carries to the
council, and old stored shapes (YearEvaluated's first scale, Nominated without an award
year, a snapshot from before) loading through their upcasters.
"""

import json
import uuid

import pytest
from eventsourcing.persistence import StoredEvent

from conftest import LIFECYCLE, STEPS, detect_data
from nominations.application import NominationsApplication
from nominations.domainmodel import Exemplar
from shared.errors import InvalidInput, RuleViolation

ROSTER = [{"name": "Nguyễn Văn Bình", "title": "lao-dong-tien-tien", "rating": "good"},
          {"name": "Trần Thị Hoa", "rating": "fair", "discipline": "reprimand"}]


def exemplar(app, kind="household", until="nominate"):
    exemplar_id = app.detect(detect_data(subject_kind=kind))["id"]
    for step in LIFECYCLE[:LIFECYCLE.index(until)]:
        app.change(exemplar_id, step, STEPS[step])
    return exemplar_id


def refused(rule, action):
    with pytest.raises(RuleViolation) as caught:
        action()
    assert caught.value.detail == rule
    return caught.value


def test_an_initiative_is_recorded_then_recognised_with_a_scope(memory_app):
    exemplar_id = exemplar(memory_app)
    first = memory_app.change(exemplar_id, "record_initiative", {"title": "Quy trình nuôi gà đồi an toàn sinh học",
                                                                 "year": 2018, "business_date": "2018-08-01"})
    assert first["result"] == "I1"
    recognise = {"initiative_id": "I1", "scope": "co-so", "recognised_by": "Hội đồng sáng kiến huyện Yên Thế",
                 "reference": "15/QĐ-HĐSK", "business_date": "2018-09-01"}
    memory_app.change(exemplar_id, "recognise_initiative", recognise)
    error = refused("initiative-scope-wider", lambda: memory_app.change(exemplar_id, "recognise_initiative", recognise))
    assert "cơ sở" in error.message
    memory_app.change(exemplar_id, "recognise_initiative", recognise | {"scope": "tinh", "reference": "7/QĐ-UBND"})
    assert memory_app.get_exemplar(exemplar_id).initiatives["I1"]["scope"] == "tinh"
    refused("initiative-unknown", lambda: memory_app.change(exemplar_id, "recognise_initiative",
                                                            recognise | {"initiative_id": "I9"}))
    refused("year-future", lambda: memory_app.change(exemplar_id, "record_initiative", {
        "title": "x", "year": 2019, "business_date": "2018-08-01"}))
    with pytest.raises(InvalidInput) as caught:
        memory_app.change(exemplar_id, "recognise_initiative", recognise | {"scope": "huyen"})
    assert caught.value.detail == "scope"


def test_a_roster_is_a_collectives_and_a_later_one_corrects_its_year(memory_app):
    household = exemplar(memory_app)
    refused("roster-collective-only", lambda: memory_app.change(household, "record_roster", {
        "year": 2018, "members": ROSTER, "business_date": "2018-12-20"}))
    collective = exemplar(memory_app, kind="collective")
    memory_app.change(collective, "record_roster", {"year": 2018, "members": ROSTER, "business_date": "2018-12-20"})
    stored = memory_app.get_exemplar(collective).rosters["2018"]
    assert [(m["rating"], m["discipline"]) for m in stored] == [("good", "none"), ("complete", "reprimand")]
    memory_app.change(collective, "record_roster", {"year": 2018, "members": ROSTER[:1],
                                                    "business_date": "2018-12-28"})
    assert len(memory_app.get_exemplar(collective).rosters["2018"]) == 1
    with pytest.raises(InvalidInput):
        memory_app.change(collective, "record_roster", {"year": 2018, "business_date": "2018-12-28", "members": [
            {"name": "A", "rating": "good", "discipline": "ha-bac"}]})


def test_ratings_use_the_legal_scale_and_the_old_codes_still_come_in(memory_app):
    exemplar_id = exemplar(memory_app)
    memory_app.change(exemplar_id, "evaluate_year", {"year": 2018, "rating": "fair", "score": 70,
                                                     "business_date": "2018-12-28"})
    assert memory_app.get_exemplar(exemplar_id).ratings == {"2018": "complete"}
    with pytest.raises(InvalidInput):
        memory_app.change(exemplar_id, "evaluate_year", {"year": 2018, "rating": "khá", "score": 70,
                                                         "business_date": "2018-12-28"})


def test_the_nomination_carries_its_award_year_and_the_facts_for_it(memory_app):
    collective = exemplar(memory_app, kind="collective")
    memory_app.change(collective, "record_initiative", {"title": "Sổ tay kỹ thuật", "kind": "research",
                                                        "year": 2018, "business_date": "2018-10-01"})
    memory_app.change(collective, "record_initiative", {"title": "Chưa công nhận", "year": 2018,
                                                        "business_date": "2018-10-01"})
    memory_app.change(collective, "recognise_initiative", {"initiative_id": "I1", "scope": "co-so",
                                                           "recognised_by": "Hội đồng sáng kiến",
                                                           "reference": "3/QĐ-HĐSK", "business_date": "2018-11-01"})
    memory_app.change(collective, "evaluate_year", {"year": 2018, "rating": "excellent", "score": 95,
                                                    "business_date": "2018-12-28"})
    memory_app.change(collective, "record_roster", {"year": 2018, "members": ROSTER, "business_date": "2018-12-28"})
    refused("award-year-future", lambda: memory_app.change(collective, "nominate", STEPS["nominate"] | {
        "award_year": 2019, "business_date": "2018-12-30"}))
    memory_app.change(collective, "nominate", STEPS["nominate"] | {"award_year": 2018, "business_date": "2019-01-08"})
    payload = memory_app.history(collective)[-1]["payload"]
    assert payload["award_year"] == 2018
    subject = payload["subject"]
    assert subject["award_year"] == 2018 and subject["ratings"] == {"2018": "excellent"}
    assert [(i["initiative_id"], i["kind"], i["scope"]) for i in subject["initiatives"]] == [("I1", "research", "co-so")]
    assert [m["name"] for m in subject["roster"]] == ["Nguyễn Văn Bình", "Trần Thị Hoa"]

    household = exemplar(memory_app)
    memory_app.change(household, "nominate", STEPS["nominate"])
    subject = memory_app.history(household)[-1]["payload"]["subject"]
    assert memory_app.history(household)[-1]["payload"]["award_year"] == 2018  # the business date's year
    assert (subject["roster"], subject["initiatives"], subject["ratings"]) == (None, [], {})


def _stored(app, exemplar_id):
    return list(app.recorder.select_events(uuid.UUID(exemplar_id)))


def _as_v1(record: StoredEvent, change) -> StoredEvent:
    state = json.loads(record.state)
    state.pop("class_version", None)
    change(state)
    return StoredEvent(originator_id=record.originator_id, originator_version=record.originator_version,
                       topic=record.topic, state=json.dumps(state).encode())


def test_old_year_evaluated_and_nominated_shapes_load(catalog, memory_app):
    exemplar_id = exemplar(memory_app)
    memory_app.change(exemplar_id, "evaluate_year", {"year": 2018, "rating": "good", "score": 80,
                                                     "business_date": "2018-09-28"})
    memory_app.change(exemplar_id, "nominate", STEPS["nominate"])
    old_ratings = iter(["poor"])
    rewritten = []
    for record in _stored(memory_app, exemplar_id):
        if record.topic.endswith("Exemplar.YearEvaluated"):
            record = _as_v1(record, lambda s: s.update(rating=next(old_ratings)))
        elif record.topic.endswith("Exemplar.Nominated"):
            record = _as_v1(record, lambda s: (s.pop("award_year"), s.update(subject={
                k: v for k, v in s["subject"].items() if k in ("subject_kind", "name", "field", "unit", "department")
            })))
        rewritten.append(record)
    assert b'"award_year"' not in rewritten[-1].state and b'"poor"' in rewritten[-2].state
    old = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the", env={})
    old.recorder.insert_events(rewritten)
    loaded = old.get_exemplar(exemplar_id)
    assert loaded.ratings == {"2018": "incomplete"} and loaded.stage == "nominated"
    history = old.history(exemplar_id)
    assert history[-1]["payload"]["award_year"] == 2018  # the year it was made in
    assert history[-2]["payload"]["rating"] == "incomplete"
    assert (Exemplar.YearEvaluated.class_version, Exemplar.Nominated.class_version) == (2, 2)
    old.change(exemplar_id, "evaluate_year", {"year": 2019, "rating": "excellent", "score": 90,
                                              "business_date": "2019-12-28"})  # and it lives on
    assert old.get_exemplar(exemplar_id).ratings == {"2018": "incomplete", "2019": "excellent"}


def test_a_snapshot_from_before_the_facts_loads(catalog):
    app = NominationsApplication(catalog=catalog, department="d", env={})
    exemplar_id = exemplar(app)
    app.take_snapshot(uuid.UUID(exemplar_id))
    (snapshot,) = app.snapshots.recorder.select_events(uuid.UUID(exemplar_id))
    state = json.loads(snapshot.state)
    state["state"].pop("class_version", None)
    for key in ("ratings", "initiatives", "rosters"):
        state["state"].pop(key)
    old = NominationsApplication(catalog=catalog, department="d", env={})
    old.recorder.insert_events(_stored(app, exemplar_id))
    old.snapshots.recorder.insert_events([StoredEvent(
        originator_id=snapshot.originator_id, originator_version=snapshot.originator_version, topic=snapshot.topic,
        state=json.dumps(state).encode())])
    loaded = old.get_exemplar(exemplar_id)
    assert (loaded.ratings, loaded.initiatives, loaded.rosters) == ({}, {}, {})
    assert not loaded.snapshot_incomplete  # rebuilt from the events, not from the snapshot
    old.change(exemplar_id, "record_initiative", {"title": "Sáng kiến", "year": 2018, "business_date": "2018-10-01"})


def test_a_snapshot_from_before_the_facts_hides_none_of_the_ratings_before_it(catalog):
    """Ratings were recorded before snapshots kept them: the exemplar comes from its events then."""
    app = NominationsApplication(catalog=catalog, department="d", env={})
    exemplar_id = exemplar(app)
    app.change(exemplar_id, "evaluate_year", {"year": 2018, "rating": "excellent", "score": 92,
                                              "business_date": "2018-12-28"})
    app.take_snapshot(uuid.UUID(exemplar_id))
    (snapshot,) = app.snapshots.recorder.select_events(uuid.UUID(exemplar_id))
    state = json.loads(snapshot.state)
    state["state"].pop("class_version", None)
    for key in ("ratings", "initiatives", "rosters"):
        state["state"].pop(key)
    old = NominationsApplication(catalog=catalog, department="d", env={})
    old.recorder.insert_events(_stored(app, exemplar_id))
    old.snapshots.recorder.insert_events([StoredEvent(
        originator_id=snapshot.originator_id, originator_version=snapshot.originator_version, topic=snapshot.topic,
        state=json.dumps(state).encode())])
    assert old.get_exemplar(exemplar_id).ratings == {"2018": "excellent"}
