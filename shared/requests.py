"""Who asked for a change, and the key a client retries it with (``Idempotency-Key``).

Every event a person's command stores carries ``recorded_by`` (the caller's token subject and
role) and the last one also ``request``: the caller's idempotency key, a fingerprint of the
command and the answer it got. A retry with the same key finds that event among the
aggregate's latest and gets the same answer, whether the first attempt's reply was lost to
a 504 or a broker reconnect after the commit; the same key with a different command is a
conflict. A command that creates an aggregate takes its id from the key, so a retry meets the
aggregate it made instead of making a second. Both are attributes of the stored event beside
its own fields (``shared.wire.describe_event`` keeps them out of the payload), so no event
class changes and events stored before them load as they are.

The request id (``request_id``, shared.observability) is stamped the same way on every event a
call stores while it handles a request that has one: the relay sends it in the published
message's headers, so consumers' log lines name the request too. It is a label, never a
reason to act: it is not in the payload and not signed.

Pure: no I/O; shared.writer reads the events and saves.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Iterable

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python

from shared.errors import IdempotencyKeyReused
from shared.validation import Code, Identifier, parse

RECORDED_BY = "recorded_by"
REQUEST = "request"
REQUEST_ID = "request_id"
STAMPS = (RECORDED_BY, REQUEST, REQUEST_ID)  # attributes of a stored event that are not its payload
IDEMPOTENCY_WINDOW = 100  # how many of an aggregate's latest events a retry is looked for among
KEY_NAMESPACE = uuid.UUID("5b3f0c52-3a8e-4f57-9a53-2d1f0c3b7e61")  # ids made from idempotency keys


# The request id of the call a greenthread is handling (set per nameko worker by
# shared.observability.Observability; each greenthread has its own context).
REQUEST_ID_FORM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$")  # ours are 32 hex digits; a proxy's may differ
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def valid_request_id(value: Any) -> str | None:
    """``value`` if it is a usable request id, else None (headers are anyone's to set)."""
    return value if isinstance(value, str) and REQUEST_ID_FORM.fullmatch(value) else None


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: Any) -> contextvars.Token:
    return _request_id.set(valid_request_id(value))


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def stamp_request_id(pending_events: list) -> None:
    """Mark the events about to be stored with the request being handled, if there is one."""
    request_id = current_request_id()
    if request_id is not None:
        for event in pending_events:
            event.__dict__.setdefault(REQUEST_ID, request_id)


def request_id_of(event: Any) -> str | None:
    return valid_request_id(event.__dict__.get(REQUEST_ID))


class Caller(BaseModel):
    """Who calls: set by the gateway from the bearer token, by the CLI from the operator's login,
    and believed by a service only as a signed assertion (shared.callers.verified_caller)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sub: Identifier
    role: Code
    department: Code | None = None  # an officer's (gateway.access: the token's scope)
    council: Code | None = None  # a secretary's
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")] | None = None


def caller_of(data: dict | None) -> Caller | None:
    return parse(Caller, data) if data else None


def fingerprint(command: str, data: Any) -> str:
    """The command as asked, canonically: a retry must ask for exactly the same thing."""
    canonical = json.dumps([command, to_jsonable_python(data)], sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Request:
    """One command as asked: who asks (None: the system) and its fingerprint."""

    caller: Caller | None = None
    digest: str = ""

    @classmethod
    def of(cls, caller: dict | None, command: str, data: Any) -> Request:
        return cls(caller_of(caller), fingerprint(command, data))

    @property
    def retryable(self) -> bool:
        """Has a retry key: its answer is stored with its events, and a retry gets it back."""
        return self.caller is not None and self.caller.idempotency_key is not None


def created_id(caller: Caller | None, scope: str) -> uuid.UUID | None:
    """The id a creating command takes from the caller's key (None without a key: a new one)."""
    if caller is None or caller.idempotency_key is None:
        return None
    return uuid.uuid5(KEY_NAMESPACE, f"{scope}\n{caller.sub}\n{caller.idempotency_key}")


def stamp(pending_events: list, caller: Caller | None, digest: str, answer: dict) -> None:
    """Mark the events a command is about to store with who asked and, on the last, its answer
    (and every one with the request being handled)."""
    stamp_request_id(pending_events)
    if caller is None:
        return
    for event in pending_events:
        event.__dict__[RECORDED_BY] = {"sub": caller.sub, "role": caller.role}
    if caller.idempotency_key is not None and pending_events:
        pending_events[-1].__dict__[REQUEST] = {"key": caller.idempotency_key, "fingerprint": digest,
                                                "answer": to_jsonable_python(answer)}


def earlier_answer(events: Iterable, caller: Caller | None, digest: str) -> dict | None:
    """The answer this caller's key already got among ``events``, or None; a conflict if the key
    was used for another command."""
    if caller is None or caller.idempotency_key is None:
        return None
    for event in events:
        request, by = event.__dict__.get(REQUEST), event.__dict__.get(RECORDED_BY) or {}
        if not request or request["key"] != caller.idempotency_key or by.get("sub") != caller.sub:
            continue
        if request["fingerprint"] != digest:
            raise IdempotencyKeyReused(
                "Mã thử lại (Idempotency-Key) này đã dùng cho một thao tác khác; hãy dùng mã mới cho thao tác mới.",
                f"idempotency key of {caller.sub} reused for a different command", caller.idempotency_key)
        return request["answer"] | {"replayed": True}
    return None


def recorded_by(event: Any) -> dict | None:
    return event.__dict__.get(RECORDED_BY)
