"""The exemplar's lifecycle rules, on the pure domain model."""

import datetime as dt

import pytest

from nominations.domainmodel import Exemplar
from shared.errors import RuleViolation

D = dt.date.fromisoformat
HOUSEHOLD_FORMS = ("individual", "collective", "household")


def detected() -> Exemplar:
    return Exemplar.detect(
        subject_kind="household", name="Hộ ông A", field="household-economy", movement="farmers-good-business",
        unit="xã Đồng Tâm", department="hoi-nong-dan", achievements=["Gà đồi"], business_date=D("2018-04-16"),
    )


def reviewed(passed: bool = True) -> Exemplar:
    ex = detected()
    ex.plan_nurture(responsible_unit="Hội Nông dân", milestones=[{"name": "m", "due": "2018-09-30"}], business_date=D("2018-04-20"))
    ex.review(review_kind="interim", general_criteria=[{"criterion": "a", "met": True}],
              field_criteria=[{"criterion": "b", "met": passed}], summary="s", business_date=D("2018-09-20"))
    return ex


def endorsed() -> Exemplar:
    ex = reviewed()
    ex.endorse(meeting="m", members=45, present=40, in_favour=38, against=1, abstained=1, business_date=D("2018-09-25"))
    return ex


def nominate(ex: Exemplar, kinds=HOUSEHOLD_FORMS, when="2018-10-02"):
    ex.nominate(award_form="giay-khen", form_subject_kinds=kinds, dossier_refs=["TTr 45"], achievement="x",
                council_level="district", jurisdiction="huyen-yen-the", business_date=D(when))


def refused(rule: str, action, ex: Exemplar):
    """The action is refused by ``rule`` and adds no event."""
    before = ex.version
    pending_before = len(ex._pending_events)
    with pytest.raises(RuleViolation) as caught:
        action()
    assert caught.value.detail == rule
    assert ex.version == before and len(ex._pending_events) == pending_before
    assert caught.value.message  # Vietnamese text for the officer
    return caught.value


def test_full_lifecycle_moves_through_the_stages():
    ex = endorsed()
    assert ex.stage == "reviewed" and ex.endorsed
    nominate(ex)
    assert ex.stage == "nominated" and ex.pending_nomination == "giay-khen"
    ex.publicize(channel="Đài huyện", audience="toàn huyện", reference="", business_date=D("2018-10-15"))
    first = ex.start_adoption(adopting_unit="xã Tam Tiến", method="tham quan", business_date=D("2018-10-25"))
    ex.record_adoption_outcome(adoption_id=first, outcome="12 hộ áp dụng", successful=True, business_date=D("2018-12-20"))
    assert ex.stage == "replicating" and ex.adoptions == {"A1": True}


def test_nominating_before_review_is_refused():
    ex = detected()
    error = refused("review-required", lambda: nominate(ex), ex)
    assert "sơ kết" in error.message


def test_nominating_after_a_failed_review_is_refused():
    ex = reviewed(passed=False)
    refused("review-required", lambda: nominate(ex), ex)


def test_nominating_without_endorsement_is_refused():
    ex = reviewed()
    refused("endorsement-required", lambda: nominate(ex), ex)


def test_endorsement_needs_more_than_half_of_those_present():
    ex = reviewed()
    assert ex.endorse(meeting="m", members=40, present=30, in_favour=15, against=15, abstained=0, business_date=D("2018-09-25")) is False
    refused("endorsement-required", lambda: nominate(ex), ex)


def test_inconsistent_tally_is_refused():
    ex = reviewed()
    refused("tally-consistent", lambda: ex.endorse(meeting="m", members=10, present=12, in_favour=5, against=0,
                                                   abstained=0, business_date=D("2018-09-25")), ex)
    refused("tally-consistent", lambda: ex.endorse(meeting="m", members=10, present=8, in_favour=5, against=3,
                                                   abstained=1, business_date=D("2018-09-25")), ex)


def test_replicating_or_publicizing_what_was_never_reviewed_is_refused():
    ex = detected()
    refused("review-required", lambda: ex.start_adoption(adopting_unit="x", method="y", business_date=D("2018-05-01")), ex)
    refused("review-required", lambda: ex.publicize(channel="x", audience="y", reference="", business_date=D("2018-05-01")), ex)


def test_progress_and_review_need_a_nurture_plan():
    ex = detected()
    refused("nurture-plan-required", lambda: ex.record_progress(note="n", milestone="", business_date=D("2018-05-01")), ex)
    refused("nurture-plan-required", lambda: ex.review(review_kind="final", general_criteria=[], field_criteria=[],
                                                       summary="s", business_date=D("2018-05-01")), ex)


def test_nominating_while_on_hold_is_refused_and_release_allows_it():
    ex = endorsed()
    hold = ex.put_on_hold(hold_kind="complaint", reason="Đơn khiếu nại", business_date=D("2018-09-28"))
    error = refused("no-nomination-on-hold", lambda: nominate(ex), ex)
    assert "khiếu nại" in error.message
    ex.release_hold(hold_id=hold, resolution="Đã giải quyết", business_date=D("2018-09-30"))
    nominate(ex)
    assert ex.stage == "nominated"


def test_releasing_an_unknown_hold_is_refused():
    ex = detected()
    refused("hold-not-open", lambda: ex.release_hold(hold_id="H9", resolution="x", business_date=D("2018-05-01")), ex)


@pytest.mark.parametrize("action", [
    lambda ex: nominate(ex),
    lambda ex: ex.record_progress(note="n", milestone="", business_date=D("2018-11-01")),
    lambda ex: ex.start_adoption(adopting_unit="x", method="y", business_date=D("2018-11-01")),
    lambda ex: ex.withdraw(reason="again", business_date=D("2018-11-01")),
    lambda ex: ex.put_on_hold(hold_kind="discipline", reason="x", business_date=D("2018-11-01")),
])
def test_anything_on_a_withdrawn_exemplar_is_refused(action):
    ex = endorsed()
    ex.withdraw(reason="Không còn đủ điều kiện", business_date=D("2018-10-01"))
    refused("withdrawn-is-final", lambda: action(ex), ex)


def test_award_form_must_fit_the_subject_kind():
    ex = endorsed()
    refused("award-form-fits-subject", lambda: nominate(ex, kinds=("individual",)), ex)


def test_a_second_nomination_waits_for_the_first_decision():
    ex = endorsed()
    nominate(ex)
    refused("nomination-pending", lambda: nominate(ex), ex)


def test_business_date_before_detection_is_refused():
    ex = detected()
    refused("date-not-before-detection",
            lambda: ex.plan_nurture(responsible_unit="u", milestones=[], business_date=D("2018-01-01")), ex)


def test_yearly_evaluation_is_compared_with_the_previous_year():
    ex = detected()
    ex.evaluate_year(year=2018, rating="good", score=80, note="", business_date=D("2018-12-28"))
    ex.evaluate_year(year=2019, rating="excellent", score=90, note="", business_date=D("2019-12-28"))
    last = ex._pending_events[-1]
    assert (last.score, last.previous_score) == (90, 80)
    refused("evaluation-year", lambda: ex.evaluate_year(year=2017, rating="good", score=1, note="",
                                                        business_date=D("2018-12-28")), ex)


def test_adoption_outcome_is_recorded_once_for_a_known_adoption():
    ex = reviewed()
    refused("adoption-unknown", lambda: ex.record_adoption_outcome(adoption_id="A1", outcome="o", successful=True,
                                                                    business_date=D("2018-12-01")), ex)
    adoption = ex.start_adoption(adopting_unit="x", method="y", business_date=D("2018-10-25"))
    ex.record_adoption_outcome(adoption_id=adoption, outcome="o", successful=False, business_date=D("2018-12-01"))
    refused("adoption-outcome-once", lambda: ex.record_adoption_outcome(adoption_id=adoption, outcome="o", successful=True,
                                                                         business_date=D("2018-12-02")), ex)
