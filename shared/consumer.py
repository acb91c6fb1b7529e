"""Exactly-once in effect: remember each handled wire event in the same transaction.

A consumer records (source instance, notification id) in ``handled_messages`` within
the same database transaction as the events its handling stores. A duplicate delivery
or a replay finds the row and changes nothing; two copies racing on one message lose
one transaction to the primary key, and the loser then sees the row.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from eventsourcing.application import Application
from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, func, select

from shared.schema import create_tables
from shared.wire import WireEvent

T = TypeVar("T")

metadata = MetaData()
handled_messages = Table(
    "handled_messages",
    metadata,
    Column("source_instance", String(200), primary_key=True),
    Column("notification_id", BigInteger, primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("handled_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)


class IdempotentConsumer:
    def __init__(self, app: Application):
        self.app = app
        create_tables(metadata, app.recorder.datastore.engine)

    @staticmethod
    def _seen(conn, event: WireEvent) -> bool:
        query = select(handled_messages.c.notification_id).where(
            handled_messages.c.source_instance == event.instance,
            handled_messages.c.notification_id == event.notification_id,
        )
        return conn.execute(query).first() is not None

    def handled(self, event: WireEvent) -> bool:
        with self.app.recorder.datastore.engine.connect() as conn:
            return self._seen(conn, event)

    def handle_once(self, event: WireEvent, handle: Callable[[], T]) -> tuple[bool, T | None]:
        """Run ``handle`` (which saves through the application) once per wire event.

        Returns (True, result) when handled now, (False, None) for a duplicate.
        """
        with self.app.recorder.transaction(commit=True) as session:  # app.save() joins it
            if self._seen(session, event):
                return False, None
            session.execute(
                handled_messages.insert().values(
                    source_instance=event.instance, notification_id=event.notification_id, event_type=event.type
                )
            )
            return True, handle()
