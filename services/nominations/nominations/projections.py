"""Read model for listing and filtering exemplars, built from the log (see shared.projection)."""

from __future__ import annotations

import datetime as dt
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
)

from shared.contracts.nominations import ListFilter
from nominations.domainmodel import next_pending_nomination, next_stage
from shared.projection import Projection
from shared.validation import CODE_MAX, NAME_MAX, parse

metadata = MetaData()
exemplar_summaries = Table(
    "exemplar_summaries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(NAME_MAX), nullable=False),
    Column("subject_kind", String(50), nullable=False),
    Column("department", String(200), nullable=False, index=True),
    Column("field", String(CODE_MAX), nullable=False, index=True),
    Column("movement", String(CODE_MAX), nullable=False, index=True),
    Column("unit", String(NAME_MAX), nullable=False),
    Column("stage", String(50), nullable=False, index=True),
    Column("on_hold", Boolean, nullable=False),
    Column("open_holds", Integer, nullable=False),
    Column("year", Integer, nullable=False, index=True),
    Column("detected_on", Date, nullable=False),
    Column("last_business_date", Date, nullable=False),
    Column("award_form", String(CODE_MAX)),  # the nomination pending at a council, if any
    Column("adoptions", Integer, nullable=False),
    Column("version", Integer, nullable=False),
)


class ExemplarListProjection(Projection):
    name = "read-model:exemplar_summaries"
    metadata = metadata
    table = exemplar_summaries
    version = 2  # 2: the stage from the aggregate's own next_stage (version 1 never listed "awarded")

    @staticmethod
    def reduce(row: dict | None, event: dict) -> dict | None:
        kind, payload = event["type"], event["payload"]
        business_date = dt.date.fromisoformat(event["business_date"])
        if kind == "exemplar.detected":
            row = {
                "id": event["aggregate_id"], "name": payload["name"], "subject_kind": payload["subject_kind"],
                "department": payload["department"], "field": payload["field"], "movement": payload["movement"],
                "unit": payload["unit"], "stage": None, "on_hold": False, "open_holds": 0,
                "year": business_date.year, "detected_on": business_date, "last_business_date": business_date,
                "award_form": None, "adoptions": 0, "version": event["version"],
            }
        elif row is None:
            return None
        row = {**row, "version": event["version"], "last_business_date": business_date}
        # the aggregate's own stage machine, never a copy of it
        row["stage"] = next_stage(row["stage"], kind, payload)
        row["award_form"] = next_pending_nomination(row["award_form"], kind, payload)
        if kind == "exemplar.adoption_started":
            row["adoptions"] += 1
        if kind == "exemplar.put_on_hold":
            row["open_holds"] += 1
        if kind == "exemplar.hold_released":
            row["open_holds"] -= 1
        row["on_hold"] = row["open_holds"] > 0
        return row

    def list(self, filters: dict) -> dict:
        """Exemplars matching the filters, newest detection first, after catching up."""
        wanted = parse(ListFilter, filters)
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
        # events it could not apply (operators see them with `parked`): the list is behind by these
        return {"total": total, "items": items, "parked_events": self.parked(limit=0)["total"]}


def _jsonable(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
