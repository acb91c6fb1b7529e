"""Validate input against a pydantic model; refuse with the first bad field named.

Text has one limit per kind, declared here and used by the command models and the
tables that store it alike (``String(NAME_MAX)``), so nothing validation accepts can be
refused by the database later, where it would stop a read model. Before it is stored or
compared, text is normalised to Unicode NFC with zero-width characters removed; control
characters (NUL and the like; a newline only in long text) and the bidirectional overrides
that make text display other than it reads are refused, naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from shared.errors import InvalidInput

TEXT_MAX = 2000  # free text: achievements, notes, reasons, findings
NAME_MAX = 500  # a name: a person, a household, a unit, a meeting, a dossier reference
CODE_MAX = 100  # a catalog code, a decision number
ID_MAX = 200  # an identifier others choose: a recipient, a department, an instance
LIST_MAX = 100  # entries in one list of a request (criteria, achievements, filters)
PAGE_MAX = 1000  # rows in one page of a list answer ({"total": N, "items": [...]})
PAGE_DEFAULT = 100
OFFSET_MAX = 2**31 - 1  # past any real list, and inside every database's integers

ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
BIDI_OVERRIDES = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def normalised(value: str) -> str:
    """NFC, zero-width characters removed: two spellings of one name compare equal."""
    return ZERO_WIDTH.sub("", unicodedata.normalize("NFC", value))


def _cleaned(value: str, max_length: int, newline_allowed: bool, may_be_empty: bool = False) -> str:
    """Normalised and stripped first, then checked and measured: the limit counts what is stored."""
    value = normalised(value.replace("\r\n", "\n") if newline_allowed else value).strip()
    for char in value:
        if (unicodedata.category(char) == "Cc" and not (newline_allowed and char == "\n")) or char in BIDI_OVERRIDES:
            raise PydanticCustomError("control_character", "control character U+{code} is not allowed",
                                      {"code": f"{ord(char):04X}"})
    if not value and not may_be_empty:
        raise PydanticCustomError("string_too_short", "the text is empty", {"min_length": 1})
    if len(value) > max_length:
        raise PydanticCustomError("string_too_long", "the text is longer than {max_length} characters",
                                  {"max_length": max_length})
    return value


def _text(max_length: int, newline_allowed: bool, may_be_empty: bool = False) -> type[str]:
    # the published schema (gateway.openapi) says what the validator checks: a length, no control characters
    schema = {"maxLength": max_length, "minLength": 0 if may_be_empty else 1,
              "pattern": "^[^\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f]*$" if newline_allowed else "^[^\\x00-\\x1f\\x7f-\\x9f]*$"}
    return Annotated[str, AfterValidator(lambda value: _cleaned(value, max_length, newline_allowed, may_be_empty)),
                     Field(json_schema_extra=schema)]


Text = _text(TEXT_MAX, newline_allowed=True)
Name = _text(NAME_MAX, newline_allowed=False)
Code = _text(CODE_MAX, newline_allowed=False)
Identifier = _text(ID_MAX, newline_allowed=False)
OptionalText = _text(TEXT_MAX, newline_allowed=True, may_be_empty=True)  # a note one may leave out ("")
OptionalName = _text(NAME_MAX, newline_allowed=False, may_be_empty=True)


MESSAGES_VI = {
    "missing": "Thiếu trường bắt buộc «{field}».",
    "extra_forbidden": "Trường «{field}» không được hỗ trợ.",
    "string_too_long": "Trường «{field}» dài quá {max_length} ký tự.",
    "string_too_short": "Trường «{field}» không được để trống.",
    "control_character": "Trường «{field}» chứa ký tự điều khiển không được phép (U+{code}).",
    "too_long": "Trường «{field}» có quá {max_length} mục.",
    "explained": "Trường «{field}»: {reason}.",  # a validator's own Vietnamese reason (PydanticCustomError)
}


def explained(reason_vi: str, log: str) -> PydanticCustomError:
    """A validator's refusal with its own Vietnamese reason, which ``parse`` shows beside the field."""
    return PydanticCustomError("explained", "{log}", {"reason": reason_vi, "log": log})


def parse(model: type[BaseModel], data: object) -> BaseModel:
    """Validate ``data`` against ``model``; refuse with the first bad field named."""
    if not isinstance(data, dict):
        raise InvalidInput("Dữ liệu gửi lên phải là một đối tượng JSON.", "body is not an object", "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        template = MESSAGES_VI.get(error["type"], "Giá trị của trường «{field}» không hợp lệ.")
        message = template.format(field=field, **(error.get("ctx") or {}))
        raise InvalidInput(message, f"invalid {field}: {error['msg']}", field) from None


class Page(BaseModel):
    """Which rows of a list: every list answer is ``{"total": N, "items": [...]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    limit: Annotated[int, Field(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT
    offset: Annotated[int, Field(ge=0, le=OFFSET_MAX)] = 0


def page(limit: object = None, offset: object = None) -> Page:
    """The page asked for (query-string text or numbers); a bad one is refused naming the field."""
    return parse(Page, {k: v for k, v in (("limit", limit), ("offset", offset)) if v not in (None, "")})
