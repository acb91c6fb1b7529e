"""The notifications service's contract: the input of its commands and queries.

The notifications service validates with these models; the gateway reads them to check
requests and to publish the OpenAPI document.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Callable, Literal
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared.validation import LIST_MAX, TEXT_MAX, Code, Identifier, Name, explained

ADDRESS_MAX = 2000  # the ledger's address column
# One address, no display name: a comma, semicolon or angle bracket could smuggle in a list.
EMAIL_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                           r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def _inbox_address_problem(address: str) -> str | None:
    if address:
        return "hộp thư trong ứng dụng là của người nhận, không có địa chỉ (để trống)"
    return None


def _email_address_problem(address: str) -> str | None:
    if not EMAIL_ADDRESS.match(address):
        return (f"«{address}» không phải một địa chỉ thư điện tử (một địa chỉ dạng ten@mien.vn, "
                "không kèm tên hiển thị, không phải danh sách)")
    return None


def _webhook_address_problem(address: str) -> str | None:
    url = urlparse(address)
    if url.scheme not in ("http", "https") or not url.hostname:
        return f"«{address}» không phải một địa chỉ webhook (URL http:// hoặc https:// có tên máy chủ)"
    return None


# The delivery channels a subscription may name, each with what its address must look like (for an
# officer, in Vietnamese; None: fine). notifications.channels gives each its sender; the two agree
# (tests/unit/test_channels.py). Whether a webhook's host may be reached is the service's to check.
ADDRESS_PROBLEMS: dict[str, Callable[[str], str | None]] = {
    "inbox": _inbox_address_problem, "email": _email_address_problem, "webhook": _webhook_address_problem}
CHANNEL_NAMES = tuple(ADDRESS_PROBLEMS)


def _known_channel(name: str) -> str:
    if name not in ADDRESS_PROBLEMS:
        raise explained(f"không có kênh «{name}»; các kênh: {', '.join(CHANNEL_NAMES)}", f"unknown channel {name!r}")
    return name


# A channel's name in a command; the OpenAPI schema's enum says which.
ChannelName = Annotated[str, AfterValidator(_known_channel), Field(json_schema_extra={"enum": list(CHANNEL_NAMES)})]




class DeliveryIds(BaseModel):
    """The deliveries a request names: those to mark read in an inbox, or to replay."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    delivery_ids: list[Identifier] = Field(default_factory=list, max_length=LIST_MAX)


class Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    channel: ChannelName
    # Its address, checked by its channel: an email address, a webhook's URL; empty for the inbox.
    address: Annotated[str, Field(max_length=ADDRESS_MAX)] = ""
    # A webhook's Standard Webhooks secret, "whsec_<base64 of 24-64 bytes>"; left empty, the
    # service makes one and answers it once. Stored sealed only (notifications.sealing).
    secret: Annotated[str, Field(max_length=200)] = ""

    @field_validator("address")
    @classmethod
    def _address_fits_channel(cls, address: str, info: ValidationInfo) -> str:
        name = info.data.get("channel")  # absent: the channel was refused already
        problem = name and ADDRESS_PROBLEMS[name](address)
        if problem:
            raise explained(problem, f"malformed {name} address {address!r}")
        return address


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    secret: Annotated[str, Field(max_length=200)] = ""  # the new whsec_ secret; empty: the service makes one


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: dt.time
    end: dt.time


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    muted: bool = False
    digest: bool = False  # one message a day instead of each
    quiet_hours: QuietHours | None = None


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    recipient_id: Identifier
    recipient_kind: Literal["person", "unit"]
    name: Name
    locale: Literal["vi", "en"] = "vi"
    departments: list[Identifier] = Field([], max_length=LIST_MAX)
    fields: list[Code] = Field([], max_length=LIST_MAX)
    movements: list[Code] = Field([], max_length=LIST_MAX)
    event_types: list[Code] = Field([], max_length=LIST_MAX)
    exemplar_ids: list[uuid.UUID] = Field([], max_length=LIST_MAX)
    channels: list[Channel] = Field(min_length=1, max_length=len(ADDRESS_PROBLEMS))
    preferences: Preferences = Preferences()

    @field_validator("channels")
    @classmethod
    def _one_per_channel(cls, value):
        kinds = [c.channel for c in value]
        if len(kinds) != len(set(kinds)):
            raise explained("mỗi kênh chỉ được có một lần", "each channel at most once")
        return value


class Cancel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: Annotated[str, Field(max_length=TEXT_MAX)] = ""
