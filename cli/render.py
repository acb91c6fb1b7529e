"""What the terminal shows: dates as dd/mm/yyyy, tables that stay readable at 80 columns.

A narrow terminal gets fewer columns, never a column squeezed to one word per line; the whole
answer is always there with ``--json``.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()

ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
VI_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
NARROW, WIDE = 100, 120  # terminal widths at which tables drop, or show all, their secondary columns


def iso_date(value: str) -> str:
    """dd/mm/yyyy (or d/m/yyyy) as YYYY-MM-DD; anything else is passed on as written, so the
    gateway checks it and its answer names the field (one place where a date is validated)."""
    value = value.strip()
    found = VI_DATE.match(value)
    if not found:
        return value
    day, month, year = found.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"


def vi_dates(text: str | None) -> str:
    """Every ISO date in ``text`` as dd/mm/yyyy; a timestamp as 'dd/mm/yyyy HH:MM'."""
    if not text:
        return ""
    text = re.sub(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", r"\1 \2", text)
    return ISO_DATE.sub(lambda m: f"{m.group(3)}/{m.group(2)}/{m.group(1)}", text)


def today() -> str:
    return dt.date.today().isoformat()


def emit(answer) -> None:
    """The API's JSON answer, as it came (pretty-printed, Vietnamese left readable)."""
    click.echo(json.dumps(answer, ensure_ascii=False, indent=2))


def narrow() -> bool:
    return console.width < NARROW


def table(title: str) -> Table:
    return Table(title=title, expand=True, title_justify="left")


# -- history -------------------------------------------------------------------------------

EVENT_NAMES_VI = {
    "exemplar.detected": "Phát hiện",
    "exemplar.nurture_planned": "Lập kế hoạch bồi dưỡng",
    "exemplar.progress_recorded": "Tiến độ bồi dưỡng",
    "exemplar.check_recorded": "Kiểm tra, đánh giá",
    "exemplar.reviewed": "Sơ kết / tổng kết",
    "exemplar.endorsed": "Tập thể suy tôn",
    "exemplar.nominated": "Đề nghị khen thưởng",
    "exemplar.publicized": "Tuyên truyền",
    "exemplar.adoption_started": "Nhân rộng",
    "exemplar.adoption_outcome_recorded": "Kết quả nhân rộng",
    "exemplar.year_evaluated": "Đánh giá năm",
    "exemplar.put_on_hold": "Tạm dừng xét",
    "exemplar.hold_released": "Hết tạm dừng xét",
    "exemplar.withdrawn": "Rút điển hình",
    "exemplar.council_case_progressed": "Hội đồng thi đua",
    "exemplar.awarded": "Quyết định khen thưởng",
    "exemplar.award_revoked": "Hủy bỏ khen thưởng",
}
LEVELS_VI = {"commune": "cấp xã", "district": "cấp huyện", "province": "cấp tỉnh", "national": "trung ương"}
STEPS_VI = {"opened": "Nhận hồ sơ", "forwarded": "Chuyển lên cấp trên", "returned": "Trả lại hồ sơ",
            "rejected": "Không khen thưởng"}
SUMMARIES = {
    "exemplar.detected": lambda p, c: f"{p['name']}, {p['unit']} — {c.fields[p['field']].name}",
    "exemplar.nurture_planned": lambda p, c: f"{p['responsible_unit']}; {len(p['milestones'])} mốc",
    "exemplar.progress_recorded": lambda p, c: p["note"],
    "exemplar.check_recorded": lambda p, c: f"{p['checked_by']}: {p['finding']}",
    "exemplar.reviewed": lambda p, c: f"{'Đạt' if p['passed'] else 'Không đạt'} — {p['summary']}",
    "exemplar.endorsed": lambda p, c: f"{p['meeting']}: {p['in_favour']}/{p['present']} đồng ý",
    "exemplar.nominated": lambda p, c: f"{c.award_forms[p['award_form']].name} → {council_name(p['jurisdiction'], c)}",
    "exemplar.council_case_progressed": lambda p, c: (
        f"{STEPS_VI.get(p['step'], p['step'])} ({LEVELS_VI.get(p['council_level'], p['council_level'])}, "
        f"{p['jurisdiction']}){': ' + p['reason'] if p['reason'] else ''}"),
    "exemplar.awarded": lambda p, c: f"{c.award_forms[p['award_form']].name}, QĐ số {p['decision_number']}, {p['signer']}",
    "exemplar.award_revoked": lambda p, c: f"Căn cứ {p['ground']}: {p['reason']}",
    "exemplar.publicized": lambda p, c: f"{p['channel']} — {p['audience']}",
    "exemplar.adoption_started": lambda p, c: f"{p['adopting_unit']}: {p['method']}",
    "exemplar.adoption_outcome_recorded": lambda p, c: f"{p['adoption_id']}: {p['outcome']}",
    "exemplar.year_evaluated": lambda p, c: (
        f"Năm {p['year']}: {p['score']} điểm (năm trước: {p['previous_score'] if p['previous_score'] is not None else '—'})"),
    "exemplar.put_on_hold": lambda p, c: f"{p['hold_id']}: {p['reason']}",
    "exemplar.hold_released": lambda p, c: f"{p['hold_id']}: {p['resolution']}",
    "exemplar.withdrawn": lambda p, c: p["reason"],
}


def council_name(code: str, catalog) -> str:
    council = catalog.topology.councils.get(code)
    return council.name if council else code


def summarize(entry: dict, catalog) -> str:
    try:
        return SUMMARIES[entry["type"]](entry["payload"], catalog)
    except KeyError:  # an event type or code this client does not know yet: show the data
        return "; ".join(f"{k}: {v}" for k, v in entry["payload"].items())


def print_history(entries: list[dict]) -> None:
    """An exemplar's history. Wide: version, business date, recorded time, event, content; at
    100 columns the recorded time goes; below, the event's name heads its content in one column."""
    from shared.catalog import load_catalog  # the reference data is shared, read locally

    catalog = load_catalog()
    shown = table("Lịch sử điển hình")
    shown.add_column("#", justify="right", no_wrap=True)
    shown.add_column("Ngày" if narrow() else "Ngày nghiệp vụ", no_wrap=True)
    wide = console.width >= WIDE
    if wide:
        shown.add_column("Ghi nhận lúc (UTC)", no_wrap=True)
    if narrow():
        shown.add_column("Sự kiện, nội dung", ratio=1)
    else:
        shown.add_column("Sự kiện", no_wrap=True)
        shown.add_column("Nội dung", ratio=1)
    for entry in entries:
        name, content = EVENT_NAMES_VI.get(entry["type"], entry["type"]), escape(summarize(entry, catalog))
        row = [str(entry["version"]), vi_dates(entry["business_date"])]
        if wide:
            row.append(vi_dates(entry["recorded_at"][:19]))
        row += [f"[bold]{name}[/]\n{content}"] if narrow() else [name, content]
        shown.add_row(*row)
    console.print(shown)
