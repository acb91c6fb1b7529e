"""The library's SQLAlchemy recorders, with their hot paths made lean: reads in SQLAlchemy
Core, a save's lock, notify and insert in one round trip on PostgreSQL, and a connection
pool sized for a service's concurrency.

eventsourcing-sqlalchemy reads through an ORM session: a Session, a Query built and
compiled, ORM objects, BEGIN and ROLLBACK. A nominations command reads its exemplar's
newer events on every load (the aggregate cache's fast-forward), and the relay, the read
model and the sealer each read new notifications after every commit: in the bench those
ORM reads were about a third of the service's CPU. The same SELECT as a Core statement
(compiled once, cached by SQLAlchemy) on an autocommit connection takes about half the
time (measured: 695 → 382 µs a call, most of it CPU).

Inside a transaction (a handler's ``handle_once``, a save) the library's own session is
used, so a read there still sees that transaction's writes; so is an in-memory SQLite
database, which the library serialises behind a lock.
"""

from __future__ import annotations

import os
from typing import Sequence
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore, transactions
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyAggregateRecorder, SQLAlchemyApplicationRecorder
from sqlalchemy import bindparam, select

from shared.schema import lone_read


def _state(value) -> bytes:
    return bytes(value) if isinstance(value, memoryview) else value


class CoreReads:
    """select_events in Core, for a recorder of events or of snapshots (the same columns)."""

    def _in_core(self) -> bool:
        try:
            transactions.get()
        except LookupError:  # no transaction under way (or it is joined, to see its writes)
            return self.datastore.access_lock is None and self.datastore.scoped_session is None
        return False

    def _rows(self, query, params: dict) -> list:
        with lone_read(self.datastore.engine) as conn:
            return conn.execute(query, params).all()

    def _query(self, shape: tuple, build):
        """Each shape of query built once, with bound parameters: building one costs as much as running it."""
        built = self.__dict__.setdefault("_queries", {})
        if shape not in built:
            built[shape] = build(self.events_record_cls.__table__.c, *shape[1:])
        return built[shape]

    @staticmethod
    def _events_query(c, gt: bool, lte: bool, desc: bool, limit: bool):
        query = select(c.originator_id, c.originator_version, c.topic, c.state).where(
            c.originator_id == bindparam("originator_id"))
        if gt:
            query = query.where(c.originator_version > bindparam("gt"))
        if lte:
            query = query.where(c.originator_version <= bindparam("lte"))
        query = query.order_by(c.originator_version.desc() if desc else c.originator_version)
        return query.limit(bindparam("limit")) if limit else query

    @staticmethod
    def _notifications_query(c, start: str, stop: bool, topics: bool, limit: bool):
        query = select(c.id, c.originator_id, c.originator_version, c.topic, c.state)
        if start:
            query = query.where(c.id >= bindparam("start") if start == "from" else c.id > bindparam("start"))
        if stop:
            query = query.where(c.id <= bindparam("stop"))
        if topics:
            query = query.where(c.topic.in_(bindparam("topics", expanding=True)))
        query = query.order_by(c.id)
        return query.limit(bindparam("limit")) if limit else query

    def select_events(self, originator_id: UUID | str, gt: int | None = None, lte: int | None = None,
                      desc: bool = False, limit: int | None = None) -> list[StoredEvent]:
        if not self._in_core():
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        query = self._query(("events", gt is not None, lte is not None, desc, limit is not None), self._events_query)
        rows = self._rows(query, {"originator_id": originator_id, "gt": gt, "lte": lte, "limit": limit})
        return [StoredEvent(originator_id=r[0], originator_version=r[1], topic=r[2], state=_state(r[3])) for r in rows]


class StoreAggregateRecorder(CoreReads, SQLAlchemyAggregateRecorder):
    """The snapshots: read on every first load of an exemplar into the cache."""


class StoreApplicationRecorder(CoreReads, SQLAlchemyApplicationRecorder):
    def _insert_stored_events(self, session, stored_events, **kwargs) -> Sequence[int]:
        """On PostgreSQL, the library's lock, notify and insert in one round trip.

        The library takes the table lock, flushes the ORM records and notifies in three
        statements, each a round trip after the implicit BEGIN; under eventlet each return
        waits behind a turn of every other worker, while all other saves wait for the lock.
        Sent as one multi-statement string they make one round trip (then COMMIT), with the
        same effect: the lock still covers insert to commit, so notification ids still
        commit in order, and a duplicate (originator, version) still fails the whole save.
        """
        if self.datastore.engine.dialect.name != "postgresql" or not stored_events:
            return super()._insert_stored_events(session, stored_events, **kwargs)
        table = self.events_table_name if self.schema_name is None else f"{self.schema_name}.{self.events_table_name}"
        values = ", ".join(["(%s, %s, %s, %s)"] * len(stored_events))
        parameters = []
        for event in stored_events:
            parameters += [str(event.originator_id), event.originator_version, event.topic, event.state]
        inserted = session.connection().exec_driver_sql(
            f"LOCK TABLE {table} IN EXCLUSIVE MODE; NOTIFY {self.channel_name}; "
            f"INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES {values} "
            "RETURNING id, originator_id, originator_version", tuple(parameters)).all()
        ids = {(str(originator_id), version): notification_id for notification_id, originator_id, version in inserted}
        return [ids[(str(e.originator_id), e.originator_version)] for e in stored_events]

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True) -> list[Notification]:
        if not self._in_core():
            return super().select_notifications(start, limit, stop, topics, inclusive_of_start=inclusive_of_start)
        shape = "" if start is None else "from" if inclusive_of_start else "after"
        query = self._query(("notifications", shape, stop is not None, bool(topics), limit is not None),
                            self._notifications_query)
        rows = self._rows(query, {"start": start, "stop": stop, "topics": list(topics), "limit": limit})
        return [Notification(id=r[0], originator_id=r[1], originator_version=r[2], topic=r[3], state=_state(r[4]))
                for r in rows]


# Connections a service keeps open to PostgreSQL (SQLALCHEMY_POOL_SIZE, and half as many
# more opened for a burst and closed after). SQLAlchemy's default keeps 5 and opens, then
# closes, one more for each use beyond: with a service's 10-20 workers and its followers
# at work, that was a new PostgreSQL backend, forked, for many reads, which cost both
# processes more than the reads. Only as many as are used at once are opened; deploy
# PostgreSQL with max_connections for every process's pool (compose and k8s set 300).
POSTGRES_POOL_SIZE = int(os.environ.get("SQLALCHEMY_POOL_SIZE", "20"))


def postgres_pool() -> dict[str, int]:
    """create_engine's pool arguments for a PostgreSQL engine of ours."""
    return {"pool_size": POSTGRES_POOL_SIZE, "max_overflow": POSTGRES_POOL_SIZE // 2}


class PooledDatastore(SQLAlchemyDatastore):
    def __init__(self, *, url: str | None = None, **kwargs):
        if url and url.startswith("postgresql"):
            kwargs = postgres_pool() | kwargs
        super().__init__(url=url, **kwargs)


class StoreFactory(SQLAlchemyFactory):
    """Named by PERSISTENCE_MODULE (shared.persistence.eventsourcing_env)."""

    datastore_class = PooledDatastore

    aggregate_recorder_class = StoreAggregateRecorder
    application_recorder_class = StoreApplicationRecorder
