"""Read model of the subscriptions, which fan-out matches every event against (see shared.projection)."""

from __future__ import annotations

import json

from sqlalchemy import Boolean, Column, MetaData, String, Table, Text, select

from shared.projection import Projection
from shared.validation import ID_MAX, NAME_MAX

metadata = MetaData()
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("recipient_id", String(ID_MAX), nullable=False, index=True),
    Column("name", String(NAME_MAX), nullable=False),
    Column("locale", String(5), nullable=False),
    Column("filters", Text, nullable=False),
    Column("channels", Text, nullable=False),
    Column("preferences", Text, nullable=False),
    Column("active", Boolean, nullable=False),
)


def _stored_channels(channels: list[dict], active: bool = True) -> str:
    """A subscription's channels as the read model keeps them: a webhook's secret sealed, and
    only while the subscription is active; never one in clear (events from before sealing
    carry one: it is left out, and the service seals it by a new event)."""
    dropped = ("secret",) if active else ("secret", "secret_sealed")
    return json.dumps([{k: v for k, v in channel.items() if k not in dropped} for channel in channels])


class SubscriptionsProjection(Projection):
    name = "read-model:subscriptions"
    metadata = metadata
    table = subscriptions
    version = 2  # 2: webhook secrets kept sealed only (version 1 kept them in clear)

    _active: list[dict] | None = None  # decoded once, until the next subscription event

    @staticmethod
    def reduce(row: dict | None, event: dict) -> dict | None:
        p = event["payload"]
        if event["type"] == "subscription.created":
            return {"id": event["aggregate_id"], "recipient_id": p["recipient_id"], "name": p["name"],
                    "locale": p["locale"], "filters": json.dumps(p["filters"]),
                    "channels": _stored_channels(p["channels"]),
                    "preferences": json.dumps(p["preferences"]), "active": True}
        if row is None:
            return None
        if event["type"] == "subscription.preferences_changed":
            return {**row, "preferences": json.dumps(p["preferences"])}
        if event["type"] == "subscription.cancelled":  # its secret is no longer used: not kept either
            return {**row, "active": False, "channels": _stored_channels(json.loads(row["channels"]), active=False)}
        if event["type"] in ("subscription.secret_sealed", "subscription.secret_rotated") and row["active"]:
            channels = [c | {"secret_sealed": p["secret_sealed"]} if c["channel"] == p["channel"] else c
                        for c in json.loads(row["channels"])]
            return {**row, "channels": _stored_channels(channels)}
        return None

    def catch_up(self) -> int:
        applied = super().catch_up()
        if applied:
            self._active = None  # a subscription changed: decode them again on next use
        return applied

    def active(self, catch_up: bool = True) -> list[dict]:
        """Active subscriptions, decoded. Every event is matched against all of them, so they
        are read once and kept until a subscription event is applied (by any copy: all
        subscription events pass through this read model)."""
        if catch_up:
            self.catch_up()
        with self._lock:
            if self._active is None:
                with self.engine.connect() as conn:
                    rows = conn.execute(select(subscriptions).where(subscriptions.c.active.is_(True))).mappings()
                    self._active = [{**r, "filters": json.loads(r["filters"]), "channels": json.loads(r["channels"]),
                                     "preferences": json.loads(r["preferences"])} for r in rows]
            return self._active
