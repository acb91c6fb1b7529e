"""Award cases and awards as event-sourced aggregates. No I/O here.

A ``Case`` is one nomination at one council: opened (or forwarded upward), appraised
(or returned to the department), voted in a council session, put to public consultation
where the form needs it, and decided or rejected. An ``Award`` is the register entry a
decision creates; it may later be revoked or flagged for review.

Facts from outside (the policy version in force, hold status, eligibility) are passed
in by the application: the rules here stay pure. Event class names and this module's
path are stored topics: frozen.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from awards.policy import PolicyVersion, fraction_vi
from shared.errors import RuleViolation, rule_violation

RULES_VI = {
    "case-closed": "Hồ sơ đã kết thúc ({status}); không thể thực hiện thêm thao tác.",
    "appraise-first": "Phải thẩm định hồ sơ trước khi {action}.",
    "already-appraised": "Hồ sơ đã được thẩm định.",
    "no-quorum": "Phiên họp không đủ túc số: có mặt {present}/{members} thành viên, cần ít nhất {quorum} "
                 "số thành viên ({needed} người, theo quy định có hiệu lực).",
    "tally-consistent": "Kết quả bỏ phiếu không hợp lệ: {problem}.",
    "vote-first": "Phải có phiên họp hội đồng bỏ phiếu đạt trước khi {action}.",
    "threshold-not-reached": "Số phiếu đồng ý ({in_favour}) chưa đạt ngưỡng của hình thức «{form}» ({needed}).",
    "consultation-not-required": "Hình thức «{form}» không phải lấy ý kiến công khai.",
    "consultation-already-open": "Đã lấy ý kiến công khai cho hồ sơ này (đến hết {closes_on}).",
    "consultation-required": "Hình thức «{form}» phải lấy ý kiến công khai {days} ngày trước khi quyết định.",
    "consultation-open": "Đang trong thời gian lấy ý kiến công khai (đến hết {closes_on}); chưa thể quyết định.",
    "outside-consultation": "Ý kiến phải được gửi trong thời gian lấy ý kiến ({opened_on} – {closes_on}).",
    "objection-unknown": "Không có ý kiến phản ánh nào với mã {objection_id}.",
    "objection-open": "Còn ý kiến phản ánh chưa được giải quyết ({objections}); chưa thể quyết định.",
    "objection-upheld": "Ý kiến phản ánh {objections} được xác nhận là đúng; không thể quyết định khen thưởng, hãy từ chối hồ sơ.",
    "level-abolished": "Từ {since} không còn {level}; hội đồng này không còn thẩm quyền quyết định.",
    "outside-authority": "Hình thức «{form}» vượt thẩm quyền của {level} theo quy định có hiệu lực ngày {on}; hồ sơ phải được chuyển lên cấp trên.",
    "not-eligible": "Chưa đủ điều kiện khen thưởng: {problems}",
    "date-order": "Ngày {what} ({date}) không được trước ngày {before} ({before_date}).",
    "already-revoked": "Khen thưởng này đã bị hủy bỏ.",
    "council-not-in-force": "{council} không hoạt động vào ngày {on} (hiệu lực {span}; {source}); "
                            "đề nghị được trả lại đơn vị để gửi hội đồng có thẩm quyền theo sơ đồ hiện hành.",
    "no-council-may-decide": "Không hội đồng nào có hiệu lực ngày {on}, từ {council} trở lên, có thẩm quyền quyết "
                             "định «{form}» ({source}); đề nghị được trả lại đơn vị.",
}


def refuse(rule: str, **facts: Any) -> RuleViolation:
    return rule_violation(RULES_VI, rule, **facts)


OPEN_STATUSES = ("open", "appraised", "voted")
CLOSED_STATUSES = ("forwarded", "returned", "decided", "rejected")


class Case(Aggregate):
    class Event(Aggregate.Event):
        """Every case event names its exemplar and council, so others can place it."""

        business_date: dt.date
        exemplar_id: str
        council_level: str
        jurisdiction: str
        wire_type: ClassVar[str] = ""

    class Opened(Aggregate.Created, Event):
        wire_type = "case.opened"
        exemplar_id: str
        nomination: dict  # award_form, achievement, dossier_refs, nominated_on, source_instance
        subject: dict  # subject_kind, name, field, unit, department
        council_level: str
        jurisdiction: str
        forwarded_from: str | None
        eligibility: dict

    class Forwarded(Event):
        """Above this council's authority: the council above opens it from this event."""

        wire_type = "case.forwarded"
        to_level: str
        to_jurisdiction: str
        reason: str
        nomination: dict
        subject: dict

        def apply(self, case: Case) -> None:
            case.status = "forwarded"

    class Appraised(Event):
        wire_type = "case.appraised"
        appraiser: str
        note: str

        def apply(self, case: Case) -> None:
            case.status = "appraised"

    class Returned(Event):
        """Back to the department: by the appraiser, or by the council itself when no council
        in force may decide it (``rule`` names why; v1 events had no rule: an appraiser's return)."""

        class_version = 2
        wire_type = "case.returned"
        appraiser: str
        reason: str
        rule: str

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["rule"] = "appraisal-returned"

        def apply(self, case: Case) -> None:
            case.status = "returned"

    class SessionRecorded(Event):
        """A council session's secret-ballot tally for this case: the tally only."""

        wire_type = "case.session_recorded"
        session: str
        members: int
        present: int
        in_favour: int
        against: int
        blank: int
        approved: bool

        def apply(self, case: Case) -> None:
            case.approved = self.approved
            case.last_in_favour = self.in_favour
            case.status = "voted"

    class ConsultationOpened(Event):
        wire_type = "case.consultation_opened"
        days: int
        closes_on: dt.date

        def apply(self, case: Case) -> None:
            case.consultation = {"opened_on": self.business_date, "closes_on": self.closes_on}

    class ObjectionRecorded(Event):
        wire_type = "case.objection_recorded"
        objection_id: str
        submitted_by: str
        content: str

        def apply(self, case: Case) -> None:
            case.objections[self.objection_id] = None

    class ObjectionResolved(Event):
        wire_type = "case.objection_resolved"
        objection_id: str
        resolution: str
        upheld: bool

        def apply(self, case: Case) -> None:
            case.objections[self.objection_id] = self.upheld

    class Decided(Event):
        wire_type = "case.decided"
        award_id: str
        award_form: str
        decision_number: str
        signer: str
        eligibility: dict

        def apply(self, case: Case) -> None:
            case.status = "decided"
            case.award_id = self.award_id

    class Rejected(Event):
        wire_type = "case.rejected"
        reason: str

        def apply(self, case: Case) -> None:
            case.status = "rejected"

    def __init__(self, exemplar_id, nomination, subject, council_level, jurisdiction, forwarded_from, eligibility,
                 business_date):
        self.exemplar_id = exemplar_id
        self.nomination = nomination
        self.subject = subject
        self.council_level = council_level
        self.jurisdiction = jurisdiction
        self.forwarded_from = forwarded_from
        self.eligibility = eligibility
        self.opened_on = business_date
        self.status = "open"
        self.approved = False
        self.last_in_favour: int | None = None
        self.consultation: dict | None = None
        self.objections: dict[str, bool | None] = {}
        self.award_id: str | None = None

    @classmethod
    def open(cls, *, case_id: uuid.UUID, exemplar_id: str, nomination: dict, subject: dict, council_level: str,
             jurisdiction: str, forwarded_from: str | None, eligibility: dict, business_date: dt.date) -> Case:
        return cls._create(
            cls.Opened, id=case_id, exemplar_id=exemplar_id, nomination=nomination, subject=subject,
            council_level=council_level, jurisdiction=jurisdiction, forwarded_from=forwarded_from,
            eligibility=eligibility, business_date=business_date,
        )

    def trigger_event(self, event_class, **kwargs) -> None:
        super().trigger_event(event_class, exemplar_id=self.exemplar_id, council_level=self.council_level,
                              jurisdiction=self.jurisdiction, **kwargs)

    @property
    def award_form(self) -> str:
        return self.nomination["award_form"]

    def _guard_open(self, business_date: dt.date) -> None:
        if self.status in CLOSED_STATUSES:
            raise refuse("case-closed", status=self.status)
        if business_date < self.opened_on:
            raise refuse("date-order", what="thao tác", date=business_date, before="mở hồ sơ", before_date=self.opened_on)

    def forward(self, *, to_level: str, to_jurisdiction: str, reason: str, business_date: dt.date) -> None:
        self._guard_open(business_date)
        self.trigger_event(self.Forwarded, to_level=to_level, to_jurisdiction=to_jurisdiction, reason=reason,
                           nomination=self.nomination, subject=self.subject, business_date=business_date)

    def appraise(self, *, passed: bool, appraiser: str, note: str, business_date: dt.date) -> None:
        """Thẩm định: pass the case on to the council, or return it to the department."""
        self._guard_open(business_date)
        if self.status != "open":
            raise refuse("already-appraised")
        if passed:
            self.trigger_event(self.Appraised, appraiser=appraiser, note=note, business_date=business_date)
        else:
            self.trigger_event(self.Returned, appraiser=appraiser, reason=note, rule="appraisal-returned",
                               business_date=business_date)

    def return_unroutable(self, *, rule: str, returned_by: str, business_date: dt.date, **facts: Any) -> None:
        """No council in force may decide this case from here: hand it back, the rule named."""
        self._guard_open(business_date)
        self.trigger_event(self.Returned, appraiser=returned_by, reason=RULES_VI[rule].format(**facts),
                           rule=rule, business_date=business_date)

    def record_session(self, *, policy: PolicyVersion, session: str, members: int, present: int, in_favour: int,
                       against: int, blank: int, business_date: dt.date) -> bool:
        self._guard_open(business_date)
        if self.status == "open":
            raise refuse("appraise-first", action="bỏ phiếu")
        if present > members:
            raise refuse("tally-consistent", problem=f"số có mặt ({present}) lớn hơn số thành viên ({members})")
        if in_favour + against + blank != present:
            raise refuse("tally-consistent",
                         problem=f"tổng số phiếu ({in_favour + against + blank}) khác số có mặt ({present})")
        if not policy.has_quorum(members, present):
            raise refuse("no-quorum", present=present, members=members, quorum=fraction_vi(policy.quorum),
                         needed=policy.quorum_of(members))
        approved = policy.form_rule(self.award_form).vote_passes(members, present, in_favour)
        self.trigger_event(self.SessionRecorded, session=session, members=members, present=present,
                           in_favour=in_favour, against=against, blank=blank, approved=approved,
                           business_date=business_date)
        return approved

    def open_consultation(self, *, policy: PolicyVersion, business_date: dt.date) -> dt.date:
        self._guard_open(business_date)
        if not self.approved:
            raise refuse("vote-first", action="lấy ý kiến công khai")
        days = policy.form_rule(self.award_form).consultation_days
        if days == 0:
            raise refuse("consultation-not-required", form=self.award_form)
        if self.consultation:
            raise refuse("consultation-already-open", closes_on=self.consultation["closes_on"])
        closes_on = business_date + dt.timedelta(days=days)
        self.trigger_event(self.ConsultationOpened, days=days, closes_on=closes_on, business_date=business_date)
        return closes_on

    def record_objection(self, *, submitted_by: str, content: str, business_date: dt.date) -> str:
        self._guard_open(business_date)
        window = self.consultation
        if not window or not window["opened_on"] <= business_date <= window["closes_on"]:
            raise refuse("outside-consultation", opened_on=window["opened_on"] if window else "-",
                         closes_on=window["closes_on"] if window else "-")
        objection_id = f"O{len(self.objections) + 1}"
        self.trigger_event(self.ObjectionRecorded, objection_id=objection_id, submitted_by=submitted_by,
                           content=content, business_date=business_date)
        return objection_id

    def resolve_objection(self, *, objection_id: str, resolution: str, upheld: bool, business_date: dt.date) -> None:
        self._guard_open(business_date)
        if objection_id not in self.objections:
            raise refuse("objection-unknown", objection_id=objection_id)
        self.trigger_event(self.ObjectionResolved, objection_id=objection_id, resolution=resolution, upheld=upheld,
                           business_date=business_date)

    def decide(self, *, policy: PolicyVersion, eligibility: dict, award_id: str, decision_number: str, signer: str,
               business_date: dt.date) -> None:
        """Quyết định khen thưởng, judged by the policy in force on the decision's date."""
        self._guard_open(business_date)
        level_name = policy.level_names.get(self.council_level, self.council_level)
        if not policy.has_level(self.council_level):
            raise refuse("level-abolished", since=policy.effective_from.strftime("%d/%m/%Y"), level=level_name)
        if not policy.may_grant(self.council_level, self.award_form):
            raise refuse("outside-authority", form=self.award_form, level=level_name, on=business_date.isoformat())
        if self.status == "open":
            raise refuse("appraise-first", action="quyết định")
        if self.last_in_favour is None:
            raise refuse("vote-first", action="quyết định")
        if not self.approved:
            rule = policy.form_rule(self.award_form)
            base = "tổng số thành viên" if rule.vote_base == "members" else "số thành viên có mặt"
            needed = f"{'hơn' if rule.strictly_more else 'ít nhất'} {rule.vote_threshold} {base}"
            raise refuse("threshold-not-reached", in_favour=self.last_in_favour, form=self.award_form, needed=needed)
        self._check_consultation(policy, business_date)
        if not eligibility["eligible"]:
            raise refuse("not-eligible", problems=" ".join(p["message"] for p in eligibility["problems"]))
        self.trigger_event(self.Decided, award_id=award_id, award_form=self.award_form,
                           decision_number=decision_number, signer=signer, eligibility=eligibility,
                           business_date=business_date)

    def _check_consultation(self, policy: PolicyVersion, business_date: dt.date) -> None:
        days = policy.form_rule(self.award_form).consultation_days
        if days and not self.consultation:
            raise refuse("consultation-required", form=self.award_form, days=days)
        if self.consultation and business_date <= self.consultation["closes_on"]:
            raise refuse("consultation-open", closes_on=self.consultation["closes_on"].isoformat())
        pending = [o for o, upheld in self.objections.items() if upheld is None]
        if pending:
            raise refuse("objection-open", objections=", ".join(pending))
        upheld = [o for o, is_upheld in self.objections.items() if is_upheld]
        if upheld:
            raise refuse("objection-upheld", objections=", ".join(upheld))

    def reject(self, *, reason: str, business_date: dt.date) -> None:
        self._guard_open(business_date)
        self.trigger_event(self.Rejected, reason=reason, business_date=business_date)


class Award(Aggregate):
    """An entry in the award register, created by a decision."""

    class Event(Aggregate.Event):
        business_date: dt.date
        exemplar_id: str
        wire_type: ClassVar[str] = ""

    class Granted(Aggregate.Created, Event):
        wire_type = "award.granted"
        case_id: str
        exemplar_id: str
        subject: dict
        award_form: str
        year: int  # the year the achievement is for (prerequisites count by it)
        achievement: str
        decision_number: str
        signer: str
        council_level: str
        jurisdiction: str
        prerequisite_award_ids: list

    class Revoked(Event):
        wire_type = "award.revoked"
        ground: str
        reason: str
        decision_number: str

        def apply(self, award: Award) -> None:
            award.revoked = True

    class FlaggedForReview(Event):
        """A prerequisite of this award was revoked: the award must be reviewed."""

        wire_type = "award.flagged_for_review"
        revoked_award_id: str
        reason: str

        def apply(self, award: Award) -> None:
            award.flagged_by.append(self.revoked_award_id)

    def __init__(self, case_id, exemplar_id, subject, award_form, year, achievement, decision_number, signer,
                 council_level, jurisdiction, prerequisite_award_ids, business_date):
        self.case_id = case_id
        self.exemplar_id = exemplar_id
        self.subject = subject
        self.award_form = award_form
        self.year = year
        self.achievement = achievement
        self.decision_number = decision_number
        self.decided_on = business_date
        self.prerequisite_award_ids = prerequisite_award_ids
        self.revoked = False
        self.flagged_by: list[str] = []

    @classmethod
    def grant(cls, *, award_id: uuid.UUID, case: Case, decision_number: str, signer: str,
              prerequisite_award_ids: list[str], business_date: dt.date) -> Award:
        """The award is for the nomination's award year, not the decision's (titles for year N
        are often decided in N+1); a nomination from before award years: the decision's year."""
        from awards.eligibility import award_year_of

        year = award_year_of(case.nomination, case.subject, business_date.year)
        return cls._create(
            cls.Granted, id=award_id, case_id=str(case.id), exemplar_id=case.exemplar_id, subject=case.subject,
            award_form=case.award_form, year=year, achievement=case.nomination["achievement"],
            decision_number=decision_number, signer=signer, council_level=case.council_level,
            jurisdiction=case.jurisdiction, prerequisite_award_ids=list(prerequisite_award_ids),
            business_date=business_date,
        )

    def trigger_event(self, event_class, **kwargs) -> None:
        super().trigger_event(event_class, exemplar_id=self.exemplar_id, **kwargs)

    def revoke(self, *, ground: str, reason: str, decision_number: str, business_date: dt.date) -> None:
        if self.revoked:
            raise refuse("already-revoked")
        if business_date < self.decided_on:
            raise refuse("date-order", what="hủy bỏ", date=business_date, before="quyết định khen thưởng",
                         before_date=self.decided_on)
        self.trigger_event(self.Revoked, ground=ground, reason=reason, decision_number=decision_number,
                           business_date=business_date)

    def flag_for_review(self, *, revoked_award_id: str, business_date: dt.date) -> None:
        self.trigger_event(self.FlaggedForReview, revoked_award_id=revoked_award_id,
                           reason=f"Khen thưởng tiền đề {revoked_award_id} đã bị hủy bỏ", business_date=business_date)
