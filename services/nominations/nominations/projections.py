"""Read model for listing and filtering exemplars, built from the log.

Each batch of events and the follower's new position are written in one transaction,
so each event is applied exactly once, even with several copies catching up at once.
The tables can be dropped and rebuilt from the log to identical content.
"""

from __future__ import annotations

import threading
from typing import Any

import datetime as dt

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    case,
    func,
    insert,
    select,
    update,
)

from eventsourcing.persistence import Notification
from sqlalchemy.exc import IntegrityError
from nominations.application import NominationsApplication
from nominations.commands import ListFilter
from shared.follower import LogFollower, StalePosition
from shared.wire import describe_event

metadata = MetaData()
exemplar_summaries = Table(
    "exemplar_summaries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(500), nullable=False),
    Column("subject_kind", String(50), nullable=False),
    Column("department", String(200), nullable=False, index=True),
    Column("field", String(100), nullable=False, index=True),
    Column("movement", String(100), nullable=False, index=True),
    Column("unit", String(500), nullable=False),
    Column("stage", String(50), nullable=False, index=True),
    Column("on_hold", Boolean, nullable=False),
    Column("open_holds", Integer, nullable=False),
    Column("year", Integer, nullable=False, index=True),
    Column("detected_on", Date, nullable=False),
    Column("last_business_date", Date, nullable=False),
    Column("award_form", String(100)),
    Column("adoptions", Integer, nullable=False),
    Column("version", Integer, nullable=False),
)

# wire type -> how it changes the summary row (the Detected event inserts it)
STAGE_AFTER = {
    "exemplar.nurture_planned": "nurturing",
    "exemplar.nominated": "nominated",
    "exemplar.adoption_started": "replicating",
    "exemplar.withdrawn": "withdrawn",
}


class ExemplarListProjection:
    NAME = "read-model:exemplar_summaries"

    def __init__(self, app: NominationsApplication):
        self.app = app
        self.follower = LogFollower(app, self.NAME)
        self.engine = self.follower.engine
        metadata.create_all(self.engine, checkfirst=True)
        self._lock = threading.Lock()

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
                            self._apply(conn, notification)
                        self.follower.move(conn, position, batch[-1].id)
                except (StalePosition, IntegrityError):
                    # Another copy applied this batch first (SQLite has no row lock to wait
                    # on); everything here was rolled back, so read on from its position.
                    continue
                applied += len(batch)

    def _apply(self, conn: Connection, notification: Notification) -> None:
        event = describe_event(self.app.mapper.to_domain_event(notification))
        kind, payload = event["type"], event["payload"]
        business_date = dt.date.fromisoformat(event["business_date"])
        row_id = event["aggregate_id"]
        if kind == "exemplar.detected":
            conn.execute(
                insert(exemplar_summaries).values(
                    id=row_id,
                    name=payload["name"],
                    subject_kind=payload["subject_kind"],
                    department=payload["department"],
                    field=payload["field"],
                    movement=payload["movement"],
                    unit=payload["unit"],
                    stage="detected",
                    on_hold=False,
                    open_holds=0,
                    year=business_date.year,
                    detected_on=business_date,
                    last_business_date=business_date,
                    award_form=None,
                    adoptions=0,
                    version=event["version"],
                )
            )
            return
        row = exemplar_summaries.c
        changes: dict[str, Any] = {"version": event["version"], "last_business_date": business_date}
        if kind in STAGE_AFTER:
            changes["stage"] = STAGE_AFTER[kind]
        if kind == "exemplar.reviewed" and payload["passed"]:
            # a passed review moves only an exemplar still before the review stage
            changes["stage"] = case((row.stage.in_(("detected", "nurturing")), "reviewed"), else_=row.stage)
        if kind == "exemplar.nominated":
            changes["award_form"] = payload["award_form"]
        if kind == "exemplar.adoption_started":
            changes["adoptions"] = row.adoptions + 1
        if kind == "exemplar.put_on_hold":
            changes["open_holds"] = row.open_holds + 1
            changes["on_hold"] = True
        if kind == "exemplar.hold_released":
            changes["open_holds"] = row.open_holds - 1
            changes["on_hold"] = row.open_holds > 1
        conn.execute(update(exemplar_summaries).where(row.id == row_id).values(**changes))

    def list(self, filters: dict) -> dict:
        """Exemplars matching the filters, newest detection first, after catching up."""
        wanted = ListFilter.model_validate(filters) if not isinstance(filters, ListFilter) else filters
        self.catch_up()
        row = exemplar_summaries.c
        query = select(exemplar_summaries)
        for name in ("department", "field", "movement", "stage", "year"):
            value = getattr(wanted, name)
            if value is not None:
                query = query.where(getattr(row, name) == value)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(query.subquery())).scalar()
            rows = conn.execute(
                query.order_by(row.detected_on.desc(), row.id).limit(wanted.limit).offset(wanted.offset)
            ).mappings()
            items = [_jsonable(dict(r)) for r in rows]
        return {"total": total, "items": items}

    def dump(self) -> list[dict]:
        """Every row, in id order: what a rebuild must reproduce."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(exemplar_summaries).order_by(exemplar_summaries.c.id)).mappings()]

    def rebuild(self) -> int:
        """Drop the read model and build it again from the whole log."""
        with self._lock:
            metadata.drop_all(self.engine)
            with self.engine.begin() as conn:
                self.follower.reset(conn)
            metadata.create_all(self.engine)
        return self.catch_up()


def _jsonable(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
