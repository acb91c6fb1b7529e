"""One stage machine: after every step of any valid history, the list read model (fed the
exemplar's events as the relay puts them on the wire) says what the aggregate says.

Hypothesis drives the histories (a rule-based state machine): officers' commands in any
order (a refused one stores nothing, so the history stays valid), the next step of the
usual path (so that histories reach the council and its award), and councils' facts in the order a
council can send them — opened or forwarded while a nomination is pending, then returned,
rejected or granted; revoked only for a granted award. Facts may arrive after a
withdrawal or an adoption, as they do when a council decides late.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import uuid

from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from conftest import STEPS, detect_data
from nominations.application import NominationsApplication
from nominations.projections import ExemplarListProjection
from shared.catalog import load_catalog
from shared.errors import DomainError
from shared.wire import WireEvent, describe_event, wire_event

COUNCIL = {"council_level": "district", "jurisdiction": "huyen-yen-the"}
LATER = "2018-11-05"
USUAL_PATH = [(name, STEPS[name]) for name in ("plan_nurture", "record_progress", "review", "endorse", "nominate",
                                               "start_adoption")]
_notifications = itertools.count(1)


def _review(met: bool) -> dict:
    return STEPS["review"] | {"field_criteria": [{"criterion": "Thu nhập gấp 3 lần bình quân", "met": met}]}


def _endorse(in_favour: int) -> dict:
    return STEPS["endorse"] | {"in_favour": in_favour, "against": 40 - in_favour, "abstained": 0}


# (command, data); "release_hold" and "record_adoption_outcome" name the latest one at run time
OFFICER = st.one_of(
    st.sampled_from([("plan_nurture", STEPS["plan_nurture"]), ("record_progress", STEPS["record_progress"]),
                     ("publicize", STEPS["publicize"]), ("start_adoption", STEPS["start_adoption"]),
                     ("release_hold", {"resolution": "Đã giải quyết", "business_date": LATER}),
                     ("record_adoption_outcome", {"outcome": "Áp dụng thành công", "business_date": LATER}),
                     ("withdraw", {"reason": "Chuyển công tác", "business_date": LATER})]),
    st.builds(lambda on_track: ("record_check", {"checked_by": "Hội Nông dân huyện", "finding": "Đúng tiến độ",
                                                 "on_track": on_track, "business_date": "2018-07-10"}),
              st.booleans()),
    st.builds(lambda met: ("review", _review(met)), st.booleans()),
    st.builds(lambda votes: ("endorse", _endorse(votes)), st.sampled_from([38, 15])),
    # chien-si-thi-dua-co-so does not fit a household: refused, stores nothing
    st.builds(lambda form: ("nominate", STEPS["nominate"] | {"award_form": form}),
              st.sampled_from(["giay-khen", "bang-khen-tinh", "chien-si-thi-dua-co-so"])),
    st.builds(lambda kind: ("put_on_hold", {"hold_kind": kind, "reason": "Có đơn thư", "business_date": LATER}),
              st.sampled_from(["discipline", "investigation", "complaint"])),
    st.builds(lambda year: ("evaluate_year", {"year": year, "rating": "good", "score": 80,
                                              "business_date": LATER}), st.sampled_from([2017, 2018])),
)


def council_fact(kind: str, aggregate_id: uuid.UUID, exemplar_id: str) -> WireEvent:
    """A fact as the awards service publishes it (case.* and award.* name their exemplar)."""
    payload = {"exemplar_id": exemplar_id} | COUNCIL
    if kind in ("case.returned", "case.rejected"):
        payload["reason"] = "Hồ sơ chưa đủ"
    if kind == "award.granted":
        payload |= {"award_form": "giay-khen", "decision_number": "123/QĐ-UBND", "signer": "Chủ tịch UBND huyện"}
    if kind == "award.revoked":
        payload |= {"ground": "a", "reason": "Kê khai không trung thực"}
    return WireEvent(type=kind, source="awards", instance="awards_huyen_yen_the",
                     notification_id=next(_notifications), aggregate_id=aggregate_id, aggregate_version=1,
                     business_date=dt.date(2018, 10, 20), payload=payload)


def relayed(app: NominationsApplication, after: int) -> list[tuple[int, dict]]:
    """The log after ``after`` as the relay publishes it, through JSON, in the form ``reduce`` reads."""
    found = []
    for n in app.recorder.select_notifications(start=after + 1, limit=1_000):
        sent = wire_event(describe_event(app.mapper.to_domain_event(n)), "nominations", "nominations-test", n.id)
        wire = WireEvent.model_validate(sent.to_message())
        found.append((n.id, {"type": wire.type, "aggregate_id": str(wire.aggregate_id),
                             "version": wire.aggregate_version, "business_date": wire.business_date.isoformat(),
                             "payload": wire.payload}))
    return found


@functools.cache
def catalog():
    return load_catalog()  # not a fixture: function-scoped state must not outlive one history


class OneExemplarsHistory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = NominationsApplication(catalog=catalog(), department="hoi-nong-dan-yen-the", env={})
        self.exemplar_id = self.app.detect(detect_data())["id"]
        self.usual = iter(USUAL_PATH)
        self.case: uuid.UUID | None = None  # the council's open case for the pending nomination
        self.awards: list[uuid.UUID] = []  # granted and not revoked
        self.row, self.seen = None, 0

    def _officer(self, name: str, data: dict) -> None:
        exemplar = self.app.get_exemplar(self.exemplar_id)
        if name == "release_hold":
            data = data | {"hold_id": next(reversed(exemplar.open_holds), "H999")}
        if name == "record_adoption_outcome":
            data = data | {"adoption_id": next(reversed(exemplar.adoptions), "A9")}
        try:
            self.app.change(self.exemplar_id, name, data)
        except DomainError:
            return  # refused: nothing stored
        if name == "nominate":
            self.case = uuid.uuid4()  # the council will open a case for it

    @rule(step=OFFICER)
    def an_officer_acts(self, step):
        self._officer(*step)

    @rule()
    def the_usual_next_step(self):
        """Along the path to a nomination, the council's award (while one is pending), an adoption."""
        if self.case is not None:
            self.the_council_acts_on_the_case("award.granted")
        elif (step := next(self.usual, None)) is not None:
            self._officer(*step)

    @precondition(lambda self: self.case is not None)
    @rule(kind=st.sampled_from(["case.opened", "case.forwarded", "case.returned", "case.rejected", "award.granted"]))
    def the_council_acts_on_the_case(self, kind):
        target = self.case
        if kind == "award.granted":
            target = uuid.uuid4()
            self.awards.append(target)
        if kind in ("case.returned", "case.rejected", "award.granted"):
            self.case = None
        self.app.record_council_outcome(council_fact(kind, target, self.exemplar_id))

    @precondition(lambda self: self.awards)
    @rule()
    def the_council_revokes_an_award(self):
        self.app.record_council_outcome(council_fact("award.revoked", self.awards.pop(), self.exemplar_id))

    @invariant()
    def the_list_says_what_the_aggregate_says(self):
        for self.seen, described in relayed(self.app, self.seen):
            self.row = ExemplarListProjection.reduce(self.row, described)
        exemplar, row = self.app.get_exemplar(self.exemplar_id), self.row
        assert (row["stage"], row["version"]) == (exemplar.stage, exemplar.version)
        assert (row["open_holds"], row["on_hold"]) == (len(exemplar.open_holds), exemplar.on_hold)
        assert row["award_form"] == exemplar.pending_nomination
        assert row["adoptions"] == len(exemplar.adoptions)
        event(f"reaches {row['stage']}")  # --hypothesis-show-statistics: which stages histories reach


# pytest runs this as TestTheListReadModelSaysWhatTheAggregateSaysAfterEveryStep::runTest
TestTheListReadModelSaysWhatTheAggregateSaysAfterEveryStep = OneExemplarsHistory.TestCase
TestTheListReadModelSaysWhatTheAggregateSaysAfterEveryStep.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow])
