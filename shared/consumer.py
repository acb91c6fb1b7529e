"""Exactly-once in effect: remember each handled wire event in the same transaction.

A consumer records (source instance, notification id) in ``handled_messages`` within
the same database transaction as the events its handling stores. A duplicate delivery
or a replay finds the row and changes nothing; two copies racing on one message lose
one transaction to the primary key, and the loser then sees the row.

An aggregate lives in one instance's log, so only that instance can speak of it: the first
instance a consumer hears about an aggregate from is remembered (``aggregate_sources``),
and an event about it signed by any other trusted instance — a department "releasing" a
hold on another department's exemplar, a council revoking another council's award — is
refused (``NotItsAggregate``), to be parked with the reason.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from eventsourcing.application import Application
from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, func, select

from shared.migrations import migrate
from shared.wire import Unverified, WireEvent

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
aggregate_sources = Table(
    "aggregate_sources",
    metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("source_instance", String(200), nullable=False),
)


class NotItsAggregate(Unverified):
    """A trusted instance spoke of an aggregate that lives in another instance's log."""


class IdempotentConsumer:
    def __init__(self, app: Application):
        self.app = app
        migrate(app.recorder.datastore.engine, "consumer")

    @staticmethod
    def _seen(conn, event: WireEvent) -> bool:
        query = select(handled_messages.c.notification_id).where(
            handled_messages.c.source_instance == event.instance,
            handled_messages.c.notification_id == event.notification_id,
        )
        return conn.execute(query).first() is not None

    @staticmethod
    def _check_source(conn, event: WireEvent) -> None:
        """Remember who speaks of this aggregate; refuse anyone else (inside the caller's transaction)."""
        owner = conn.execute(select(aggregate_sources.c.source_instance).where(
            aggregate_sources.c.aggregate_id == str(event.aggregate_id))).scalar()
        if owner is None:
            conn.execute(aggregate_sources.insert().values(aggregate_id=str(event.aggregate_id),
                                                           source_instance=event.instance))
        elif owner != event.instance:
            raise NotItsAggregate(f"{event.type} about {event.aggregate_id} from instance {event.instance!r}, "
                                  f"whose log does not hold it (it is {owner!r}'s)")

    def check_source(self, event: WireEvent) -> None:
        """``_check_source`` in a transaction of its own (a consumer that records handling later)."""
        with self.app.recorder.transaction(commit=True) as session:
            self._check_source(session, event)

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
            self._check_source(session, event)
            session.execute(
                handled_messages.insert().values(
                    source_instance=event.instance, notification_id=event.notification_id, event_type=event.type
                )
            )
            return True, handle()
