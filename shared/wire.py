"""The wire contract: what services say to each other on RabbitMQ.

Wire events are separate from stored events. A stored event may change shape (its
class_version and upcasters handle that); the wire schema changes only by a new
``schema_version`` that consumers can tell apart, and old versions keep parsing.

Version history:
  1 - type, source, notification id, aggregate id and version, business date, payload.
  2 - adds ``instance`` (the source instance, several departments run one service)
      and ``recorded_at`` (when the source stored the event). A v1 message parses with
      ``instance`` equal to ``source`` and no ``recorded_at``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import to_jsonable_python

SCHEMA_VERSION = 2
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

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("schema_version", 1) == 1:
            data = dict(data)
            data.setdefault("instance", data.get("source"))
            data["schema_version"] = SCHEMA_VERSION
        return data

    @property
    def dedupe_key(self) -> tuple[str, int]:
        return (self.instance, self.notification_id)

    def to_message(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


ENVELOPE = ("originator_id", "originator_version", "timestamp", "business_date", "originator_topic")


def describe_event(event: Any) -> dict[str, Any]:
    """A stored domain event (with ``wire_type`` and ``business_date``) as plain data.

    The one form used by histories, read models and the relay.
    """
    payload = {k: v for k, v in event.__dict__.items() if k not in ENVELOPE}
    return {
        "type": event.wire_type,
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "business_date": event.business_date.isoformat() if getattr(event, "business_date", None) else None,
        "recorded_at": event.timestamp.isoformat(),
        "payload": to_jsonable_python(payload),
    }


def wire_event(described: dict[str, Any], source: str, instance: str, notification_id: int) -> WireEvent:
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
