"""Who may call the HTTP API: signed bearer tokens and the rules of each role.

Pure logic; its only I/O is reading the signing secret (and, in development, creating it).

A token is a JWT signed with HS256 by ``exemplars token issue`` and checked by the gateway,
both with the secret in ``GATEWAY_TOKEN_SECRET_FILE``. It carries ``sub`` (who), ``role``,
``department`` (officers) or ``council`` (secretaries), ``iat``/``exp`` and a random ``jti``
that logs may name instead of the token. Without a configured file (``make run``, the demo),
a development secret is created once in ``var/keys/`` — never committed; production mounts
its own.

Roles:
  department_officer  exemplars of their own department: record, change, read, list
  council_secretary   their own council's routes (/councils/<council>/…)
  auditor             every GET, never anything else
  operator            /operator/* (parked deliveries, replay), delivery status, subscriptions
  administrator       /accounts (create, disable, list the accounts of the web pages)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt

from shared.callers import ADMIN, AUDITOR, OFFICER, OPERATOR, ROLE_NAMES_VI, ROLES, SECRETARY  # noqa: F401
from shared.errors import REALM, AccessDenied, Forbidden, InvalidInput, Unauthenticated  # noqa: F401 - ours too
from shared.persistence import VAR_DIR

log = logging.getLogger(__name__)

READ_ONLY = frozenset({AUDITOR})
READ_METHODS = frozenset({"GET", "HEAD"})

ALGORITHM = "HS256"  # fixed here, never taken from the token (RFC 8725 §2.1)
ISSUER = REALM
AUDIENCE = "exemplars-gateway"  # a token minted for something else with the same secret is refused
LEEWAY = dt.timedelta(seconds=30)  # clocks of the issuing and the checking machine may differ a little
DEFAULT_LIFETIME = dt.timedelta(hours=12)
MAX_LIFETIME = dt.timedelta(days=90)  # tokens cannot be revoked one by one: they must end
MIN_SECRET_BYTES = 32  # HS256 wants a key at least as long as its hash
DEV_SECRET_NAME = "gateway-token.secret"
CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")  # department and council codes
SUBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


# -- refusals ----------------------------------------------------------------------------

# AccessDenied, Unauthenticated, Forbidden: shared.errors (the services refuse callers too).


MSG_NO_TOKEN = "Cần đăng nhập: yêu cầu phải kèm mã truy cập (Authorization: Bearer …)."
MSG_BAD_TOKEN = "Mã truy cập không hợp lệ; vui lòng xin cấp mã mới."
MSG_EXPIRED = "Mã truy cập đã hết hạn; vui lòng xin cấp mã mới."


def _bad_token(reason: str, log_message: str) -> Unauthenticated:
    return Unauthenticated(MSG_EXPIRED if reason == "expired" else MSG_BAD_TOKEN, log_message, reason)


# -- who is calling ----------------------------------------------------------------------

@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    department: str | None = None
    council: str | None = None
    token_id: str = ""

    def scope(self) -> str:
        """For log lines: role and scope, never the token."""
        where = f" of {self.department or self.council}" if (self.department or self.council) else ""
        return f"{self.role}{where}"


class BadClaims(ValueError):
    """Claims that do not describe a role and its scope; ``vi`` says it to whoever issues."""

    def __init__(self, message: str, vi: str):
        super().__init__(message)
        self.vi = vi


def _claims_of(sub, role, department, council) -> dict:
    """The role claims, checked the same way when issuing and when verifying."""
    if not isinstance(sub, str) or not SUBJECT.match(sub):
        raise BadClaims("sub must be a code (letters, digits, . _ @ -)",
                        "mã người được cấp (--sub) chỉ gồm chữ, số và . _ @ -.")
    if role not in ROLES:
        raise BadClaims(f"unknown role {role!r}", "vai trò không tồn tại.")
    claims = {"sub": sub, "role": role}
    if (role == OFFICER) != (department is not None) or (department is not None and not _is_code(department)):
        raise BadClaims(f"a {role} {'needs a department code' if role == OFFICER else 'has no department'}",
                        "chỉ cán bộ đơn vị có, và phải có, mã đơn vị (--department).")
    if (role == SECRETARY) != (council is not None) or (council is not None and not _is_code(council)):
        raise BadClaims(f"a {role} {'needs a council code' if role == SECRETARY else 'has no council'}",
                        "chỉ thư ký hội đồng có, và phải có, mã hội đồng (--council).")
    if department is not None:
        claims["department"] = department
    if council is not None:
        claims["council"] = council
    return claims


def _is_code(value) -> bool:
    return isinstance(value, str) and bool(CODE.match(value))


def issue(secret: bytes, *, sub: str, role: str, department: str | None = None, council: str | None = None,
          lifetime: dt.timedelta = DEFAULT_LIFETIME, now: dt.datetime | None = None) -> str:
    """A signed token; refuses (InvalidInput) a role without its scope or an endless lifetime."""
    try:
        claims = _claims_of(sub, role, department, council)
    except BadClaims as error:
        raise InvalidInput(f"Không cấp được mã truy cập: {error.vi}", str(error), "role") from None
    if not dt.timedelta(0) < lifetime <= MAX_LIFETIME:
        raise InvalidInput(f"Thời hạn của mã phải lớn hơn 0 và không quá {MAX_LIFETIME.days} ngày.",
                           f"lifetime {lifetime} outside (0, {MAX_LIFETIME}]", "lifetime")
    now = now or dt.datetime.now(dt.timezone.utc)
    claims |= {"iss": ISSUER, "aud": AUDIENCE, "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp()),
               "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def authenticate(secret: bytes, authorization: str | None) -> Principal:
    """The caller named by a valid ``Authorization: Bearer`` header, or Unauthenticated."""
    if not authorization or not authorization.strip():
        raise Unauthenticated(MSG_NO_TOKEN, "no bearer token", "no-token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _bad_token("not-bearer", f"Authorization scheme {scheme[:20]!r} is not Bearer")
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                            leeway=LEEWAY, options={"require": ["exp", "iat", "iss", "aud", "sub", "role"]})
    except jwt.ExpiredSignatureError:
        raise _bad_token("expired", "token expired") from None
    except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
        raise _bad_token("bad-signature", "token signature does not verify with our secret and algorithm") from None
    except (jwt.InvalidAudienceError, jwt.InvalidIssuerError, jwt.MissingRequiredClaimError,
            jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError) as error:
        raise _bad_token("bad-claims", f"token claims refused: {type(error).__name__}") from None
    except jwt.InvalidTokenError as error:
        # PyJWT's messages describe the structure, never echo the token
        raise _bad_token("malformed", f"token is not a well-formed JWT: {error}") from None
    try:
        scoped = _claims_of(claims["sub"], claims["role"], claims.get("department"), claims.get("council"))
    except BadClaims as error:
        raise _bad_token("bad-claims", f"token claims refused: {error}") from None
    return Principal(**scoped, token_id=str(claims.get("jti", ""))[:64])


# -- what the caller may do --------------------------------------------------------------

def authorize(principal: Principal, roles: tuple[str, ...], method: str) -> None:
    """The route is open to ``roles``; read-only roles never get past a GET."""
    if principal.role in READ_ONLY and method.upper() not in READ_METHODS:
        raise Forbidden(f"Vai trò {ROLE_NAMES_VI[principal.role]} chỉ được xem, không được thay đổi dữ liệu.",
                        f"role {principal.role} is read-only; {method} refused", "read-only")
    if principal.role not in roles:
        raise Forbidden(f"Vai trò {ROLE_NAMES_VI[principal.role]} không được phép thực hiện thao tác này.",
                        f"role {principal.role} may not use this route (open to {', '.join(roles)})", "wrong-role")


def check_department(principal: Principal, department: str) -> None:
    """Officers act on and read their own department's exemplars only."""
    if principal.role == OFFICER and principal.department != department:
        raise Forbidden("Bạn chỉ được xem và thao tác trên điển hình của đơn vị mình.",
                        f"officer of {principal.department} refused an exemplar of department {department}",
                        "other-department")


def check_council(principal: Principal, council: str) -> None:
    """Secretaries work on their own council's cases and awards only."""
    if principal.role == SECRETARY and principal.council != council:
        raise Forbidden("Bạn chỉ được làm việc với hồ sơ của hội đồng mình.",
                        f"secretary of {principal.council} refused council {council}", "other-council")


def check_recipient(principal: Principal, recipient_id: str) -> None:
    """An inbox is its recipient's (the token's ``sub``); auditors may read any."""
    if principal.role != AUDITOR and principal.sub != recipient_id:
        raise Forbidden("Bạn chỉ được xem hộp thư của chính mình.",
                        f"{principal.sub} refused the inbox of {recipient_id}", "other-recipient")


def list_filters(principal: Principal, filters: dict) -> dict:
    """An officer's list is always of their own department; asking for another is refused."""
    if principal.role != OFFICER:
        return filters
    if filters.get("department") not in (None, "", principal.department):
        check_department(principal, str(filters["department"]))
    return filters | {"department": principal.department}


def subscription(principal: Principal, data: dict) -> dict:
    """A subscription is another way to read events, so an officer's is kept to their department."""
    if principal.role != OFFICER:
        return data
    departments = data.get("departments") or []
    if not isinstance(departments, list):
        raise InvalidInput("Danh sách đơn vị phải là một mảng.", "departments is not a list", "departments")
    for department in departments:
        check_department(principal, str(department))
    return data | {"departments": [principal.department]}


# -- the secret --------------------------------------------------------------------------

def load_secret(path: str | os.PathLike | None = None, dev_dir: str | os.PathLike | None = None) -> bytes:
    """The signing secret from ``path``; without one, the development secret in ``dev_dir``
    (default ``var/keys/``), created on first use."""
    if path:
        secret = Path(path).read_bytes().strip()
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"{path}: a token secret needs at least {MIN_SECRET_BYTES} bytes")
        return secret
    folder = Path(dev_dir) if dev_dir else VAR_DIR / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / DEV_SECRET_NAME
    if not target.exists():
        # Written whole under another name, then linked: the gateway, the CLI and the demo may
        # start together, and none of them may read a half-written file or replace another's.
        partial = folder / f".{DEV_SECRET_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(partial, target)
            log.warning("no GATEWAY_TOKEN_SECRET_FILE configured; created a development token secret in %s", target)
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return load_secret(target)
