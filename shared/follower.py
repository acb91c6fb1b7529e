"""Followers of an application's notification log: the relay and the read models.

A follower remembers how far it got in ``log_positions`` (one row per follower, in the
same database as the log). A read model moves its position in the same transaction as
the rows it writes, so each event is applied exactly once; the relay moves its position
after the broker confirmed, so an event is published at least once and consumers
dedupe by (instance, notification id).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Engine, MetaData, String, Table, select, update
from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from shared.migrations import migrate
from shared.schema import insert_ignoring_duplicates

positions_metadata = MetaData()
log_positions = Table(
    "log_positions",
    positions_metadata,
    Column("follower", String(200), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


class StalePosition(Exception):
    """Another copy of this follower moved the position first; the batch is rolled back."""


class LogFollower:
    def __init__(self, app: Application, follower: str, batch_size: int = 500):
        self.app = app
        self.follower = follower
        self.batch_size = batch_size
        self.engine: Engine = app.recorder.datastore.engine
        migrate(self.engine, "positions")  # not rebuildable: the relay's row says what was published
        with self.engine.begin() as conn:  # the row always exists, so it can be locked
            insert_ignoring_duplicates(conn, log_positions, [{"follower": follower, "position": 0}])

    def position(self, conn: Connection | None = None, lock: bool = False) -> int:
        """The last notification id handled; ``lock`` holds the row until the transaction ends."""
        query = select(log_positions.c.position).where(log_positions.c.follower == self.follower)
        if lock:
            query = query.with_for_update()  # PostgreSQL: a second copy waits here
        if conn is None:
            with self.engine.connect() as own:
                return own.execute(query).scalar_one()
        return conn.execute(query).scalar_one()

    def next_batch(self, after: int) -> list[Notification]:
        return self.app.recorder.select_notifications(start=after + 1, limit=self.batch_size)

    def move(self, conn: Connection, old: int, new: int) -> None:
        """Compare-and-set the position inside the caller's transaction."""
        moved = conn.execute(
            update(log_positions)
            .where(log_positions.c.follower == self.follower, log_positions.c.position == old)
            .values(position=new)
        )
        if moved.rowcount != 1:
            raise StalePosition(f"{self.follower}: position moved from {old} by another copy")

    def reset(self, conn: Connection) -> None:
        conn.execute(update(log_positions).where(log_positions.c.follower == self.follower).values(position=0))
