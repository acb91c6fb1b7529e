"""Who may say what: each trusted instance key speaks for one service and one department or
council, and may sign only that service's event types, about its own department or council.

A signature proves who signed; it does not make what they signed theirs to say. Without
this, any trusted key (the notifications service's own) could sign an ``award.granted``
on ``awards.events`` and put an award on a real exemplar's history. The claims are data,
per deployment: ``<instance>.trust.yaml`` beside the instance's ``<instance>.pub`` in
TRUSTED_KEYS_DIR (deploy/make-keys.sh writes them; under `make run` and the tests an
instance that makes its own development key publishes its claims beside it). Pure: the
reading of files is shared.signing's.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from shared.contracts.wire_events import SERVICES, WIRE_TYPES, emitted_by

# The event types each service emits (the wire registry): nobody else may sign them.
SERVICE_EVENT_TYPES = {service: emitted_by(service) for service in SERVICES}
# The gateway signs no events; its key vouches for who calls the services over RPC
# (shared.callers), and no other key may.
GATEWAY = "gateway"
# Event types whose payload names the council they are of (a council signs only its own).
COUNCIL_FIELD = {t.name: t.council_field for t in WIRE_TYPES.values() if t.council_field}


class Claims(BaseModel):
    """What one instance key speaks for."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    service: str
    department: str | None = None  # a nominations instance: the department whose exemplars it keeps
    council: str | None = None  # an awards instance: its council's code (jurisdiction)
    event_types: tuple[str, ...] | None = None  # narrower than its service's, if given

    @property
    def asserts_callers(self) -> bool:
        """May sign caller assertions (shared.callers): the gateway's keys, and no other."""
        return self.service == GATEWAY

    @model_validator(mode="after")
    def _speaks_for_something(self):
        if self.service not in SERVICE_EVENT_TYPES and self.service != GATEWAY:
            raise ValueError(f"unknown service {self.service!r}")
        if self.service == GATEWAY and (self.event_types or self.department or self.council):
            raise ValueError("a gateway instance signs no events and speaks for every department")
        if self.service == "nominations" and not self.department:
            raise ValueError("a nominations instance speaks for a department")
        if self.service == "awards" and not self.council:
            raise ValueError("an awards instance speaks for a council")
        return self


def claims_for(service: str, *, department: str | None = None, council: str | None = None) -> dict[str, Any]:
    """The claims file's content for an instance of ``service``."""
    claims = Claims(service=service, department=department, council=council)
    return claims.model_dump(exclude_none=True)


def refusal(claims: Claims, instance: str, event: dict[str, Any]) -> str | None:
    """Why ``instance`` (speaking for ``claims``) may not say ``event`` (a wire message), or None."""
    kind, source, payload = event.get("type"), event.get("source"), event.get("payload") or {}
    if source != claims.service:
        return f"instance {instance!r} speaks for the {claims.service} service, not {source}"
    allowed = claims.event_types or SERVICE_EVENT_TYPES.get(claims.service, ())
    if not isinstance(kind, str) or not any(fnmatch.fnmatchcase(kind, pattern) for pattern in allowed):
        return f"instance {instance!r} may not sign {kind!r} (allowed: {', '.join(allowed)})"
    if claims.service == "awards":
        for pattern, field in COUNCIL_FIELD.items():
            if fnmatch.fnmatchcase(kind, pattern) and payload.get(field) != claims.council:
                return (f"instance {instance!r} speaks for council {claims.council!r}, "
                        f"not {payload.get(field)!r}")
    if claims.service == "nominations":
        subject = payload.get("subject") if isinstance(payload.get("subject"), dict) else {}
        department = payload.get("department", subject.get("department"))
        if department is not None and department != claims.department:
            return f"instance {instance!r} speaks for department {claims.department!r}, not {department!r}"
    return None
