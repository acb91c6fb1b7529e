"""The nominations service's contract: the shape of every command's input and of its queries.

A value of the wrong shape is refused with ``InvalidInput`` naming the field; the
domain model then checks the lifecycle rules. The gateway reads the same models to check
queries before asking the service and to publish the OpenAPI document.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shared.validation import LIST_MAX, Code, Identifier, Name, OptionalName, OptionalText, Text
from shared.validation import parse  # noqa: F401 - re-exported for callers of this module

DEFAULT_INSTANCE = "nominations-hoi-nong-dan-yen-the"  # the demo department's instance


def service_name(instance: str) -> str:
    """Each department's instance is its own nameko service (own RPC and event queues), so
    two departments never take each other's calls or events, and copies of one share them."""
    return instance.replace("-", "_")


def configured_instance() -> str:
    """The instance this process runs as, or talks to (the gateway and CLI serve one department)."""
    return os.environ.get("NOMINATIONS_INSTANCE_ID") or DEFAULT_INSTANCE


# The exemplar's stages (nominations.domainmodel's stage machine moves it through them).
STAGE_NAMES_VI = {
    "detected": "Phát hiện",
    "nurturing": "Bồi dưỡng",
    "reviewed": "Sơ kết / tổng kết",
    "nominated": "Đề nghị khen thưởng",
    "awarded": "Được khen thưởng",
    "replicating": "Nhân rộng",
    "withdrawn": "Đã rút",
}

Count = Annotated[int, Field(ge=0, le=1_000_000)]
Year = Annotated[int, Field(ge=1945, le=2100)]

# Yearly ratings on the legal scale (Decree 90/2020/NĐ-CP): hoàn thành xuất sắc / hoàn thành tốt /
# hoàn thành / không hoàn thành nhiệm vụ. The first scale's "fair" and "poor" are still taken
# (older clients send them) and mean "complete" and "incomplete", as the stored events' upcaster says.
OLD_RATING_CODES = {"fair": "complete", "poor": "incomplete"}
Rating = Annotated[Literal["excellent", "good", "complete", "incomplete"],
                   BeforeValidator(lambda value: OLD_RATING_CODES.get(value, value))]
InitiativeScope = Literal["co-so", "tinh", "toan-quoc"]
# Disciplinary measures, lightest first (Law on Cadres and Civil Servants art. 79); "none": not disciplined.
Discipline = Literal["none", "reprimand", "warning", "salary-step-down", "demotion", "removal", "dismissal"]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    business_date: dt.date


class Detect(Command):
    subject_kind: Code
    name: Name
    field: Code
    movement: Code
    unit: Name
    achievements: list[Text] = Field(min_length=1, max_length=LIST_MAX)
    # The subject's identity across departments (nominations.domainmodel.subject_identity):
    # a person's or household head's national id (CCCD, 12 digits), a unit's code, or an
    # existing subject's id; none of them: a new subject.
    national_id: Annotated[str, Field(pattern=r"^\d{12}$")] | None = None
    unit_code: Code | None = None
    subject_id: uuid.UUID | None = None


class Milestone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    due: dt.date


class PlanNurture(Command):
    responsible_unit: Name
    milestones: list[Milestone] = Field(min_length=1, max_length=LIST_MAX)


class RecordProgress(Command):
    note: Text
    milestone: OptionalName = ""


class RecordCheck(Command):
    checked_by: Name
    finding: Text
    on_track: bool


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    criterion: Text
    met: bool


class Review(Command):
    review_kind: Literal["interim", "final"]
    general_criteria: list[Criterion] = Field(min_length=1, max_length=LIST_MAX)
    field_criteria: list[Criterion] = Field(min_length=1, max_length=LIST_MAX)
    summary: Text


class Endorse(Command):
    meeting: Name
    members: Annotated[int, Field(ge=1, le=1_000_000)]
    present: Count
    in_favour: Count
    against: Count
    abstained: Count


class Nominate(Command):
    award_form: Code
    dossier_refs: list[Name] = Field(min_length=1, max_length=LIST_MAX)
    achievement: Text
    award_year: Year | None = None  # the year the achievement is for; absent: the business date's year


class Publicize(Command):
    channel: Name
    audience: Name
    reference: OptionalName = ""


class StartAdoption(Command):
    adopting_unit: Name
    method: Text


class RecordAdoptionOutcome(Command):
    adoption_id: Code
    outcome: Text
    successful: bool


class EvaluateYear(Command):
    year: Year
    rating: Rating
    score: Annotated[int, Field(ge=0, le=100)]
    note: OptionalText = ""


class RecordInitiative(Command):
    title: Text
    kind: Literal["initiative", "research"] = "initiative"  # sáng kiến, or đề tài nghiên cứu khoa học
    year: Year  # the year it was applied: eligibility counts it for that year


class RecogniseInitiative(Command):
    initiative_id: Code
    scope: InitiativeScope
    recognised_by: Name  # e.g. Hội đồng sáng kiến huyện Yên Thế
    reference: Name  # the recognising decision, e.g. 15/QĐ-HĐSK


class RosterMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    title: Code | None = None  # the member's emulation title of the year (an award form code)
    rating: Rating  # how the member completed the year's tasks
    discipline: Discipline = "none"  # the heaviest disciplinary measure of the year


class RecordRoster(Command):
    year: Year
    members: list[RosterMember] = Field(min_length=1, max_length=10_000)


class PutOnHold(Command):
    hold_kind: Literal["discipline", "investigation", "complaint"]
    reason: Text


class ReleaseHold(Command):
    hold_id: Code
    resolution: Text


class Withdraw(Command):
    reason: Text


class ListFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    department: Identifier | None = None
    field: Code | None = None
    movement: Code | None = None
    stage: Code | None = None
    year: Annotated[int, Field(ge=1945, le=2100)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data):
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v not in (None, "")}
        return data


# command name -> its input model: every change to an existing exemplar, in the order officers meet them.
# The application applies each as the exemplar's method of the same name.
CHANGE_COMMANDS: dict[str, type[Command]] = {
    "plan_nurture": PlanNurture,
    "record_progress": RecordProgress,
    "record_check": RecordCheck,
    "review": Review,
    "endorse": Endorse,
    "nominate": Nominate,
    "publicize": Publicize,
    "start_adoption": StartAdoption,
    "record_adoption_outcome": RecordAdoptionOutcome,
    "evaluate_year": EvaluateYear,
    "put_on_hold": PutOnHold,
    "release_hold": ReleaseHold,
    "withdraw": Withdraw,
    "record_initiative": RecordInitiative,
    "recognise_initiative": RecogniseInitiative,
    "record_roster": RecordRoster,
}
