"""The registry of wire event types: one entry a type, the one list every other list derives from.

Each entry names the type (``exemplar.detected``), the service that emits it, its payload's
schema, and, for an event addressed to one council, the payload fields naming that
council's level and jurisdiction. Producers' stored events must match it (tests hold every
domain event class against its entry), consumers refuse a payload that does not
(``payload_refusal``, applied in ``shared.wire.verified``), and the trust list, routing
bindings, subscription filters, notification templates and the OpenAPI document read it.

Payload schemas allow fields they do not know: a producer one version ahead may add one.
Nested records (a nomination, a subject, eligibility) are objects whose own shape belongs
to the producer's domain; the fields consumers read at the top level are typed here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


@dataclass(frozen=True)
class WireType:
    name: str
    emitted_by: str  # the service, e.g. "nominations"
    payload: type[Payload]
    summary_vi: str  # what happened, for the OpenAPI document and operators' pages
    addressed_by: tuple[str, str] | None = None  # payload fields: council level, jurisdiction
    council_field: str | None = None  # payload field naming the council that said it (trust)
    fanned_out: bool = True  # notifications fans it out to subscribers
    every_council: bool = False  # every council hears it (holds, awards: the rules count them)


# nominations: the exemplar's lifecycle ----------------------------------------------------------------

class ExemplarDetected(Payload):
    subject_kind: str
    name: str
    field: str
    movement: str
    unit: str
    department: str
    achievements: list
    subject_id: str


class NurturePlanned(Payload):
    responsible_unit: str
    milestones: list


class ProgressRecorded(Payload):
    note: str
    milestone: str


class CheckRecorded(Payload):
    checked_by: str
    finding: str
    on_track: bool


class Reviewed(Payload):
    review_kind: str
    general_criteria: list
    field_criteria: list
    passed: bool
    summary: str


class Endorsed(Payload):
    meeting: str
    members: int
    present: int
    in_favour: int
    against: int
    abstained: int
    endorsed: bool


class Nominated(Payload):
    award_form: str
    dossier_refs: list
    achievement: str
    subject: dict
    council_level: str
    jurisdiction: str
    award_year: int


class CouncilCaseProgressed(Payload):
    case_id: str
    step: str
    council_level: str
    jurisdiction: str
    reason: str


class Awarded(Payload):
    award_id: str
    award_form: str
    decision_number: str
    signer: str
    council_level: str
    jurisdiction: str


class AwardRevokedOnExemplar(Payload):
    award_id: str
    ground: str
    reason: str


class Publicized(Payload):
    channel: str
    audience: str
    reference: str


class AdoptionStarted(Payload):
    adoption_id: str
    adopting_unit: str
    method: str


class AdoptionOutcomeRecorded(Payload):
    adoption_id: str
    outcome: str
    successful: bool


class YearEvaluated(Payload):
    year: int
    rating: str
    score: int
    previous_score: int | None
    note: str


class InitiativeRecorded(Payload):
    initiative_id: str
    title: str
    kind: str
    year: int


class InitiativeRecognised(Payload):
    initiative_id: str
    scope: str
    recognised_by: str
    reference: str


class RosterRecorded(Payload):
    year: int
    members: list


class PutOnHold(Payload):
    hold_id: str
    hold_kind: str
    reason: str


class HoldReleased(Payload):
    hold_id: str
    resolution: str


class Withdrawn(Payload):
    reason: str


# awards: a council's case and the awards it grants ----------------------------------------------------

class CaseEvent(Payload):
    exemplar_id: str
    council_level: str
    jurisdiction: str


class CaseOpened(CaseEvent):
    nomination: dict
    subject: dict
    forwarded_from: str | None
    eligibility: dict


class CaseForwarded(CaseEvent):
    to_level: str
    to_jurisdiction: str
    reason: str
    nomination: dict
    subject: dict


class CaseAppraised(CaseEvent):
    appraiser: str
    note: str


class CaseReturned(CaseEvent):
    appraiser: str
    reason: str
    rule: str


class SessionRecorded(CaseEvent):
    session: str
    members: int
    present: int
    in_favour: int
    against: int
    blank: int
    approved: bool


class ConsultationOpened(CaseEvent):
    days: int
    closes_on: dt.date


class ObjectionRecorded(CaseEvent):
    objection_id: str
    submitted_by: str
    content: str


class ObjectionResolved(CaseEvent):
    objection_id: str
    resolution: str
    upheld: bool


class CaseDecided(CaseEvent):
    award_id: str
    award_form: str
    decision_number: str
    signer: str
    eligibility: dict


class CaseRejected(CaseEvent):
    reason: str


class AwardGranted(Payload):
    exemplar_id: str
    case_id: str
    subject: dict
    award_form: str
    year: int
    achievement: str
    decision_number: str
    signer: str
    council_level: str
    jurisdiction: str
    prerequisite_award_ids: list


class AwardRevoked(Payload):
    exemplar_id: str
    ground: str
    reason: str
    decision_number: str


class AwardFlaggedForReview(Payload):
    exemplar_id: str
    revoked_award_id: str
    reason: str


# notifications: subscriptions (their webhook secrets never travel) -------------------------------------

class SubscriptionCreated(Payload):
    recipient_id: str
    recipient_kind: str
    name: str
    locale: str
    filters: dict
    channels: list
    preferences: dict


class PreferencesChanged(Payload):
    preferences: dict


class SubscriptionCancelled(Payload):
    reason: str


class SecretSealed(Payload):
    channel: str


TO_COUNCIL = ("council_level", "jurisdiction")

_TYPES = [
    WireType("exemplar.detected", "nominations", ExemplarDetected, "Phát hiện điển hình"),
    WireType("exemplar.nurture_planned", "nominations", NurturePlanned, "Lập kế hoạch bồi dưỡng"),
    WireType("exemplar.progress_recorded", "nominations", ProgressRecorded, "Ghi nhận tiến độ bồi dưỡng"),
    WireType("exemplar.check_recorded", "nominations", CheckRecorded, "Kiểm tra, theo dõi"),
    WireType("exemplar.reviewed", "nominations", Reviewed, "Sơ kết / tổng kết"),
    WireType("exemplar.endorsed", "nominations", Endorsed, "Tập thể bình xét"),
    WireType("exemplar.nominated", "nominations", Nominated, "Đề nghị khen thưởng", addressed_by=TO_COUNCIL),
    WireType("exemplar.council_case_progressed", "nominations", CouncilCaseProgressed,
             "Hồ sơ tại hội đồng chuyển bước"),
    WireType("exemplar.awarded", "nominations", Awarded, "Được khen thưởng"),
    WireType("exemplar.award_revoked", "nominations", AwardRevokedOnExemplar, "Bị hủy khen thưởng"),
    WireType("exemplar.publicized", "nominations", Publicized, "Tuyên truyền"),
    WireType("exemplar.adoption_started", "nominations", AdoptionStarted, "Bắt đầu nhân rộng"),
    WireType("exemplar.adoption_outcome_recorded", "nominations", AdoptionOutcomeRecorded, "Kết quả nhân rộng"),
    WireType("exemplar.year_evaluated", "nominations", YearEvaluated, "Đánh giá, xếp loại năm"),
    WireType("exemplar.initiative_recorded", "nominations", InitiativeRecorded, "Ghi nhận sáng kiến"),
    WireType("exemplar.initiative_recognised", "nominations", InitiativeRecognised, "Sáng kiến được công nhận"),
    WireType("exemplar.roster_recorded", "nominations", RosterRecorded, "Danh sách thành viên tập thể"),
    WireType("exemplar.put_on_hold", "nominations", PutOnHold, "Tạm dừng xét khen thưởng", every_council=True),
    WireType("exemplar.hold_released", "nominations", HoldReleased, "Hết tạm dừng", every_council=True),
    WireType("exemplar.withdrawn", "nominations", Withdrawn, "Rút khỏi danh sách điển hình"),
    WireType("case.opened", "awards", CaseOpened, "Hội đồng nhận hồ sơ", council_field="jurisdiction"),
    WireType("case.forwarded", "awards", CaseForwarded, "Chuyển hồ sơ lên cấp trên",
             addressed_by=("to_level", "to_jurisdiction"), council_field="jurisdiction"),
    WireType("case.appraised", "awards", CaseAppraised, "Thẩm định hồ sơ", council_field="jurisdiction"),
    WireType("case.returned", "awards", CaseReturned, "Trả lại hồ sơ", council_field="jurisdiction"),
    WireType("case.session_recorded", "awards", SessionRecorded, "Kết quả phiên họp hội đồng",
             council_field="jurisdiction"),
    WireType("case.consultation_opened", "awards", ConsultationOpened, "Lấy ý kiến nhân dân",
             council_field="jurisdiction"),
    WireType("case.objection_recorded", "awards", ObjectionRecorded, "Ghi nhận ý kiến phản ánh",
             council_field="jurisdiction"),
    WireType("case.objection_resolved", "awards", ObjectionResolved, "Giải quyết ý kiến phản ánh",
             council_field="jurisdiction"),
    WireType("case.decided", "awards", CaseDecided, "Quyết định khen thưởng", council_field="jurisdiction"),
    WireType("case.rejected", "awards", CaseRejected, "Không khen thưởng", council_field="jurisdiction"),
    WireType("award.granted", "awards", AwardGranted, "Trao danh hiệu, hình thức khen thưởng",
             council_field="jurisdiction", every_council=True),
    WireType("award.revoked", "awards", AwardRevoked, "Hủy quyết định khen thưởng", every_council=True),
    WireType("award.flagged_for_review", "awards", AwardFlaggedForReview, "Khen thưởng cần xem xét lại", every_council=True),
    WireType("subscription.created", "notifications", SubscriptionCreated, "Đăng ký nhận thông báo",
             fanned_out=False),
    WireType("subscription.preferences_changed", "notifications", PreferencesChanged, "Đổi tùy chọn thông báo",
             fanned_out=False),
    WireType("subscription.cancelled", "notifications", SubscriptionCancelled, "Hủy đăng ký", fanned_out=False),
    WireType("subscription.secret_sealed", "notifications", SecretSealed, "Niêm phong khóa webhook",
             fanned_out=False),
    WireType("subscription.secret_rotated", "notifications", SecretSealed, "Đổi khóa webhook", fanned_out=False),
]
WIRE_TYPES: dict[str, WireType] = {t.name: t for t in _TYPES}
SERVICES = tuple(dict.fromkeys(t.emitted_by for t in _TYPES))


def emitted_by(service: str) -> tuple[str, ...]:
    return tuple(t.name for t in _TYPES if t.emitted_by == service)


def fanned_out() -> frozenset[str]:
    """The types a subscription may name: what notifications tells people about."""
    return frozenset(t.name for t in _TYPES if t.fanned_out)


def addressed() -> dict[str, tuple[str, str]]:
    return {t.name: t.addressed_by for t in _TYPES if t.addressed_by}


def council_hears(service: str) -> tuple[str, tuple[str, ...]]:
    """What a council's queue for ``service`` binds: the one type of that service addressed to
    one council, and the types every council hears."""
    (to_one,) = (t.name for t in _TYPES if t.emitted_by == service and t.addressed_by)
    return to_one, tuple(t.name for t in _TYPES if t.emitted_by == service and t.every_council)


def payload_refusal(event_type: str, payload: Any) -> str | None:
    """Why ``payload`` is not a valid payload of ``event_type`` (English, for the log), or None."""
    known = WIRE_TYPES.get(event_type)
    if known is None:
        return f"unknown wire event type {event_type!r}"
    try:
        known.payload.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        return f"payload of {event_type}: {'.'.join(map(str, first['loc'])) or '(whole)'}: {first['msg']}"
    return None
