"""The annual report to the Interior office: exemplars of a year by field, stage and award
form, beside the year before, as CSV and as a page with charts.

Counts come from the register replayed from the logs to a cutoff (gateway.audit), so a
report for any past moment can be produced again with the same figures.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter

from gateway.audit import Cutoff, LogSource, register_as_of, templates
from nominations.domainmodel import STAGE_NAMES_VI
from shared.catalog import Catalog

SECTIONS = {"field": "Lĩnh vực", "stage": "Giai đoạn", "award_form": "Hình thức khen thưởng đề nghị"}


def annual_report(sources: list[LogSource], year: int, cutoff: Cutoff, catalog: Catalog) -> dict:
    counts = {name: {year: Counter(), year - 1: Counter()} for name in SECTIONS}
    for row in register_as_of(sources, cutoff):
        if row["year"] in (year, year - 1):
            for name in SECTIONS:
                counts[name][row["year"]][row[name] or "—"] += 1
    labels = {"field": {c: f.name for c, f in catalog.fields.items()},
              "stage": STAGE_NAMES_VI,
              "award_form": {c: f.name for c, f in catalog.award_forms.items()} | {"—": "Chưa đề nghị"}}
    sections = {}
    for name in SECTIONS:
        this, before = counts[name][year], counts[name][year - 1]
        sections[name] = [
            {"key": key, "label": labels[name].get(key, key), "count": this[key], "previous": before[key],
             "change": this[key] - before[key]}
            for key in sorted(set(this) | set(before), key=lambda k: (-this[k], k))
        ]
    return {
        "year": year, "previous_year": year - 1,
        "as_of": cutoff.recorded_at.isoformat() if cutoff.recorded_at else (
            cutoff.business_date.isoformat() if cutoff.business_date else "now"),
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "instances": [s.instance for s in sources if s.service == "nominations"],
        "totals": {"count": sum(counts["stage"][year].values()), "previous": sum(counts["stage"][year - 1].values())},
        "sections": sections,
    }


def report_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Mục", "Mã", "Tên", f"Năm {report['year']}", f"Năm {report['previous_year']}", "Tăng/giảm"])
    for name, title in SECTIONS.items():
        for row in report["sections"][name]:
            writer.writerow([title, row["key"], row["label"], row["count"], row["previous"], row["change"]])
    writer.writerow(["Tổng", "", "", report["totals"]["count"], report["totals"]["previous"],
                     report["totals"]["count"] - report["totals"]["previous"]])
    return out.getvalue()


def report_html(report: dict) -> str:
    """A self-contained page: no script, no external file; charts are inline SVG."""
    return templates.get_template("annual_report.html.j2").render(report=report, sections=SECTIONS)
