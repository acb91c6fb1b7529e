"""The delivery ledger and the inbox: tables shared by the fan-out and the workers.

One row per (event, recipient, channel), keyed by a deterministic delivery id, so a
redelivered job or a replayed event finds its row and sends nothing twice. Status:
queued → sent, or failed (retrying) → parked; held rows wait for quiet hours to end, and
digest rows for the daily digest (then "digested", the digest itself being one delivery).
A row still waiting when its subscription is cancelled becomes "cancelled", never sent.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Sequence

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
    update,
)
from shared.migrations import migrate
from shared.schema import insert_ignoring_duplicates, lone_read
from shared.validation import PAGE_DEFAULT

DELIVERY_QUEUE = "notifications.deliveries"  # the durable work queue the workers share



def _page(engine: Engine, query, order_by: tuple, limit: int, offset: int) -> dict:
    """``{"total": N, "items": [...]}``: how many rows ``query`` finds, and one page of them."""
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(query.subquery())).scalar()
        rows = conn.execute(query.order_by(*order_by).limit(limit).offset(offset)).mappings()
        return {"total": total, "items": [dict(r) for r in rows]}

metadata = MetaData()

notification_events = Table(  # each fanned-out wire event once, for rendering by the workers
    "notification_events",
    metadata,
    Column("event_key", String(300), primary_key=True),  # "<instance>/<notification id>"
    Column("event_type", String(100), nullable=False),
    Column("wire", Text, nullable=False),
)
deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("event_key", String(300), nullable=False, index=True),
    Column("subscription_id", String(36), nullable=False),
    Column("recipient_id", String(200), nullable=False),  # not searched by: an index would cost every write
    Column("channel", String(20), nullable=False),
    Column("address", String(2000), nullable=False),
    Column("locale", String(5), nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("not_before", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
)
inbox = Table(
    "inbox",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("recipient_id", String(200), nullable=False, index=True),
    Column("subject", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("read", Boolean, nullable=False, default=False),
)
exemplar_facts = Table(  # what matching by department, field and movement needs
    "exemplar_facts",
    metadata,
    Column("exemplar_id", String(36), primary_key=True),
    Column("department", String(200), nullable=False),
    Column("field", String(100), nullable=False),
    Column("movement", String(100), nullable=False),
    Column("name", String(500), nullable=False),
)



def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def relaxed_commit(conn) -> None:
    """Ledger marks may be lost in a crash (the job is then re-sent with the same delivery id,
    which receivers dedupe); not waiting for the disk per message is what lets workers scale."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit TO OFF"))


class Ledger:
    def __init__(self, engine: Engine, relaxed_connections: bool = False):
        """``relaxed_connections``: the engine's connections already skip waiting for the disk."""
        self.engine = engine
        self.relax = (lambda conn: None) if relaxed_connections else relaxed_commit
        migrate(engine, "ledger")  # not rebuildable: it holds what was sent (shared.migrations)

    def unsent(self, delivery_ids: Sequence[str]) -> dict[str, dict]:
        """The deliveries that still have to be sent, by id (one statement for many); a
        delivery already sent, parked or unknown is left out. Only read: an attempt is
        counted when it ends (sent or failed), which spares every delivery one more write."""
        with lone_read(self.engine) as conn:
            # By key alone, the status checked here: given the status too, PostgreSQL's planner
            # may walk the status index through every queued row of a fan-out (127 µs of
            # server CPU a delivery, measured, against 11).
            rows = conn.execute(select(deliveries)
                                .where(deliveries.c.delivery_id.in_(set(delivery_ids)))).mappings().all()
        return {row["delivery_id"]: dict(row) for row in rows if row["status"] in ("queued", "failed")}

    def delivery(self, delivery_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(deliveries).where(deliveries.c.delivery_id == delivery_id)).mappings().first()
        return dict(row) if row else None

    def event(self, event_key: str) -> dict:
        with self.engine.connect() as conn:
            return json.loads(conn.execute(select(notification_events.c.wire)
                                           .where(notification_events.c.event_key == event_key)).scalar_one())

    def exemplar_name(self, exemplar_id: str | None) -> str | None:
        if not exemplar_id:
            return None
        with self.engine.connect() as conn:
            return conn.execute(select(exemplar_facts.c.name)
                                .where(exemplar_facts.c.exemplar_id == exemplar_id)).scalar()

    def mark_sent(self, delivery_ids: Sequence[str], inbox_rows: Sequence[dict] = ()) -> set[str]:
        """Sent, once: the ids this call moved to sent (not those another worker marked first)."""
        with self.engine.begin() as conn:
            self.relax(conn)
            insert_ignoring_duplicates(conn, inbox, list(inbox_rows))
            moved = conn.execute(update(deliveries)
                                 .where(deliveries.c.delivery_id.in_(set(delivery_ids)),
                                        deliveries.c.status != "sent")
                                 .values(status="sent", sent_at=now(), attempts=deliveries.c.attempts + 1)
                                 .returning(deliveries.c.delivery_id)).scalars().all()
        return set(moved)

    def mark_failed(self, delivery_id: str, error: str, parked: bool) -> None:
        """Failed (to be retried) or parked, with the reason; never a delivery another copy
        of the job has sent meanwhile."""
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.delivery_id == delivery_id,
                                                  deliveries.c.status != "sent")
                         .values(status="parked" if parked else "failed", last_error=error[:2000],
                                 attempts=deliveries.c.attempts + 1))

    def mark_cancelled(self, delivery_ids: Sequence[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.delivery_id.in_(list(delivery_ids)),
                                                  deliveries.c.status != "sent")
                         .values(status="cancelled", last_error="subscription cancelled"))

    def cancel_waiting(self, subscription_id: str) -> int:
        """A cancelled subscription's deliveries not yet sent are never sent: how many there were."""
        with self.engine.begin() as conn:
            return conn.execute(update(deliveries).where(
                deliveries.c.status.in_(("queued", "failed", "held", "digest")),
                deliveries.c.subscription_id == subscription_id)
                .values(status="cancelled", last_error="subscription cancelled")).rowcount

    def for_event(self, event_key: str, limit: int = PAGE_DEFAULT, offset: int = 0) -> dict:
        """A page of one event's deliveries: ``{"total": N, "items": [...]}``."""
        query = select(deliveries).where(deliveries.c.event_key == event_key)
        return _page(self.engine, query, (deliveries.c.recipient_id, deliveries.c.delivery_id), limit, offset)

    def counts(self) -> dict[tuple[str, str], int]:
        with self.engine.connect() as conn:
            query = select(deliveries.c.channel, deliveries.c.status, func.count()).group_by(
                deliveries.c.channel, deliveries.c.status)
            return {(channel, status): count for channel, status, count in conn.execute(query)}

    def oldest_waiting(self) -> dt.datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.min(deliveries.c.created_at))
                                .where(deliveries.c.status.in_(("queued", "failed")))).scalar()

    def parked(self, limit: int = PAGE_DEFAULT, offset: int = 0) -> dict:
        """A page of the parked deliveries, oldest first: ``{"total": N, "items": [...]}``."""
        query = select(deliveries).where(deliveries.c.status == "parked")
        return _page(self.engine, query, (deliveries.c.created_at, deliveries.c.delivery_id), limit, offset)

    def parked_among(self, delivery_ids: Sequence[str]) -> list[str]:
        """Which of ``delivery_ids`` are parked, in the order given."""
        with self.engine.connect() as conn:
            found = set(conn.execute(select(deliveries.c.delivery_id).where(
                deliveries.c.status == "parked", deliveries.c.delivery_id.in_(list(delivery_ids)))).scalars())
        return [d for d in dict.fromkeys(delivery_ids) if d in found]

    def requeue(self, delivery_ids: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.delivery_id.in_(delivery_ids))
                         .values(status="queued", attempts=0, last_error=None))

    def inbox_of(self, recipient_id: str, limit: int = PAGE_DEFAULT, offset: int = 0) -> dict:
        """A page of one recipient's inbox, newest first, with how many are unread."""
        query = select(inbox).where(inbox.c.recipient_id == recipient_id)
        found = _page(self.engine, query, (inbox.c.created_at.desc(), inbox.c.delivery_id.desc()), limit, offset)
        with self.engine.connect() as conn:
            unread = conn.execute(select(func.count()).select_from(inbox)
                                  .where(inbox.c.recipient_id == recipient_id, inbox.c.read.is_(False))).scalar()
        return {"total": found["total"], "unread": unread, "items": found["items"]}

    def mark_read(self, recipient_id: str, delivery_ids: list[str]) -> int:
        with self.engine.begin() as conn:
            return conn.execute(update(inbox).where(inbox.c.recipient_id == recipient_id,
                                                    inbox.c.delivery_id.in_(delivery_ids)).values(read=True)).rowcount
