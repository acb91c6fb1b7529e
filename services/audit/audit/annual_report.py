"""The annual report to the Interior office: exemplars of a year by field, stage and pending
award form, and the awards councils actually decided in the year by award form, subject
kind and unit, each beside the year before, as CSV, JSON and a page with charts.

Counts come from the logs replayed to a cutoff (audit.toolkit): the exemplar register
from each department's log, the awards from each council's own register (its
``award.granted`` events, less those revoked by the cutoff). So a report for any past
moment can be produced again with the same figures.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter

from audit.toolkit import Cutoff, LogSource, award_register_as_of, register_as_of, templates
from shared.contracts.nominations import STAGE_NAMES_VI
from shared.catalog import Catalog

# Exemplars detected in the year. award_form is the nomination still pending at a council.
SECTIONS = {"field": "Lĩnh vực", "stage": "Giai đoạn", "award_form": "Hình thức khen thưởng đang đề nghị"}
# Awards decided in the year (by the decision's date), revoked ones left out.
AWARDS_BY_FORM = "Khen thưởng đã quyết định, theo hình thức"
AWARDS_DETAIL = "Khen thưởng đã quyết định, theo hình thức, đối tượng và đơn vị"
NOT_ANY = "—"


def _rows(this: Counter, before: Counter, label) -> list[dict]:
    return [{"key": key, "label": label(key), "count": this[key], "previous": before[key],
             "change": this[key] - before[key]}
            for key in sorted(set(this) | set(before), key=lambda k: (-this[k], k))]


def annual_report(sources: list[LogSource], year: int, cutoff: Cutoff, catalog: Catalog) -> dict:
    years = (year, year - 1)
    counts = {name: {y: Counter() for y in years} for name in SECTIONS}
    for row in register_as_of(sources, cutoff):
        if row["year"] in years:
            for name in SECTIONS:
                counts[name][row["year"]][row[name] or NOT_ANY] += 1
    labels = {"field": {c: f.name for c, f in catalog.fields.items()},
              "stage": STAGE_NAMES_VI,
              "award_form": {c: f.name for c, f in catalog.award_forms.items()} | {
                  NOT_ANY: "Không có đề nghị chờ quyết định"}}
    sections = {name: _rows(counts[name][year], counts[name][year - 1], lambda k, n=name: labels[n].get(k, k))
                for name in SECTIONS}

    # Awards by the year of their decision (the award year of a title may be the one before).
    decided = {y: Counter() for y in years}  # (form, subject kind, unit) -> standing awards
    for award in award_register_as_of(sources, cutoff):
        if award["decided_on"].year in years and not award["revoked"]:
            decided[award["decided_on"].year][(award["award_form"], award["subject_kind"], award["unit"])] += 1
    by_form = {y: Counter() for y in years}
    for y in years:
        for (form, _, _), n in decided[y].items():
            by_form[y][form] += n
    form_name = {c: f.name for c, f in catalog.award_forms.items()}
    kind_name = {c: k.name for c, k in catalog.subject_kinds.items()}
    sections["awards_by_form"] = _rows(by_form[year], by_form[year - 1], lambda k: form_name.get(k, k))
    detail = []
    for row in _rows(decided[year], decided[year - 1], lambda k: ""):
        form, kind, unit = row["key"]
        names = form_name.get(form, form), kind_name.get(kind, kind)
        detail.append(row | {"key": f"{form}/{kind}", "label": " · ".join((*names, unit)),
                             "award_form": form, "award_form_label": names[0],
                             "subject_kind": kind, "subject_kind_label": names[1], "unit": unit})
    return {
        "year": year, "previous_year": year - 1,
        "as_of": cutoff.recorded_at.isoformat() if cutoff.recorded_at else (
            cutoff.business_date.isoformat() if cutoff.business_date else "now"),
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "instances": [s.instance for s in sources if s.service == "nominations"],
        "councils": [s.instance for s in sources if s.service == "awards"],
        "totals": {"count": sum(counts["stage"][year].values()), "previous": sum(counts["stage"][year - 1].values())},
        "award_totals": {"count": sum(decided[year].values()), "previous": sum(decided[year - 1].values())},
        "sections": sections,
        "awards": detail,
    }


def report_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Mục", "Mã", "Tên", f"Năm {report['year']}", f"Năm {report['previous_year']}", "Tăng/giảm"])

    def total(title: str, totals: dict) -> None:
        writer.writerow([title, "", "", totals["count"], totals["previous"], totals["count"] - totals["previous"]])

    for name, title in SECTIONS.items():
        for row in report["sections"][name]:
            writer.writerow([title, row["key"], row["label"], row["count"], row["previous"], row["change"]])
    total("Tổng", report["totals"])
    # Mã of a detailed row: award form / subject kind (the unit is in Tên, as written on the decision)
    for title, rows in ((AWARDS_BY_FORM, report["sections"]["awards_by_form"]), (AWARDS_DETAIL, report["awards"])):
        for row in rows:
            writer.writerow([title, row["key"], row["label"], row["count"], row["previous"], row["change"]])
    total("Tổng số khen thưởng đã quyết định", report["award_totals"])
    return out.getvalue()


def report_html(report: dict) -> str:
    """A self-contained page: no script, no external file; charts are inline SVG."""
    return templates.get_template("annual_report.html.j2").render(
        report=report, awards_detail=AWARDS_DETAIL,
        sections={"field": SECTIONS["field"], "stage": SECTIONS["stage"],  # decided awards beside the stages
                  "awards_by_form": AWARDS_BY_FORM, "award_form": SECTIONS["award_form"]})
