"""Read model of this council's cases, for the secretary's list (see shared.projection)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, func, select

from shared.projection import Projection
from shared.errors import InvalidInput
from shared.validation import CODE_MAX, NAME_MAX, page

metadata = MetaData()
council_cases = Table(
    "council_cases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("exemplar_id", String(36), nullable=False, index=True),
    Column("subject_name", String(NAME_MAX), nullable=False),
    Column("subject_kind", String(50), nullable=False),
    Column("field", String(CODE_MAX), nullable=False),
    Column("department", String(200), nullable=False),
    Column("award_form", String(CODE_MAX), nullable=False),
    Column("status", String(30), nullable=False, index=True),
    Column("opened_on", String(10), nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("forwarded_from", String(200)),
    Column("version", Integer, nullable=False),
)
STATUS_AFTER = {
    "case.forwarded": "forwarded",
    "case.appraised": "appraised",
    "case.returned": "returned",
    "case.session_recorded": "voted",
    "case.decided": "decided",
    "case.rejected": "rejected",
}
WAITING = ("open", "appraised", "voted")
CASE_STATUSES = ("open", *dict.fromkeys(STATUS_AFTER.values()))  # what ?status= may ask for


class CaseListProjection(Projection):
    name = "read-model:council_cases"
    metadata = metadata
    table = council_cases

    @staticmethod
    def reduce(row: dict | None, event: dict) -> dict | None:
        kind, payload = event["type"], event["payload"]
        if kind == "case.opened":
            return {
                "id": event["aggregate_id"], "exemplar_id": payload["exemplar_id"],
                "subject_name": payload["subject"]["name"], "subject_kind": payload["subject"]["subject_kind"],
                "field": payload["subject"]["field"], "department": payload["subject"]["department"],
                "award_form": payload["nomination"]["award_form"], "status": "open",
                "opened_on": event["business_date"], "eligible": payload["eligibility"]["eligible"],
                "forwarded_from": payload["forwarded_from"], "version": event["version"],
            }
        if row is None or not kind.startswith("case."):
            return None
        return {**row, "version": event["version"], "status": STATUS_AFTER.get(kind, row["status"])}

    def list(self, status: str | None = None, limit: object = None, offset: object = None) -> dict:
        """Cases of this council (by default those still waiting for a step), a page of them."""
        if status not in (None, "") and status not in CASE_STATUSES:
            raise InvalidInput(f"Trạng thái hồ sơ «{status}» không có; chọn một trong: {', '.join(CASE_STATUSES)}.",
                               f"unknown case status {status!r}", "status")
        wanted = page(limit, offset)
        self.catch_up()
        query = select(council_cases).where(council_cases.c.status == status) if status else \
            select(council_cases).where(council_cases.c.status.in_(WAITING))
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(query.subquery())).scalar()
            rows = conn.execute(query.order_by(council_cases.c.opened_on, council_cases.c.id)
                                .limit(wanted.limit).offset(wanted.offset)).mappings()
            return {"total": total, "items": [dict(r) for r in rows]}
