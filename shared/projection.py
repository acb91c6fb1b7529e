"""Read models built from an application's log, each event applied exactly once.

A read model is one row per aggregate and a pure ``reduce(row, event)``: the same code
keeps the live table current, rebuilds it, and replays a log into fresh tables for an
auditor (shared.audit). Rows are read and written a batch at a time, not per event.
Each batch of events and the follower's new position are written in one transaction;
the position row is locked for the batch (PostgreSQL), and a copy that lost a race
(SQLite has no row lock to wait on) rolls back and reads on. A read model can be
dropped and rebuilt from the whole log to identical content.

An event the read model cannot apply (its text refused by the database, a payload its
``reduce`` does not understand) must not stop every event behind it for ever: the batch
is applied again one event at a time, and the one that fails is parked with its reason
in ``read_model_parked`` (``parked()``), where operators see it, while the others go in.
A read model whose shape or meaning changes says so by a new ``version``: at start the
stored version is compared and, when it differs, the table is rebuilt from the log.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from abc import ABC, abstractmethod

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from sqlalchemy import (BigInteger, Column, Connection, DateTime, Integer, MetaData, String, Table, bindparam, func,
                        insert, select, update)
from sqlalchemy.exc import InterfaceError, OperationalError

from shared.follower import LogFollower, StalePosition
from shared.schema import create_tables, insert_ignoring_duplicates
from shared.wire import describe_event

log = logging.getLogger(__name__)

bookkeeping = MetaData()
read_model_versions = Table(
    "read_model_versions",
    bookkeeping,
    Column("read_model", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
)
read_model_parked = Table(
    "read_model_parked",
    bookkeeping,
    Column("read_model", String(200), primary_key=True),
    Column("notification_id", BigInteger, primary_key=True),
    Column("aggregate_id", String(36), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("reason", String(1000), nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False),
)
# The database is away or the connection broke: not the event's fault, so nothing is parked.
NOT_THE_EVENTS_FAULT = (OperationalError, InterfaceError)


class Projection(ABC):
    name: str  # the follower's name in log_positions
    metadata: MetaData
    table: Table  # one row per aggregate, keyed by the aggregate id
    version: int = 1  # raise it when the table's shape or what reduce() computes changes

    def __init__(self, app: Application):
        self.app = app
        self.follower = LogFollower(app, self.name)
        self.engine = self.follower.engine
        create_tables(bookkeeping, self.engine)
        create_tables(self.metadata, self.engine)
        self._lock = threading.Lock()
        self._rebuild_if_outdated()

    def _rebuild_if_outdated(self) -> None:
        """A table built by another version of this read model is rebuilt from the log. A table
        from before versions were recorded is version 1, the shape it then had."""
        row = read_model_versions.c
        with self.engine.connect() as conn:
            stored = conn.execute(select(row.version).where(row.read_model == self.name)).scalar()
        if stored is None and self.follower.position() > 0:
            stored = 1  # built before versions were recorded
        if stored == self.version:
            return
        if stored is not None:  # (None: a new read model, nothing applied yet)
            log.warning("read model %s is version %s, this code is version %d: rebuilding it from the log",
                        self.name, stored, self.version)
            self.rebuild()
        with self.engine.begin() as conn:
            insert_ignoring_duplicates(conn, read_model_versions, [{"read_model": self.name, "version": self.version}])
            conn.execute(update(read_model_versions).where(row.read_model == self.name).values(version=self.version))

    @staticmethod
    @abstractmethod
    def reduce(row: dict | None, event: dict) -> dict | None:
        """Pure: the aggregate's row after one described event (see shared.wire.describe_event),
        or None when the event does not concern this read model."""

    @classmethod
    def apply_batch(cls, conn: Connection, table: Table, events: list[dict]) -> None:
        """Reduce a batch of events into ``table`` (the live one, or a fresh copy): one read
        of the rows concerned, one insert and one update of many rows."""
        key = table.primary_key.columns.values()[0]
        ids = {event["aggregate_id"] for event in events}
        rows = {r[key.name]: dict(r) for r in conn.execute(select(table).where(key.in_(ids))).mappings()}
        existing, changed = set(rows), set()
        for event in events:
            row = cls.reduce(rows.get(event["aggregate_id"]), event)
            if row is not None:
                rows[event["aggregate_id"]] = row
                changed.add(event["aggregate_id"])
        if changed - existing:
            conn.execute(insert(table), [rows[i] for i in changed - existing])
        if changed & existing:
            conn.execute(update(table).where(key == bindparam("_key")),
                         [{**rows[i], "_key": i} for i in changed & existing])

    def catch_up(self) -> int:
        """Apply every event after the stored position; return how many were applied (parked
        ones included: they are behind the position too)."""
        applied = 0
        with self._lock:
            while True:
                try:
                    with self.engine.begin() as conn:
                        position = self.follower.position(conn, lock=True)
                        batch = self.follower.next_batch(position)
                        if not batch:
                            return applied
                        self.apply_batch(conn, self.table, [self._described(n) for n in batch])
                        self.follower.move(conn, position, batch[-1].id)
                except StalePosition:
                    continue  # another copy applied this batch first; all of ours rolled back
                except NOT_THE_EVENTS_FAULT:
                    raise
                except Exception:  # noqa: BLE001 - an event the table or reduce() refuses, or a lost race
                    # (SQLite: another copy inserted the row first): read again, one event at a time,
                    # and park only what still fails on its own
                    applied += self._apply_one_at_a_time()
                    continue
                applied += len(batch)

    def _described(self, notification: Notification) -> dict:
        return describe_event(self.app.mapper.to_domain_event(notification))

    def _apply_one_at_a_time(self) -> int:
        """The next batch, each event in a savepoint of its own; one that fails is parked."""
        try:
            with self.engine.begin() as conn:
                position = self.follower.position(conn, lock=True)
                batch = self.follower.next_batch(position)
                for notification in batch:
                    try:
                        with conn.begin_nested():
                            self.apply_batch(conn, self.table, [self._described(notification)])
                    except NOT_THE_EVENTS_FAULT:
                        raise
                    except Exception as refused:  # noqa: BLE001 - this event alone: park it, go on
                        self._park(conn, notification, refused)
                if batch:
                    self.follower.move(conn, position, batch[-1].id)
                return len(batch)
        except StalePosition:
            return 0  # another copy got there first: the caller reads on

    def _park(self, conn: Connection, notification: Notification, refused: Exception) -> None:
        reason = f"{type(refused).__name__}: {str(refused).splitlines()[0] if str(refused) else ''}"[:1000]
        try:
            event_type = self._described(notification)["type"]
        except Exception:  # noqa: BLE001 - not even readable: its stored topic names it
            event_type = notification.topic.rsplit(":", 1)[-1]
        log.error("read model %s cannot apply notification %d (%s of %s); parked: %s", self.name,
                  notification.id, event_type, notification.originator_id, reason)
        insert_ignoring_duplicates(conn, read_model_parked, [{
            "read_model": self.name, "notification_id": notification.id,
            "aggregate_id": str(notification.originator_id), "event_type": event_type[:200], "reason": reason,
            "parked_at": dt.datetime.now(dt.timezone.utc)}])

    def parked(self, limit: int = 100, offset: int = 0) -> dict:
        """The events this read model could not apply, newest first, with how many there are."""
        row = read_model_parked.c
        query = select(read_model_parked).where(row.read_model == self.name)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(query.subquery())).scalar()
            items = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
                     for r in conn.execute(query.order_by(row.notification_id.desc()).limit(limit).offset(offset))
                     .mappings()]
        return {"total": total, "items": items}

    def dump(self) -> list[dict]:
        """Every row in key order: what a rebuild must reproduce."""
        with self.engine.connect() as conn:
            key = list(self.table.primary_key.columns)
            return [dict(r) for r in conn.execute(select(self.table).order_by(*key)).mappings()]

    def rebuild(self) -> int:
        """Drop the read model and build it again from the whole log (what was parked is tried again)."""
        with self._lock:
            self.table.drop(self.engine, checkfirst=True)  # only its own table: others may share the metadata
            with self.engine.begin() as conn:
                self.follower.reset(conn)
                conn.execute(read_model_parked.delete().where(read_model_parked.c.read_model == self.name))
            create_tables(self.metadata, self.engine)
        return self.catch_up()
