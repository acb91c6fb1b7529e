"""What a page shows, from what the services answer: Vietnamese names for codes, dates as
dd/mm/yyyy in Hà Nội time, each role's "Việc cần làm". Pure functions, no I/O."""

from __future__ import annotations

import datetime as dt

from shared.catalog import Catalog
from shared.contracts.nominations import STAGE_NAMES_VI

HANOI = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")  # Việt Nam keeps no summer time

# What the officer does next at each stage (nominated: the council has it, the officer waits).
NEXT_STEP_VI = {
    "detected": "Lập kế hoạch bồi dưỡng",
    "nurturing": "Ghi tiến độ, sơ kết hoặc tổng kết",
    "reviewed": "Bình xét và đề nghị khen thưởng",
    "nominated": "Chờ hội đồng thi đua – khen thưởng xét",
    "awarded": "Tuyên truyền, nhân rộng",
    "replicating": "Theo dõi việc nhân rộng",
}
CASE_STATUS_VI = {
    "open": "Mới nhận", "appraised": "Đã thẩm định", "voted": "Đã bỏ phiếu", "decided": "Đã quyết định",
    "forwarded": "Đã chuyển lên cấp trên", "returned": "Đã trả lại", "rejected": "Không khen",
}
WAITING_CASES = ("open", "appraised", "voted")  # a secretary's work: not yet decided, returned or sent on
REPORT_DAY = (12, 15)  # the annual report on exemplars is due on 15 December


def today_in_hanoi(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(HANOI).date()


def date_vn(value) -> str:
    """'2018-04-16' or a date -> '16/04/2018'; a moment (ISO with a zone) in Hà Nội time."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(HANOI).strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")


def report_deadline(today: dt.date) -> tuple[dt.date, int]:
    """The next 15 December (today's if not past) and the days left until it."""
    due = dt.date(today.year, *REPORT_DAY)
    if due < today:
        due = dt.date(today.year + 1, *REPORT_DAY)
    return due, (due - today).days


class Names:
    """Codes as their catalog names; an unknown code is shown as itself (a catalog behind the data)."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def field(self, code):
        entry = self.catalog.fields.get(code)
        return entry.name if entry else code

    def movement(self, code):
        entry = self.catalog.movements.get(code)
        return entry.name if entry else code

    def award_form(self, code):
        entry = self.catalog.award_forms.get(code)
        return entry.name if entry else code

    def department(self, code):
        entry = self.catalog.topology.departments.get(code)
        return entry.name if entry else code

    def council(self, code):
        entry = self.catalog.topology.councils.get(code)
        return entry.name if entry else code

    @staticmethod
    def stage(code):
        return STAGE_NAMES_VI.get(code, code)

    @staticmethod
    def next_step(code):
        return NEXT_STEP_VI.get(code, "")

    @staticmethod
    def case_status(code):
        return CASE_STATUS_VI.get(code, code)


def officer_work(listed: dict) -> list[dict]:
    """The department's exemplars that have a next step, the longest untouched first."""
    items = [item for item in listed["items"] if item.get("stage") in NEXT_STEP_VI]
    return sorted(items, key=lambda item: (item.get("last_business_date") or "", item.get("name") or ""))


def secretary_work(cases: dict) -> list[dict]:
    return sorted((case for case in cases["items"] if case.get("status") in WAITING_CASES),
                  key=lambda case: case.get("opened_on") or "")
