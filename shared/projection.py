"""Read models built from an application's log, each event applied exactly once.

A read model is one row per aggregate and a pure ``reduce(row, event)``: the same code
keeps the live table current, rebuilds it, and replays a log into fresh tables for an
auditor (shared.audit). Rows are read and written a batch at a time, not per event.
Each batch of events and the follower's new position are written in one transaction;
the position row is locked for the batch (PostgreSQL), and a copy that lost a race
(SQLite has no row lock to wait on) rolls back and reads on. A read model can be
dropped and rebuilt from the whole log to identical content.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from eventsourcing.application import Application
from sqlalchemy import Connection, MetaData, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.follower import LogFollower, StalePosition
from shared.schema import create_tables
from shared.wire import describe_event


class Projection(ABC):
    name: str  # the follower's name in log_positions
    metadata: MetaData
    table: Table  # one row per aggregate, keyed by the aggregate id

    def __init__(self, app: Application):
        self.app = app
        self.follower = LogFollower(app, self.name)
        self.engine = self.follower.engine
        create_tables(self.metadata, self.engine)
        self._lock = threading.Lock()

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
        """Apply every event after the stored position; return how many were applied."""
        applied = 0
        with self._lock:
            while True:
                try:
                    with self.engine.begin() as conn:
                        position = self.follower.position(conn, lock=True)
                        batch = self.follower.next_batch(position)
                        if not batch:
                            return applied
                        self.apply_batch(conn, self.table, [
                            describe_event(self.app.mapper.to_domain_event(n)) for n in batch])
                        self.follower.move(conn, position, batch[-1].id)
                except (StalePosition, IntegrityError):
                    continue  # another copy applied this batch first; all of ours rolled back
                applied += len(batch)

    def dump(self) -> list[dict]:
        """Every row in key order: what a rebuild must reproduce."""
        with self.engine.connect() as conn:
            key = list(self.table.primary_key.columns)
            return [dict(r) for r in conn.execute(select(self.table).order_by(*key)).mappings()]

    def rebuild(self) -> int:
        """Drop the read model and build it again from the whole log."""
        with self._lock:
            self.metadata.drop_all(self.engine)
            with self.engine.begin() as conn:
                self.follower.reset(conn)
            create_tables(self.metadata, self.engine)
        return self.catch_up()
