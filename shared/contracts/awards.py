"""The awards service's contract: the input of each secretary's command and of its queries.

Each council's awards service validates with these models; the gateway reads them to check
queries before asking a council and to publish the OpenAPI document.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.validation import OFFSET_MAX, PAGE_DEFAULT, PAGE_MAX, Code, Name, Text

DECISION_NUMBER = re.compile(r"^\d+/QĐ-[A-ZĐ0-9]+(-[A-ZĐ0-9]+)*$")


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    business_date: dt.date


class Appraise(Command):
    passed: bool
    appraiser: Name
    note: Text


class RecordSession(Command):
    session: Name
    members: Annotated[int, Field(ge=1, le=1000)]
    present: Annotated[int, Field(ge=0, le=1000)]
    in_favour: Annotated[int, Field(ge=0, le=1000)]
    against: Annotated[int, Field(ge=0, le=1000)]
    blank: Annotated[int, Field(ge=0, le=1000)] = 0


class OpenConsultation(Command):
    pass


class RecordObjection(Command):
    submitted_by: Name
    content: Text


class ResolveObjection(Command):
    objection_id: Code
    resolution: Text
    upheld: bool


class Decide(Command):
    decision_number: Code
    signer: Name

    @field_validator("decision_number")
    @classmethod
    def _numbered_like_a_decision(cls, value: str) -> str:
        if not DECISION_NUMBER.match(value):
            raise ValueError("expected a decision number such as 123/QĐ-UBND")
        return value


class Reject(Command):
    reason: Text


# the secretary's command -> its input model (also what gateway.openapi publishes)
CASE_COMMANDS: dict[str, type[Command]] = {
    "appraise": Appraise, "record_session": RecordSession, "open_consultation": OpenConsultation,
    "record_objection": RecordObjection, "resolve_objection": ResolveObjection, "decide": Decide, "reject": Reject}


class AwardFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    year: Annotated[int, Field(ge=1945, le=2100)] | None = None
    unit: Name | None = None
    field: Code | None = None
    award_form: Code | None = None
    department: Code | None = None
    exemplar_id: Code | None = None
    limit: Annotated[int, Field(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT
    offset: Annotated[int, Field(ge=0, le=OFFSET_MAX)] = 0


# The grounds on which an award is revoked: false declaration, forged dossier, unlawful appraisal, standard unmet.
REVOCATION_GROUNDS = {
    "a": "khai man hồ sơ, thành tích",
    "b": "giả mạo hồ sơ",
    "c": "thẩm định, xét duyệt, đề nghị khen thưởng trái pháp luật",
    "d": "sau này phát hiện không đủ tiêu chuẩn",
}


class Revoke(Command):
    ground: Literal["a", "b", "c", "d"]
    reason: Text
    decision_number: Code
