"""The exemplar (điển hình tiên tiến) as an event-sourced aggregate. No I/O here.

Each public method checks the lifecycle rules and then triggers one event; an event's
``apply`` only changes state. A refused command raises ``RuleViolation`` before any
event exists, so nothing is stored.

Event class names and this module's path are stored as topics: treat them as frozen
(rename only with a topic registration). Shape changes go through ``class_version``
and ``upcast_vN_vN+1``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar, Mapping

from eventsourcing.domain import Aggregate

from shared.errors import RuleViolation, rule_violation

# Stages in lifecycle order (the plans' phát hiện – bồi dưỡng – tổng kết – nhân rộng,
# with the award steps in between).
HOLD_KINDS = {"discipline": "kỷ luật", "investigation": "điều tra", "complaint": "khiếu nại"}

# Rule code -> what the officer reads. The code travels with the error (problem details).
RULES_VI = {
    "withdrawn-is-final": "Điển hình đã bị rút; không thể thực hiện thêm thao tác nào.",
    "date-not-before-detection": "Ngày nghiệp vụ không được trước ngày phát hiện điển hình ({detected_on}).",
    "nurture-plan-required": "Phải lập kế hoạch bồi dưỡng trước khi ghi nhận tiến độ, kiểm tra hoặc sơ kết/tổng kết.",
    "nurture-plan-once": "Điển hình đã có kế hoạch bồi dưỡng; hãy ghi nhận tiến độ thay vì lập kế hoạch mới.",
    "review-required": "Phải sơ kết/tổng kết đạt yêu cầu trước khi {action}.",
    "endorsement-required": "Phải được tập thể thừa nhận, suy tôn (biểu quyết đạt) trước khi đề nghị khen thưởng.",
    "no-nomination-on-hold": "Điển hình đang tạm dừng xét ({holds}); không thể đề nghị khen thưởng.",
    "nomination-pending": "Điển hình đang có đề nghị khen thưởng chờ quyết định ({award_form}).",
    "award-form-fits-subject": "Hình thức khen thưởng «{award_form}» không áp dụng cho đối tượng «{subject_kind}».",
    "tally-consistent": "Kết quả biểu quyết không hợp lệ: {problem}.",
    "hold-not-open": "Không có đợt tạm dừng xét nào đang mở với mã {hold_id}.",
    "adoption-unknown": "Không có đơn vị nhân rộng nào với mã {adoption_id}.",
    "adoption-outcome-once": "Kết quả nhân rộng của mã {adoption_id} đã được ghi nhận; hãy ghi một đánh giá mới.",
    "evaluation-year": "Năm đánh giá {year} phải từ năm phát hiện ({detected_year}) trở đi.",
    "award-year-future": "Năm tính thành tích ({award_year}) không được sau năm đề nghị ({year}).",
    "year-future": "Năm {what} ({year}) không được sau năm của ngày nghiệp vụ ({today}).",
    "initiative-unknown": "Không có sáng kiến nào với mã {initiative_id}.",
    "initiative-scope-wider": "Sáng kiến {initiative_id} đã được công nhận phạm vi «{scope}»; chỉ ghi nhận lại "
                              "khi phạm vi ảnh hưởng rộng hơn.",
    "roster-collective-only": "Chỉ tập thể mới có danh sách thành viên; đối tượng này là «{subject_kind}».",
}

# The legal scale of yearly ratings (Decree 90/2020/NĐ-CP), highest first, and what the
# system's first scale (excellent / good / fair / poor) stored means on it.
RATINGS_VI = {
    "excellent": "Hoàn thành xuất sắc nhiệm vụ",
    "good": "Hoàn thành tốt nhiệm vụ",
    "complete": "Hoàn thành nhiệm vụ",
    "incomplete": "Không hoàn thành nhiệm vụ",
}
OLD_RATINGS = {"excellent": "excellent", "good": "good", "fair": "complete", "poor": "incomplete"}
INITIATIVE_SCOPES = ("co-so", "tinh", "toan-quoc")  # narrowest first
INITIATIVE_SCOPES_VI = {"co-so": "cơ sở", "tinh": "cấp tỉnh", "toan-quoc": "toàn quốc"}


def refuse(rule: str, **facts: Any) -> RuleViolation:
    return rule_violation(RULES_VI, rule, **facts)


SUBJECTS = uuid.UUID("6f1d3c2a-9b7e-5d40-8c1f-2e6a4b9d7c35")  # the namespace of derived subject ids


def subject_identity(exemplar_id: uuid.UUID, *, national_id: str | None = None, unit_code: str | None = None,
                     subject_id: str | None = None) -> str:
    """One subject across departments and years, so its titles and prerequisites follow it.

    From the national id of a person or a household's head (CCCD) or the code of a unit,
    the same id in every department; else the subject an officer names; else a new subject,
    the exemplar's own id. Only the derived id is stored, never the number it came from.
    """
    if national_id:
        return str(uuid.uuid5(SUBJECTS, f"national-id:{national_id}"))
    if unit_code:
        return str(uuid.uuid5(SUBJECTS, f"unit-code:{unit_code.casefold()}"))
    return str(subject_id or exemplar_id)


class Exemplar(Aggregate):
    """A person, collective or household whose work others should learn from."""

    subject_id = None  # set at detection; a snapshot taken before subjects had ids has none (``subject``)

    class_version = 2  # of the snapshot's state; v2: ratings, initiatives, rosters

    snapshot_incomplete = False  # see upcast_v1_v2 and nominations.application.WholeSnapshots
    revoked_awards = ()  # award ids revoked, in whichever order grant and revocation came (a list once snapshotted)

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """A v1 snapshot kept no ratings, initiatives or rosters, though the events before it may
        hold ratings: marked, so the repository rebuilds the exemplar from all its events."""
        state.setdefault("ratings", {})
        state.setdefault("initiatives", {})
        state.setdefault("rosters", {})
        state["snapshot_incomplete"] = True

    class Event(Aggregate.Event):
        business_date: dt.date
        wire_type: ClassVar[str] = ""

        def mutate(self, aggregate: Exemplar | None) -> Exemplar | None:
            # The stage and the pending nomination follow the one machine below (next_stage,
            # next_pending_nomination), which read models run on the same events; no event's
            # ``apply`` sets them, so the two cannot drift. Runs for every event, new ones too.
            aggregate = super().mutate(aggregate)
            facts = vars(self)
            aggregate.stage = next_stage(getattr(aggregate, "stage", None), self.wire_type, facts)
            aggregate.pending_nomination = next_pending_nomination(
                getattr(aggregate, "pending_nomination", None), self.wire_type, facts)
            return aggregate

    class Detected(Aggregate.Created, Event):
        """Phát hiện. v2: achievements became a list (v1 stored one free-text string).
        v3: ``subject_id``, the subject's identity across departments and years (``subject_identity``)."""

        class_version = 3
        wire_type = "exemplar.detected"
        subject_kind: str
        name: str
        field: str
        movement: str
        unit: str
        department: str
        achievements: list
        subject_id: str

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            text = state.pop("achievements", "") or ""
            state["achievements"] = [line.strip() for line in text.split(";") if line.strip()]

        @staticmethod
        def upcast_v2_v3(state: dict) -> None:
            state["subject_id"] = str(state["originator_id"])  # detected before: a subject of its own

    class NurturePlanned(Event):
        wire_type = "exemplar.nurture_planned"
        responsible_unit: str
        milestones: list

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.has_nurture_plan = True

    class ProgressRecorded(Event):
        wire_type = "exemplar.progress_recorded"
        note: str
        milestone: str

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.progress_count += 1

    class CheckRecorded(Event):
        wire_type = "exemplar.check_recorded"
        checked_by: str
        finding: str
        on_track: bool

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.checks_count += 1

    class Reviewed(Event):
        wire_type = "exemplar.reviewed"
        review_kind: str
        general_criteria: list  # [{"criterion": str, "met": bool}]
        field_criteria: list
        passed: bool
        summary: str

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.review_passed = self.passed

    class Endorsed(Event):
        """Được tập thể thừa nhận, suy tôn: the meeting's tally only."""

        wire_type = "exemplar.endorsed"
        meeting: str
        members: int
        present: int
        in_favour: int
        against: int
        abstained: int
        endorsed: bool

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.endorsed = self.endorsed

    class Nominated(Event):
        """Carries what the council needs: the subject as it stands, and which council."""

        wire_type = "exemplar.nominated"
        class_version = 2  # v2: award_year, the year the achievement is for
        award_form: str
        dossier_refs: list
        achievement: str
        subject: dict  # also the facts eligibility needs: award_year, initiatives, ratings, roster
        council_level: str
        jurisdiction: str
        award_year: int

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            """A v1 nomination was for the year it was made in (what councils assumed then)."""
            day = state["business_date"]
            state["award_year"] = day.year if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)).year

    class CouncilCaseProgressed(Event):
        """Where the nomination's case is: opened, forwarded upward, returned or rejected."""

        wire_type = "exemplar.council_case_progressed"
        case_id: str
        step: str
        council_level: str
        jurisdiction: str
        reason: str

    class Awarded(Event):
        wire_type = "exemplar.awarded"
        award_id: str
        award_form: str
        decision_number: str
        signer: str
        council_level: str
        jurisdiction: str

        def apply(self, exemplar: Exemplar) -> None:
            if self.award_id not in exemplar.revoked_awards:  # its revocation may have reached us first
                exemplar.awards[self.award_id] = self.award_form

    class AwardRevoked(Event):
        wire_type = "exemplar.award_revoked"
        award_id: str
        ground: str
        reason: str

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.awards.pop(self.award_id, None)
            exemplar.revoked_awards = (*exemplar.revoked_awards, self.award_id)

    class Publicized(Event):
        wire_type = "exemplar.publicized"
        channel: str
        audience: str
        reference: str

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.publicity_count += 1

    class AdoptionStarted(Event):
        """Nhân rộng: another unit studies and adopts the model."""

        wire_type = "exemplar.adoption_started"
        adoption_id: str
        adopting_unit: str
        method: str

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.adoptions[self.adoption_id] = None

    class AdoptionOutcomeRecorded(Event):
        wire_type = "exemplar.adoption_outcome_recorded"
        adoption_id: str
        outcome: str
        successful: bool

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.adoptions[self.adoption_id] = self.successful

    class YearEvaluated(Event):
        """v2: ``rating`` is on the legal scale (RATINGS_VI); v1 stored excellent/good/fair/poor."""

        wire_type = "exemplar.year_evaluated"
        class_version = 2
        year: int
        rating: str
        score: int
        previous_score: int | None  # the same exemplar's score for year - 1, if any
        note: str

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["rating"] = OLD_RATINGS.get(state["rating"], state["rating"])

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.scores[str(self.year)] = self.score
            exemplar.ratings[str(self.year)] = self.rating

    class InitiativeRecorded(Event):
        """A sáng kiến (or a research result) the subject made, for the year it was applied."""

        wire_type = "exemplar.initiative_recorded"
        initiative_id: str
        title: str
        kind: str  # "initiative" (sáng kiến) or "research" (đề tài nghiên cứu khoa học)
        year: int

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.initiatives[self.initiative_id] = {
                "initiative_id": self.initiative_id, "title": self.title, "kind": self.kind, "year": self.year,
                "scope": None, "recognised_by": None, "reference": None}

    class InitiativeRecognised(Event):
        """Công nhận sáng kiến: a body confirms its scope of effect (cơ sở / tỉnh / toàn quốc)."""

        wire_type = "exemplar.initiative_recognised"
        initiative_id: str
        scope: str
        recognised_by: str
        reference: str  # the recognising decision, e.g. 15/QĐ-HĐSK

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.initiatives[self.initiative_id] |= {
                "scope": self.scope, "recognised_by": self.recognised_by, "reference": self.reference}

    class RosterRecorded(Event):
        """A collective's members for one year, each with the year's title, rating and discipline.
        A later roster for the same year corrects the earlier one."""

        wire_type = "exemplar.roster_recorded"
        year: int
        members: list  # [{"name", "title" | None, "rating", "discipline"}]

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.rosters[str(self.year)] = list(self.members)

    class PutOnHold(Event):
        wire_type = "exemplar.put_on_hold"
        hold_id: str
        hold_kind: str
        reason: str

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.open_holds[self.hold_id] = self.hold_kind

    class HoldReleased(Event):
        wire_type = "exemplar.hold_released"
        hold_id: str
        resolution: str

        def apply(self, exemplar: Exemplar) -> None:
            exemplar.open_holds.pop(self.hold_id, None)

    class Withdrawn(Event):
        wire_type = "exemplar.withdrawn"
        reason: str

    # -- construction ------------------------------------------------------------------

    def __init__(
        self,
        subject_kind: str,
        name: str,
        field: str,
        movement: str,
        unit: str,
        department: str,
        achievements: list,
        business_date: dt.date,
        subject_id: str | None = None,
    ):
        self.subject_id = subject_id or str(self.id)
        self.subject_kind = subject_kind
        self.name = name
        self.field = field
        self.movement = movement
        self.unit = unit
        self.department = department
        self.detected_on = business_date
        # stage and pending_nomination: set by the stage machine after this (Event.mutate)
        self.has_nurture_plan = False
        self.progress_count = 0
        self.checks_count = 0
        self.review_passed = False
        self.endorsed = False
        self.publicity_count = 0
        self.adoptions: dict[str, bool | None] = {}
        self.scores: dict[str, int] = {}
        self.ratings: dict[str, str] = {}  # year -> rating on the legal scale
        self.initiatives: dict[str, dict] = {}  # initiative id -> title, kind, year, scope, recognised_by
        self.rosters: dict[str, list] = {}  # year -> members (collectives)
        self.open_holds: dict[str, str] = {}
        self.awards: dict[str, str] = {}

    @classmethod
    def detect(
        cls,
        *,
        subject_kind: str,
        name: str,
        field: str,
        movement: str,
        unit: str,
        department: str,
        achievements: list[str],
        business_date: dt.date,
        national_id: str | None = None,
        unit_code: str | None = None,
        subject_id: str | None = None,
        exemplar_id: uuid.UUID | None = None,  # given when a retry must find the same one (shared.requests)
    ) -> Exemplar:
        exemplar_id = exemplar_id or uuid.uuid4()
        return cls._create(
            cls.Detected,
            id=exemplar_id,
            subject_id=subject_identity(exemplar_id, national_id=national_id, unit_code=unit_code,
                                        subject_id=subject_id),
            subject_kind=subject_kind,
            name=name,
            field=field,
            movement=movement,
            unit=unit,
            department=department,
            achievements=list(achievements),
            business_date=business_date,
        )

    # -- guards ------------------------------------------------------------------------

    def _guard(self, business_date: dt.date) -> None:
        if self.stage == "withdrawn":
            raise refuse("withdrawn-is-final")
        if business_date < self.detected_on:
            raise refuse("date-not-before-detection", detected_on=self.detected_on.isoformat())

    def _require_review(self, action: str) -> None:
        if not self.review_passed:
            raise refuse("review-required", action=action)

    # -- commands ----------------------------------------------------------------------

    def plan_nurture(self, *, responsible_unit: str, milestones: list[dict], business_date: dt.date) -> None:
        self._guard(business_date)
        if self.has_nurture_plan:
            raise refuse("nurture-plan-once")
        self.trigger_event(
            self.NurturePlanned,
            responsible_unit=responsible_unit,
            milestones=list(milestones),
            business_date=business_date,
        )

    def record_progress(self, *, note: str, milestone: str, business_date: dt.date) -> None:
        self._guard(business_date)
        if not self.has_nurture_plan:
            raise refuse("nurture-plan-required")
        self.trigger_event(self.ProgressRecorded, note=note, milestone=milestone, business_date=business_date)

    def record_check(self, *, checked_by: str, finding: str, on_track: bool, business_date: dt.date) -> None:
        self._guard(business_date)
        if not self.has_nurture_plan:
            raise refuse("nurture-plan-required")
        self.trigger_event(
            self.CheckRecorded, checked_by=checked_by, finding=finding, on_track=on_track, business_date=business_date
        )

    def review(
        self,
        *,
        review_kind: str,
        general_criteria: list[dict],
        field_criteria: list[dict],
        summary: str,
        business_date: dt.date,
    ) -> bool:
        """Sơ kết / tổng kết: passes when every general and field criterion is met."""
        self._guard(business_date)
        if not self.has_nurture_plan:
            raise refuse("nurture-plan-required")
        passed = all(c["met"] for c in general_criteria) and all(c["met"] for c in field_criteria)
        self.trigger_event(
            self.Reviewed,
            review_kind=review_kind,
            general_criteria=list(general_criteria),
            field_criteria=list(field_criteria),
            passed=passed,
            summary=summary,
            business_date=business_date,
        )
        return passed

    def endorse(
        self,
        *,
        meeting: str,
        members: int,
        present: int,
        in_favour: int,
        against: int,
        abstained: int,
        business_date: dt.date,
    ) -> bool:
        """Record the collective's vote; endorsed when more than half of those present agree."""
        self._guard(business_date)
        self._require_review("lấy biểu quyết suy tôn")
        if present > members:
            raise refuse("tally-consistent", problem=f"số có mặt ({present}) lớn hơn số thành viên ({members})")
        if in_favour + against + abstained > present:
            raise refuse(
                "tally-consistent",
                problem=f"tổng phiếu ({in_favour + against + abstained}) lớn hơn số có mặt ({present})",
            )
        endorsed = in_favour * 2 > present
        self.trigger_event(
            self.Endorsed,
            meeting=meeting,
            members=members,
            present=present,
            in_favour=in_favour,
            against=against,
            abstained=abstained,
            endorsed=endorsed,
            business_date=business_date,
        )
        return endorsed

    def nominate(
        self,
        *,
        award_form: str,
        form_subject_kinds: tuple[str, ...],
        dossier_refs: list[str],
        achievement: str,
        council_level: str,
        jurisdiction: str,
        business_date: dt.date,
        award_year: int | None = None,
    ) -> None:
        """Đề nghị khen thưởng for ``award_year``, the year the achievement is for (default: the
        business date's year). The nomination carries what eligibility is judged on: the subject's
        recognised initiatives, yearly ratings and (collectives) the award year's roster."""
        award_year = business_date.year if award_year is None else award_year
        self._guard(business_date)
        if award_year > business_date.year:
            raise refuse("award-year-future", award_year=award_year, year=business_date.year)
        self._require_review("đề nghị khen thưởng")
        if not self.endorsed:
            raise refuse("endorsement-required")
        if self.open_holds:
            raise refuse("no-nomination-on-hold", holds=", ".join(HOLD_KINDS[k] for k in self.open_holds.values()))
        if self.pending_nomination:
            raise refuse("nomination-pending", award_form=self.pending_nomination)
        if self.subject_kind not in form_subject_kinds:
            raise refuse("award-form-fits-subject", award_form=award_form, subject_kind=self.subject_kind)
        self.trigger_event(
            self.Nominated,
            award_form=award_form,
            dossier_refs=list(dossier_refs),
            achievement=achievement,
            subject={
                "subject_id": self.subject_id or str(self.id),
                "subject_kind": self.subject_kind,
                "name": self.name,
                "field": self.field,
                "unit": self.unit,
                "department": self.department,
                **self.eligibility_facts(award_year),
            },
            council_level=council_level,
            jurisdiction=jurisdiction,
            award_year=award_year,
            business_date=business_date,
        )

    def eligibility_facts(self, award_year: int) -> dict:
        """What a council needs to judge a nomination for ``award_year`` (its rules stay pure)."""
        return {
            "award_year": award_year,
            "initiatives": [dict(i) for i in self.initiatives.values() if i["scope"]],
            "ratings": dict(self.ratings),
            "roster": self.rosters.get(str(award_year)) if self.subject_kind == "collective" else None,
        }

    def publicize(self, *, channel: str, audience: str, reference: str, business_date: dt.date) -> None:
        self._guard(business_date)
        self._require_review("tuyên truyền")
        self.trigger_event(
            self.Publicized, channel=channel, audience=audience, reference=reference, business_date=business_date
        )

    def start_adoption(self, *, adopting_unit: str, method: str, business_date: dt.date) -> str:
        self._guard(business_date)
        self._require_review("nhân rộng")
        adoption_id = f"A{len(self.adoptions) + 1}"
        self.trigger_event(
            self.AdoptionStarted,
            adoption_id=adoption_id,
            adopting_unit=adopting_unit,
            method=method,
            business_date=business_date,
        )
        return adoption_id

    def record_adoption_outcome(
        self, *, adoption_id: str, outcome: str, successful: bool, business_date: dt.date
    ) -> None:
        self._guard(business_date)
        if adoption_id not in self.adoptions:
            raise refuse("adoption-unknown", adoption_id=adoption_id)
        if self.adoptions[adoption_id] is not None:
            raise refuse("adoption-outcome-once", adoption_id=adoption_id)
        self.trigger_event(
            self.AdoptionOutcomeRecorded,
            adoption_id=adoption_id,
            outcome=outcome,
            successful=successful,
            business_date=business_date,
        )

    def evaluate_year(self, *, year: int, rating: str, score: int, note: str, business_date: dt.date) -> None:
        """Yearly evaluation, compared with the previous year's score (kept on the event)."""
        self._guard(business_date)
        if year < self.detected_on.year:
            raise refuse("evaluation-year", year=year, detected_year=self.detected_on.year)
        self.trigger_event(
            self.YearEvaluated,
            year=year,
            rating=rating,
            score=score,
            previous_score=self.scores.get(str(year - 1)),
            note=note,
            business_date=business_date,
        )

    def record_initiative(self, *, title: str, kind: str, year: int, business_date: dt.date) -> str:
        """Ghi nhận một sáng kiến (or research result) of the subject; recognised later."""
        self._guard(business_date)
        if year > business_date.year:
            raise refuse("year-future", what="áp dụng sáng kiến", year=year, today=business_date.year)
        initiative_id = f"I{len(self.initiatives) + 1}"
        self.trigger_event(self.InitiativeRecorded, initiative_id=initiative_id, title=title, kind=kind, year=year,
                           business_date=business_date)
        return initiative_id

    def recognise_initiative(self, *, initiative_id: str, scope: str, recognised_by: str, reference: str,
                             business_date: dt.date) -> None:
        """Công nhận: once, or again only for a wider scope of effect (a cơ sở one found to help a province)."""
        self._guard(business_date)
        if initiative_id not in self.initiatives:
            raise refuse("initiative-unknown", initiative_id=initiative_id)
        current = self.initiatives[initiative_id]["scope"]
        if current and INITIATIVE_SCOPES.index(scope) <= INITIATIVE_SCOPES.index(current):
            raise refuse("initiative-scope-wider", initiative_id=initiative_id, scope=INITIATIVE_SCOPES_VI[current])
        self.trigger_event(self.InitiativeRecognised, initiative_id=initiative_id, scope=scope,
                           recognised_by=recognised_by, reference=reference, business_date=business_date)

    def record_roster(self, *, year: int, members: list[dict], business_date: dt.date) -> None:
        """The department records a collective's members for a year (title, rating, discipline)."""
        self._guard(business_date)
        if self.subject_kind != "collective":
            raise refuse("roster-collective-only", subject_kind=self.subject_kind)
        if year > business_date.year:
            raise refuse("year-future", what="danh sách thành viên", year=year, today=business_date.year)
        self.trigger_event(self.RosterRecorded, year=year, members=[dict(m) for m in members],
                           business_date=business_date)

    def put_on_hold(self, *, hold_kind: str, reason: str, business_date: dt.date) -> str:
        self._guard(business_date)
        hold_id = f"H{self.version + 1}"  # unique per exemplar: the version the event will take
        self.trigger_event(self.PutOnHold, hold_id=hold_id, hold_kind=hold_kind, reason=reason, business_date=business_date)
        return hold_id

    def release_hold(self, *, hold_id: str, resolution: str, business_date: dt.date) -> None:
        self._guard(business_date)
        if hold_id not in self.open_holds:
            raise refuse("hold-not-open", hold_id=hold_id)
        self.trigger_event(self.HoldReleased, hold_id=hold_id, resolution=resolution, business_date=business_date)

    def withdraw(self, *, reason: str, business_date: dt.date) -> None:
        self._guard(business_date)
        self.trigger_event(self.Withdrawn, reason=reason, business_date=business_date)

    # -- what councils did (facts from the awards service: recorded, never refused) ----------

    def record_council_step(self, *, case_id: str, step: str, council_level: str, jurisdiction: str, reason: str,
                            business_date: dt.date) -> None:
        self.trigger_event(self.CouncilCaseProgressed, case_id=case_id, step=step, council_level=council_level,
                           jurisdiction=jurisdiction, reason=reason, business_date=business_date)

    def record_award(self, *, award_id: str, award_form: str, decision_number: str, signer: str, council_level: str,
                     jurisdiction: str, business_date: dt.date) -> None:
        self.trigger_event(self.Awarded, award_id=award_id, award_form=award_form, decision_number=decision_number,
                           signer=signer, council_level=council_level, jurisdiction=jurisdiction,
                           business_date=business_date)

    def record_award_revoked(self, *, award_id: str, ground: str, reason: str, business_date: dt.date) -> None:
        self.trigger_event(self.AwardRevoked, award_id=award_id, ground=ground, reason=reason,
                           business_date=business_date)

    @property
    def on_hold(self) -> bool:
        return bool(self.open_holds)


# -- the stage machine: the one copy (the aggregate's events and the list read model run it) --

# A council's case that ends without an award: the nomination is no longer pending.
CASE_CLOSED_WITHOUT_AWARD = ("returned", "rejected")


def next_stage(stage: str | None, wire_type: str, payload: Mapping[str, Any]) -> str:
    """The stage after one event, from its wire type and payload (stored fields or wire payload).

    Councils' facts are recorded whatever the stage, so they move only the stages they speak
    of: an award reaches an exemplar still waiting for it, never one withdrawn or replicating.
    """
    ev = Exemplar
    if wire_type == ev.Detected.wire_type:
        return "detected"
    if stage == "withdrawn":
        return stage  # final (a council may still report on the case it had)
    if wire_type == ev.NurturePlanned.wire_type:
        return "nurturing"
    if wire_type == ev.Reviewed.wire_type:
        # a passed review moves only an exemplar still before the review stage
        return "reviewed" if payload["passed"] and stage in ("detected", "nurturing") else stage
    if wire_type == ev.Nominated.wire_type:
        return "nominated"
    if wire_type == ev.CouncilCaseProgressed.wire_type:
        return "reviewed" if payload["step"] in CASE_CLOSED_WITHOUT_AWARD and stage == "nominated" else stage
    if wire_type == ev.Awarded.wire_type:
        return "awarded" if stage in ("nominated", "reviewed") else stage
    if wire_type == ev.AdoptionStarted.wire_type:
        return "replicating"
    if wire_type == ev.Withdrawn.wire_type:
        return "withdrawn"
    return stage


def next_pending_nomination(pending: str | None, wire_type: str, payload: Mapping[str, Any]) -> str | None:
    """The award form nominated and not yet decided after one event (None: nothing pending)."""
    ev = Exemplar
    if wire_type == ev.Nominated.wire_type:
        return payload["award_form"]
    if wire_type == ev.Awarded.wire_type:
        return None
    if wire_type == ev.CouncilCaseProgressed.wire_type and payload["step"] in CASE_CLOSED_WITHOUT_AWARD:
        return None
    return pending


def event_types() -> dict[str, type[Exemplar.Event]]:
    """Wire type -> event class, for every event an exemplar can have."""
    found = {}
    for value in vars(Exemplar).values():
        if isinstance(value, type) and issubclass(value, Exemplar.Event) and value.wire_type:
            found[value.wire_type] = value
    return found
