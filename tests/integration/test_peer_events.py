"""What peers say, in whatever order it arrives, and only about what is theirs.

A retried or redelivered event can arrive after the one that followed it in its source's
log: a release before its hold, a revocation before its grant. The end state must be the
one the source's log describes. And an aggregate lives in one instance's log: another
trusted instance speaking of it is refused. On SQLite and PostgreSQL, fed as the broker would.
"""

import itertools
import uuid

import pytest

from awards_helpers import PROVINCE, council_app, decide_path, hold_event, nomination_event, published
from conftest import LIFECYCLE, STEPS, detect_data
from nominations.application import NominationsApplication
from nominations.bootstrap import NominationsRuntime
from shared.consumer import IdempotentConsumer, NotItsAggregate
from shared.persistence import eventsourcing_env

pytestmark = pytest.mark.integration
_ids = itertools.count(10_000)


def hold(exemplar_id, kind, hold_id="H9", instance="nominations-test"):
    event = hold_event(exemplar_id, kind, instance=instance)
    return event.model_copy(update={"payload": event.payload | {"hold_id": hold_id}, "notification_id": next(_ids)})


@pytest.mark.parametrize("order", ["in order", "release first"])
def test_a_hold_and_its_release_leave_the_exemplar_released_in_either_order(catalog, database_url, order):
    district = council_app(catalog, database_url)
    exemplar_id = uuid.uuid4()
    put, release = hold(exemplar_id, "exemplar.put_on_hold"), hold(exemplar_id, "exemplar.hold_released")
    for event in ([put, release] if order == "in order" else [release, put]):
        assert district.receive(event) == "hold-recorded"
    assert district.on_hold(str(exemplar_id)) is False
    another = hold(exemplar_id, "exemplar.put_on_hold", hold_id="H12")
    district.receive(another)
    assert district.on_hold(str(exemplar_id)) is True  # a second hold, still open
    assert district.receive(nomination_event(exemplar_id=exemplar_id)) == "open"
    case = [e for e in published(district, "x") if e.type == "case.opened"][-1]
    assert "on-hold" in {p["rule"] for p in district.case_view(str(case.aggregate_id))["eligibility"]["problems"]}


def granted_and_revoked(catalog, database_url):
    """A district's award and its revocation, as wire events from the district's log."""
    district = council_app(catalog, database_url)
    exemplar_id = uuid.uuid4()
    district.receive(nomination_event(exemplar_id=exemplar_id))
    case = [e for e in published(district, "x") if e.type == "case.opened"][-1]
    award_id = decide_path(district, str(case.aggregate_id))["result"]
    district.revoke_award(award_id, {"ground": "a", "reason": "Khai man thành tích", "decision_number": "7/QĐ-UBND",
                                     "business_date": "2018-12-01"})
    events = {e.type: e for e in published(district, "awards_huyen_yen_the") if e.type.startswith("award.")}
    return exemplar_id, award_id, events["award.granted"], events["award.revoked"]


def test_a_revocation_heard_before_its_grant_still_leaves_the_award_revoked(catalog, database_url, tmp_path):
    _, award_id, grant, revoke = granted_and_revoked(catalog, f"sqlite:///{tmp_path / 'district.sqlite'}")
    province = council_app(catalog, database_url, PROVINCE)
    province.receive(revoke)
    province.receive(grant)
    (row,) = [a for a in province.list_awards({"year": 2018})["items"] if a["award_id"] == award_id]
    assert row["revoked"] is True


def test_the_exemplar_keeps_no_award_whose_revocation_came_first(catalog, tmp_path):
    nominations = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the",
                                         env=eventsourcing_env(f"sqlite:///{tmp_path / 'n.sqlite'}"))
    exemplar_id = nominations.detect(detect_data())["id"]
    for step in LIFECYCLE[:5]:
        nominations.change(exemplar_id, step, STEPS[step])
    district = council_app(catalog, f"sqlite:///{tmp_path / 'district.sqlite'}")
    district.receive(nomination_event(exemplar_id=uuid.UUID(exemplar_id)))
    case = [e for e in published(district, "x") if e.type == "case.opened"][-1]
    award_id = decide_path(district, str(case.aggregate_id))["result"]
    district.revoke_award(award_id, {"ground": "a", "reason": "Khai man", "decision_number": "7/QĐ-UBND",
                                     "business_date": "2018-12-01"})
    receiver = NominationsRuntime(nominations, exemplars=None, relay=None, sealer=None, instance="n",
                                  consumer=IdempotentConsumer(nominations))
    events = published(district, "awards_huyen_yen_the")
    revocation = [e for e in events if e.type == "award.revoked"]
    for event in revocation + [e for e in events if e.type != "award.revoked"]:  # the revocation first
        receiver.receive(event)
    assert nominations.get_exemplar(exemplar_id).awards == {}
    types = [h["type"] for h in nominations.history(exemplar_id)]
    assert "exemplar.award_revoked" in types and "exemplar.awarded" in types  # both facts are on the history


def test_an_instance_cannot_speak_of_an_aggregate_another_instance_keeps(catalog, database_url):
    district = council_app(catalog, database_url)
    exemplar_id = uuid.uuid4()
    district.receive(hold(exemplar_id, "exemplar.put_on_hold", instance="nominations-hoi-nong-dan"))
    with pytest.raises(NotItsAggregate, match="nominations-doan-thanh-nien"):
        district.receive(hold(exemplar_id, "exemplar.hold_released", instance="nominations-doan-thanh-nien"))
    assert district.on_hold(str(exemplar_id)) is True  # nothing of the foreign release was kept
    other = uuid.uuid4()  # its own exemplars, it may speak of
    assert district.receive(hold(other, "exemplar.put_on_hold", instance="nominations-doan-thanh-nien")) == \
        "hold-recorded"
