"""The accounts service's commands and role codes, as the gateway and the CLI send them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

# The roles an account may have: the access rules' own (shared.callers), one list.
from shared.callers import ADMIN, AUDITOR, OFFICER, OPERATOR, ROLE_NAMES_VI, ROLES, SECRETARY  # noqa: E402,F401
USER_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"  # also a valid token subject (gateway.access.SUBJECT)
CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,99}$"

UserName = Annotated[str, StringConstraints(pattern=USER_NAME_PATTERN)]
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]


class NewAccount(BaseModel):
    """An account an administrator creates; the password is hashed at once and never stored clear."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    user_name: UserName
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: Literal["department_officer", "council_secretary", "auditor", "operator", "administrator"]
    department: Code | None = None
    council: Code | None = None
    password: Annotated[str, StringConstraints(min_length=12, max_length=200, strip_whitespace=False)]


class Disable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] = "Quản trị viên vô hiệu hoá"


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    user_name: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True,
                                                to_lower=True)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]
