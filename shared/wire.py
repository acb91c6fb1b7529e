"""The wire contract: what services say to each other on RabbitMQ.

Wire events are separate from stored events. A stored event may change shape (its
class_version and upcasters handle that); the wire schema changes only by a new
``schema_version`` that consumers can tell apart, and old versions keep parsing.

Version history:
  1 - type, source, notification id, aggregate id and version, business date, payload.
  2 - adds ``instance`` (the source instance, several departments run one service)
      and ``recorded_at`` (when the source stored the event). A v1 message parses as v2
      with ``instance`` equal to ``source`` and no ``recorded_at``.
  3 - adds ``signature``: the source instance's Ed25519 signature (base64) over the
      canonical form of the message without it (``canonical``). v1 and v2 messages still
      parse, but carry no signature: consumers reject them like a forged one (``verified``)
      and park them. Nothing unsigned is acted on; an operator who trusts a parked old
      message can have its source re-publish it.
  4 - adds ``key_id``: which of the instance's keys signed (shared.signing.key_id), signed
      with the rest. Keys rotate: a retired key vouches only for events recorded at or
      before its retirement. A v3 message (no key id) still verifies with whichever of
      the instance's keys was in force at its ``recorded_at``.

Routing: the routing key is the event type, followed for an event addressed to one
council by that council's level and jurisdiction (``routing_key``), so a council's queue
binds only what is addressed to it and a ``#`` binding still receives everything.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import to_jsonable_python

from shared import trust
from shared.contracts.wire_events import WIRE_TYPES, addressed, payload_refusal
from shared.requests import RECORDED_BY, STAMPS

SCHEMA_VERSION = 4
SIGNED_SINCE = 3
EXCHANGE_SUFFIX = ".events"  # nameko's convention: "<service>.events", routing key = type


def exchange_name(source_service: str) -> str:
    return f"{source_service}{EXCHANGE_SUFFIX}"


class WireEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    type: str  # e.g. "exemplar.detected"
    source: str  # the service, e.g. "nominations"
    instance: str  # the instance id, e.g. "nominations-hoi-nong-dan-yen-the"
    notification_id: int  # position in the source instance's log: the dedupe key
    aggregate_id: uuid.UUID
    aggregate_version: int
    business_date: dt.date | None = None
    recorded_at: dt.datetime | None = None
    payload: dict[str, Any]
    signature: str | None = None  # v3: see ``signed`` and ``verified``
    key_id: str | None = None  # v4: the signing key's id

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if isinstance(data, dict) and "instance" not in data and data.get("schema_version", 1) == 1:  # v1
            data = dict(data, instance=data.get("source"), schema_version=2)  # what it now is; still unsigned
        return data

    def signed(self, signer: "SignsAs") -> "WireEvent":
        if signer.instance != self.instance:
            raise ValueError(f"instance {signer.instance!r} cannot sign for {self.instance!r}")
        key = signer.current()  # one key for the id and the signature, even mid-rotation
        with_id = self.model_copy(update={"schema_version": max(self.schema_version, 4), "key_id": key.key_id})
        return with_id.model_copy(update={"signature": key.sign(canonical(with_id.to_message()))})

    @property
    def dedupe_key(self) -> tuple[str, int]:
        return (self.instance, self.notification_id)

    def to_message(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class SigningKey(Protocol):  # shared.signing.SigningKey
    key_id: str

    def sign(self, message: bytes) -> str: ...


class SignsAs(Protocol):  # shared.signing.Signer
    instance: str

    def current(self) -> SigningKey: ...


class Verifies(Protocol):  # shared.signing.TrustedKeys
    def known(self, instance: str) -> bool: ...

    def refusal(self, instance: str, message: bytes, signature: str, key_id: str | None = None,
                signed_at: Any = None) -> str | None: ...

    def claims_of(self, instance: str) -> Any: ...  # shared.trust.Claims


class Unverified(Exception):
    """A wire event not to act on: unsigned, untrusted, altered or malformed. Says why, in English."""


def canonical(message: dict[str, Any]) -> bytes:
    """What is signed: the message as sent, without its signature, in one byte form.

    Verification reads the body as received, not a re-parsed model: a later schema
    version that adds a defaulted field must not break the signatures of older messages.
    """
    unsigned = {key: value for key, value in message.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verified(body: Any, source: str, trusted: Verifies) -> WireEvent:
    """The wire event in ``body`` if a trusted instance signed exactly it; else ``Unverified``.

    ``source`` is the service whose exchange it came from: a signed event claiming to be
    from another service is refused too.
    """
    if not isinstance(body, dict):
        raise Unverified("not a wire event: the body is not an object")
    instance, signature, version = body.get("instance"), body.get("signature"), body.get("schema_version", 1)
    if not isinstance(version, int) or version < SIGNED_SINCE or not isinstance(signature, str):
        raise Unverified(f"unsigned wire event (schema_version {version!r}); signatures start at v{SIGNED_SINCE}")
    try:
        if not isinstance(instance, str) or not trusted.known(instance):
            raise Unverified(f"unknown source instance {instance!r}: no trusted public key")
        # its recorded_at is signed too: the time a retired key is judged by
        refused = trusted.refusal(instance, canonical(body), signature, body.get("key_id"), body.get("recorded_at"))
        if refused:
            raise Unverified(refused)
    except ValueError as error:  # that instance's key file is unreadable
        raise Unverified(f"unusable key for instance {instance!r}: {error}") from None
    if body.get("source") != source:
        raise Unverified(f"signed as source {body.get('source')!r} but arrived on {exchange_name(source)}")
    try:
        claims = trusted.claims_of(instance)
    except ValueError as error:  # its claims file is unreadable
        raise Unverified(f"unusable trust claims for instance {instance!r}: {error}") from None
    if claims is None:
        raise Unverified(f"instance {instance!r} is in no trust list: its key speaks for nothing")
    refused = trust.refusal(claims, instance, body)
    if refused:
        raise Unverified(f"not this instance's to say: {refused}")
    if body.get("type") not in WIRE_TYPES:  # trust allowed its service's patterns; the registry knows each type
        raise Unverified(f"signed but not in the wire contract: unknown event type {body.get('type')!r}")
    try:
        return WireEvent.model_validate(body)
    except ValidationError as error:  # a newer schema than ours, or the producer's bug
        first = error.errors()[0]
        raise Unverified(f"signed but not a valid wire event: {'.'.join(map(str, first['loc']))}: {first['msg']}"
                         ) from None


# Events addressed to one council: (type -> payload fields naming its level and jurisdiction).
ADDRESSED = addressed()


def addressed_to(event_type: str, level: str, jurisdiction: str) -> str:
    return f"{event_type}.{level}.{jurisdiction}"


def routing_key(event: WireEvent) -> str:
    fields = ADDRESSED.get(event.type)
    if fields is None:
        return event.type
    level, jurisdiction = (event.payload[field] for field in fields)
    return addressed_to(event.type, level, jurisdiction)


ENVELOPE = ("originator_id", "originator_version", "timestamp", "business_date", "originator_topic")


def describe_event(event: Any) -> dict[str, Any]:
    """A stored domain event (with ``wire_type`` and ``business_date``) as plain data.

    The one form used by histories, read models and the relay.
    """
    payload = {k: v for k, v in event.__dict__.items() if k not in ENVELOPE and k not in STAMPS}
    return {
        "type": event.wire_type,
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "business_date": event.business_date.isoformat() if getattr(event, "business_date", None) else None,
        "recorded_at": event.timestamp.isoformat(),
        "payload": to_jsonable_python(payload),
        "recorded_by": event.__dict__.get(RECORDED_BY),  # who asked (shared.requests); None: the system
    }


class OutsideTheContract(ValueError):
    """A stored event this service would publish is not in the wire registry's shape: our bug."""


def wire_event(described: dict[str, Any], source: str, instance: str, notification_id: int) -> WireEvent:
    """The wire event of a stored event (``describe_event``). One not in the contract's shape is
    refused here, before it leaves: publishing stops at it, loudly, rather than sending what
    consumers could misread (tests hold every event class against the registry)."""
    refused = payload_refusal(described["type"], described["payload"])
    if refused is None and WIRE_TYPES[described["type"]].emitted_by != source:
        refused = f"{described['type']} is emitted by {WIRE_TYPES[described['type']].emitted_by}, not {source}"
    if refused:
        raise OutsideTheContract(refused)
    return WireEvent(
        type=described["type"],
        source=source,
        instance=instance,
        notification_id=notification_id,
        aggregate_id=described["aggregate_id"],
        aggregate_version=described["version"],
        business_date=described["business_date"],
        recorded_at=described["recorded_at"],
        payload=described["payload"],
    )
