"""Domain errors shared by every service.

Each error carries a Vietnamese message for the officer (``message``) and an English
one for logs (``log_message``). Their constructor arguments are exactly ``self.args``
so nameko can carry them over RPC and rebuild the same class on the caller's side
(see ``shared.rpc``).
"""


class DomainError(Exception):
    """Base of every error an officer may be shown."""

    http_status = 409
    kind = "domain-error"

    def __init__(self, message: str, log_message: str = "", detail: str = ""):
        super().__init__(message, log_message, detail)
        self.message = message
        self.log_message = log_message or message
        self.detail = detail

    def __str__(self) -> str:
        return self.message

    def to_problem(self) -> dict:
        """RFC 7807 problem details body."""
        problem = {
            "type": f"urn:exemplars:problem:{self.kind}",
            "title": self.message,
            "status": self.http_status,
            "detail": self.log_message,
        }
        if self.detail:
            problem[self.detail_key] = self.detail
        return problem

    detail_key = "detail_value"


class InvalidInput(DomainError):
    """Input that does not have the right shape; ``detail`` names the field."""

    http_status = 400
    kind = "invalid-input"
    detail_key = "field"


class NotFound(DomainError):
    http_status = 404
    kind = "not-found"
    detail_key = "id"


class RuleViolation(DomainError):
    """A lifecycle or legal rule refused the command; ``detail`` names the rule."""

    http_status = 409
    kind = "rule-violation"
    detail_key = "rule"


def rule_violation(messages_vi: dict[str, str], rule: str, **facts) -> RuleViolation:
    """The refusal of ``rule``: its Vietnamese text filled with the facts, and an English log line."""
    log = f"rule {rule!r} refused the command: " + ", ".join(f"{k}={v}" for k, v in facts.items())
    return RuleViolation(messages_vi[rule].format(**facts), log, rule)


class ConcurrentChange(DomainError):
    """Someone else changed the exemplar first; nothing of this command was stored."""

    http_status = 409
    kind = "concurrent-change"
    detail_key = "id"


class IdempotencyKeyReused(DomainError):
    """A retry key (Idempotency-Key) sent again with a different command (shared.requests)."""

    http_status = 409
    kind = "idempotency-key-reused"
    detail_key = "idempotency_key"


class AccessDenied(DomainError):
    """A request refused for who sent it; ``detail`` is the reason code. Raised by the gateway
    (a bearer token) and by the services (the gateway's signed caller, shared.callers)."""

    detail_key = "reason"


REALM = "exemplars"  # the bearer tokens' issuer (gateway.access)


class Unauthenticated(AccessDenied):
    """401: no token or caller assertion, or one we cannot trust."""

    http_status = 401
    kind = "unauthenticated"

    @property
    def challenge(self) -> str:
        """The WWW-Authenticate value (RFC 6750 §3): ``invalid_token`` once a token was sent."""
        if self.detail == "no-token":
            return f'Bearer realm="{REALM}"'
        return f'Bearer realm="{REALM}", error="invalid_token"'


class Forbidden(AccessDenied):
    """403: a valid token or caller whose role or scope does not cover the request."""

    http_status = 403
    kind = "forbidden"


class SignInRefused(DomainError):
    """401: a wrong user name or password, a locked or disabled account, or a session that has
    ended; ``detail`` is the reason code (the message never says which of name or password)."""

    http_status = 401
    kind = "sign-in-refused"
    detail_key = "reason"


ALL_ERRORS = (DomainError, InvalidInput, NotFound, RuleViolation, ConcurrentChange, IdempotencyKeyReused,
              AccessDenied, Unauthenticated, Forbidden, SignInRefused)
