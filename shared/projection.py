"""Read models built from an application's log, each event applied exactly once.

Each batch of events and the follower's new position are written in one transaction;
the position row is locked for the batch (PostgreSQL), and a copy that lost a race
(SQLite has no row lock to wait on) rolls back and reads on. A read model can be
dropped and rebuilt from the whole log to identical content.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from eventsourcing.application import Application
from sqlalchemy import Connection, MetaData, Table, select
from sqlalchemy.exc import IntegrityError

from shared.follower import LogFollower, StalePosition
from shared.schema import create_tables
from shared.wire import describe_event


class Projection(ABC):
    name: str  # the follower's name in log_positions
    metadata: MetaData
    table: Table  # the main table, for dump()

    def __init__(self, app: Application):
        self.app = app
        self.follower = LogFollower(app, self.name)
        self.engine = self.follower.engine
        create_tables(self.metadata, self.engine)
        self._lock = threading.Lock()

    @abstractmethod
    def apply(self, conn: Connection, event: dict) -> None:
        """Change the read model for one described event (see shared.wire.describe_event)."""

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
                        for notification in batch:
                            self.apply(conn, describe_event(self.app.mapper.to_domain_event(notification)))
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
