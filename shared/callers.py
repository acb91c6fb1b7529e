"""Who calls a service over RPC, proved: the gateway's signed caller assertion, and the one
table of which roles may call which command.

RPC is not an open door. Anyone with broker credentials can publish to ``nameko-rpc``, so a
service believes no ``caller`` dict as such: the gateway, having checked the bearer token,
signs the caller (subject, role, department or council, retry key, request id) with its own
instance key for a short while (``sign_caller``), and each service's commands take only an
assertion that verifies with a trusted key whose claims say it is a gateway's
(shared.trust, ``service: gateway``) — not a department's, a council's or the notifications
service's — and has not expired (``verified_caller``). The service then checks the role
against the command (``permit``): a gateway bug or a stolen officer's assertion still cannot
``decide`` a council's case. The recorded principal (``recorded_by``) is the verified one.

The assertion rides in the existing ``caller=`` argument, not in nameko context data:
context data is copied into every call a worker makes onward, so a service calling another
would pass its caller's assertion along unseen; an argument is explicit in each entrypoint's
signature, goes to exactly one call, and its absence is visible in the code that makes it.

Pure: no I/O beyond what a TrustedKeys folder reads.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import Forbidden, Unauthenticated
from shared.requests import Caller, current_request_id

log = logging.getLogger(__name__)

OFFICER, SECRETARY, AUDITOR, OPERATOR, ADMIN = ROLES = (
    "department_officer", "council_secretary", "auditor", "operator", "administrator")
ROLE_NAMES_VI = {
    OFFICER: "cán bộ đơn vị",
    SECRETARY: "thư ký hội đồng",
    AUDITOR: "cán bộ kiểm tra",
    OPERATOR: "cán bộ vận hành",
    ADMIN: "quản trị viên",
}

# Which roles may call which command, by service kind and RPC method: the gateway's routes
# (gateway.http, @requires) and the services' own check both read this. Reads are not here:
# any verified caller, or none, may read.
COMMANDS: dict[str, dict[str, tuple[str, ...]]] = {
    "nominations": {"detect": (OFFICER,), "change": (OFFICER,)},
    "awards": {"change_case": (SECRETARY,), "revoke_award": (SECRETARY,)},
    "notifications": {
        "subscribe": (OFFICER, OPERATOR), "change_preferences": (OFFICER, OPERATOR), "cancel": (OFFICER, OPERATOR),
        "mark_read": (OFFICER, SECRETARY, OPERATOR), "replay": (OPERATOR,),
        "rotate_secret": (OPERATOR,), "reseal_secrets": (OPERATOR,),
    },
    "accounts": {"create_account": (ADMIN,), "disable_account": (ADMIN,)},
}

GATEWAY_INSTANCE = "gateway"  # the gateway's instance (key) name unless GATEWAY_INSTANCE_ID says otherwise
LIFETIME = dt.timedelta(seconds=60)  # the gateway's RPC wait (GATEWAY_RPC_TIMEOUT_S) is no longer
MAX_LIFETIME = dt.timedelta(minutes=5)  # an assertion signed for longer is refused, whoever signed it
LEEWAY = dt.timedelta(seconds=5)  # the gateway's clock may be a little ahead of the service's
PURPOSE = b"exemplars-caller-v1\n"  # the same keys sign events: a signature on one is never one on the other

MSG_NO_CALLER = "Yêu cầu không qua cổng API (thiếu xác nhận người gọi đã ký); hệ thống từ chối."
MSG_BAD_CALLER = "Xác nhận người gọi không hợp lệ hoặc không do cổng API ký; hệ thống từ chối."
MSG_EXPIRED = "Xác nhận người gọi đã hết hạn; vui lòng thử lại."


def may_call(service: str, method: str) -> tuple[str, ...]:
    """The roles that may call ``service``'s command ``method`` (KeyError: not a command)."""
    return COMMANDS[service][method]


class _Claims(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # strict: what was signed is what is read
    sub: str
    role: str
    department: str | None = None
    council: str | None = None
    idempotency_key: str | None = None
    request_id: str | None = Field(None, max_length=64)
    issued_at: int
    expires: int


class _Assertion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    claims: _Claims
    instance: str = Field(max_length=121)
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=200)


def _message(claims: dict[str, Any]) -> bytes:
    return PURPOSE + json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_caller(signer, caller: Caller | dict, now: dt.datetime | None = None,
                lifetime: dt.timedelta = LIFETIME) -> dict:
    """``caller`` (its subject, role, scope and retry key) signed by ``signer`` (the gateway's
    shared.signing.Signer) for ``lifetime``, with the request being handled: the ``caller=``
    of an RPC command."""
    who = caller if isinstance(caller, Caller) else Caller.model_validate(caller)
    now = now or dt.datetime.now(dt.timezone.utc)
    claims = who.model_dump(exclude_none=True) | {
        "issued_at": int(now.timestamp()), "expires": int((now + lifetime).timestamp())}
    if (request_id := current_request_id()) is not None:
        claims["request_id"] = request_id
    key = signer.current()  # one key for the id and the signature
    return {"claims": claims, "instance": signer.instance, "key_id": key.key_id, "signature": key.sign(_message(claims))}


def verified_caller(assertion: Any, trusted, now: dt.datetime | None = None) -> Caller:
    """The caller ``assertion`` vouches for, if a trusted gateway key signed it and it is in
    force; otherwise Unauthenticated (``detail``: no-caller, malformed-caller, not-a-gateway,
    bad-signature, expired, not-yet-valid), whose log message says why in English."""
    if not assertion:
        raise Unauthenticated(MSG_NO_CALLER, "no signed caller assertion", "no-caller")
    try:
        parsed = _Assertion.model_validate(assertion)
        caller = Caller(**parsed.claims.model_dump(exclude={"request_id", "issued_at", "expires"}))
    except (ValidationError, TypeError) as error:
        count = error.error_count() if isinstance(error, ValidationError) else 1
        raise Unauthenticated(MSG_BAD_CALLER, f"caller assertion malformed ({count} problem(s))",
                              "malformed-caller") from None
    claims = parsed.claims
    speaks_for = trusted.claims_of(parsed.instance)
    if speaks_for is None or not speaks_for.asserts_callers:
        what = f"the {speaks_for.service} service" if speaks_for else "nothing"
        raise Unauthenticated(MSG_BAD_CALLER, f"caller assertion signed by instance {parsed.instance!r}, which speaks "
                              f"for {what}, not a gateway", "not-a-gateway")
    issued = dt.datetime.fromtimestamp(claims.issued_at, dt.timezone.utc)
    refusal = trusted.refusal(parsed.instance, _message(assertion["claims"]), parsed.signature,
                              parsed.key_id, signed_at=issued)
    if refusal is not None:
        raise Unauthenticated(MSG_BAD_CALLER, f"caller assertion refused: {refusal}", "bad-signature")
    now = now or dt.datetime.now(dt.timezone.utc)
    if claims.expires - claims.issued_at > MAX_LIFETIME.total_seconds():
        raise Unauthenticated(MSG_BAD_CALLER, f"caller assertion valid for {claims.expires - claims.issued_at} s, "
                              f"over {MAX_LIFETIME.total_seconds():.0f} s", "bad-lifetime")
    if now.timestamp() > claims.expires:
        raise Unauthenticated(MSG_EXPIRED, f"caller assertion of {caller.sub} expired "
                              f"{now.timestamp() - claims.expires:.0f} s ago", "expired")
    if claims.issued_at > (now + LEEWAY).timestamp():
        raise Unauthenticated(MSG_BAD_CALLER, f"caller assertion issued {claims.issued_at - now.timestamp():.0f} s "
                              "in the future", "not-yet-valid")
    return caller


def permit(caller: Caller, service: str, method: str) -> None:
    """Forbidden unless ``caller``'s role may call ``service``'s command ``method``."""
    roles = may_call(service, method)
    if caller.role not in roles:
        name = ROLE_NAMES_VI.get(caller.role, caller.role)
        raise Forbidden(f"Vai trò {name} không được phép thực hiện thao tác này.",
                        f"role {caller.role} may not call {service}.{method} (open to {', '.join(roles)})",
                        "wrong-role")


def checked_caller(assertion: Any, trusted, service: str, method: str) -> dict:
    """A service's check of one command's ``caller=``: the verified caller, as the dict its
    application takes (shared.requests.Request.of), or the refusal, logged."""
    try:
        caller = verified_caller(assertion, trusted)
        permit(caller, service, method)
    except (Unauthenticated, Forbidden) as refusal:
        log.warning("%s.%s refused (%s): %s", service, method, refusal.detail, refusal.log_message)
        raise
    return caller.model_dump(exclude_none=True)
