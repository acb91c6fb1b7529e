"""Eligibility of a nomination, from the subject's own history. Pure.

Every fact is an argument: the subject's past awards (from the register), and what the
nominating department knew of it when it nominated (recognised initiatives, yearly
ratings, the member roster for the award year; they travel in the nomination's
``subject``). Every run of years is counted by the year the achievement is for.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from awards.policy import FormRule, Prerequisite, Scales, fraction

PROBLEMS_VI = {
    "form-fits-subject": "Hình thức «{form}» không áp dụng cho đối tượng «{kind}».",
    "prerequisite-missing": "Chưa đủ điều kiện: cần {run} đạt «{needed}» (đã có: {have}).",
    "prerequisite-awards-missing": "Chưa đủ điều kiện: cần {count} lần liên tục được tặng «{needed}», mỗi lần cho "
                                   "{span} năm (đã có các năm: {have}).",
    "initiative-missing": "Chưa đủ điều kiện: cần {count} sáng kiến hoặc đề tài khoa học được công nhận có phạm vi "
                          "ảnh hưởng từ {scope} trở lên {period} (đã có: {have}).",
    "ratings-after-award-missing": "Chưa đủ điều kiện: cần đã được tặng «{needed}», sau đó {years} năm liên tục xếp "
                                   "loại từ «{rating}» trở lên (đã có: {have}).",
    "roster-missing": "Chưa có danh sách thành viên năm {year} của tập thể; không thể xét «{form}».",
    "roster-title-share": "Tỷ lệ thành viên đạt danh hiệu ({have}/{members}) chưa đạt {comparison} {share} theo "
                          "tiêu chuẩn «{form}».",
    "roster-task-completion": "Tỷ lệ thành viên xếp loại từ «{rating}» trở lên ({have}/{members}) chưa đạt "
                              "{comparison} {share} theo tiêu chuẩn «{form}».",
    "roster-title-count": "Cần ít nhất {at_least} thành viên đạt «{titles}» trong năm {year} (có {have}).",
    "roster-discipline": "Có thành viên bị kỷ luật từ hình thức «{level}» trở lên trong năm {year} ({names}); "
                         "không đạt tiêu chuẩn «{form}».",
    "achievement-commended": "Thành tích «{achievement}» đã được khen thưởng (quyết định {decision}); mỗi thành tích chỉ khen một lần.",
    "year-form-commended": "Đối tượng đã được tặng «{form}» cho năm {year} (quyết định {decision}); mỗi năm chỉ "
                           "xét tặng một lần.",
    "on-hold": "Điển hình đang tạm dừng xét (kỷ luật, điều tra hoặc khiếu nại); chưa thể quyết định khen thưởng.",
}


@dataclass(frozen=True)
class PastAward:
    award_id: str
    form: str
    year: int  # the year the achievement was for (older awards: their decision's year)
    achievement: str
    decision_number: str
    revoked: bool = False


@dataclass(frozen=True)
class Initiative:
    """A recognised initiative (sáng kiến) or research result, with its scope of effect."""

    initiative_id: str
    year: int
    scope: str
    kind: str = "initiative"
    title: str = ""


@dataclass(frozen=True)
class RosterMember:
    name: str
    title: str | None  # the member's emulation title for the year, e.g. lao-dong-tien-tien
    rating: str | None  # the member's yearly rating on the legal scale
    discipline: str | None = None  # the heaviest discipline of the year, None: none


def award_year_of(nomination: dict, subject: dict, decided_on_year: int) -> int:
    """The year the achievement is for: given with the nomination (departments send it with
    the subject's facts); an older nomination without it counts for its decision's year."""
    for source in (nomination, subject):
        year = source.get("award_year")
        if isinstance(year, int):
            return year
    return decided_on_year


def subject_facts(subject: dict) -> dict[str, Any]:
    """The facts a nomination's subject carries, as ``assess`` takes them (absent: none known)."""
    initiatives = [Initiative(initiative_id=str(i.get("initiative_id", "")), year=int(i["year"]), scope=i["scope"],
                              kind=i.get("kind", "initiative"), title=i.get("title", ""))
                   for i in subject.get("initiatives") or () if i.get("scope") and i.get("year") is not None]
    ratings = {int(year): rating for year, rating in (subject.get("ratings") or {}).items()}
    roster = subject.get("roster")
    members = None if roster is None else [
        RosterMember(name=m.get("name", ""), title=m.get("title"), rating=m.get("rating"),
                     discipline=None if m.get("discipline") in (None, "", "none") else m["discipline"])
        for m in roster]
    return {"initiatives": initiatives, "ratings": ratings, "roster": members}


def _run(years: set[int], ending: int, count: int, step: int) -> list[int] | None:
    run = [ending - step * k for k in range(count - 1, -1, -1)]
    return run if all(year in years for year in run) else None


def _find_run(years: set[int], award_year: int, count: int, step: int, may_end_before: int) -> list[int] | None:
    """The latest run of ``count`` years, ``step`` apart, ending at most ``may_end_before`` before the award year."""
    for gap in range(may_end_before + 1):
        run = _run(years, award_year - gap, count, step)
        if run:
            return run
    return None


def assess(
    *,
    form: str,
    subject_kind: str,
    form_subject_kinds: tuple[str, ...],
    rule: FormRule,
    past_awards: list[PastAward],
    achievement: str,
    on_hold: bool,
    year: int,
    scales: Scales | None = None,
    initiatives: list[Initiative] = (),
    ratings: dict[int, str] | None = None,
    roster: list[RosterMember] | None = None,
) -> dict:
    """{"eligible": bool, "problems": [{"rule", "message"}], "prerequisite_award_ids": [...]}

    ``year`` is the award year: the year the achievement is for. ``scales`` (the policy
    version's) is needed once the rule names a rating, discipline level or scope.
    """
    problems: list[dict] = []
    used: list[str] = []
    standing = [award for award in past_awards if not award.revoked]  # a revoked award counts for nothing
    ratings = ratings or {}

    if subject_kind not in form_subject_kinds:
        problems.append(_problem("form-fits-subject", form=form, kind=subject_kind))

    for prerequisite in rule.prerequisites:
        problem = _prerequisite(prerequisite, standing, year, used)
        if problem:
            problems.append(problem)

    if rule.rated_after:
        problems += _rated_after(rule, scales, standing, ratings, year, used)
    if rule.initiative and (rule.initiative.subject_kinds is None or subject_kind in rule.initiative.subject_kinds):
        problems += _initiatives(rule, scales, list(initiatives), year)
    if rule.roster:
        problems += _roster(rule, scales, form, roster, year)

    wanted = _normalise(achievement)
    for award in standing:
        if _normalise(award.achievement) == wanted:
            problems.append(_problem("achievement-commended", achievement=achievement, decision=award.decision_number))
            break
    if rule.once_per_year:
        for award in standing:
            if award.form == form and award.year == year:
                problems.append(_problem("year-form-commended", form=form, year=year, decision=award.decision_number))
                break

    if on_hold:
        problems.append(_problem("on-hold"))
    return {"eligible": not problems, "problems": problems, "prerequisite_award_ids": used}


def _prerequisite(prerequisite: Prerequisite, standing: list[PastAward], year: int, used: list[str]) -> dict | None:
    by_year = {a.year: a for a in standing if a.form == prerequisite.form and a.year <= year}
    run = _find_run(set(by_year), year, prerequisite.count, prerequisite.step, prerequisite.may_end_before)
    if run is not None:
        used.extend(by_year[y].award_id for y in run)
        return None
    have = ", ".join(str(y) for y in sorted(by_year)) or "chưa có"
    if prerequisite.consecutive_awards:
        return _problem("prerequisite-awards-missing", count=prerequisite.count, needed=prerequisite.form,
                        span=prerequisite.span_years, have=have)
    run = f"{prerequisite.count} năm liên tục" if prerequisite.count > 1 or prerequisite.may_end_before else \
        f"năm {year}"
    return _problem("prerequisite-missing", run=run, needed=prerequisite.form, have=have)


def _rated_after(rule: FormRule, scales: Scales | None, standing: list[PastAward], ratings: dict[int, str],
                 year: int, used: list[str]) -> list[dict]:
    need = rule.rated_after
    scales = _required(scales)
    good_years = {y for y, rating in ratings.items() if scales.rating_at_least(rating, need.min_rating)}
    earlier = sorted((a for a in standing if a.form == need.form and a.year < year), key=lambda a: a.year)
    for gap in range(need.may_end_before + 1):
        run = _run(good_years, year - gap, need.consecutive_years, 1)
        if run is None:
            continue
        before = [a for a in earlier if a.year < run[0]]
        if before:
            used.append(before[-1].award_id)  # the latest one before the run
            return []
    have = "; ".join(filter(None, [
        "«{}» năm {}".format(need.form, ", ".join(str(a.year) for a in earlier)) if earlier else "",
        "xếp loại " + ", ".join(f"{y}: {scales.ratings.get(r, r)}" for y, r in sorted(ratings.items()))
        if ratings else "",
    ])) or "chưa có"
    return [_problem("ratings-after-award-missing", needed=need.form, years=need.consecutive_years,
                     rating=scales.ratings[need.min_rating], have=have)]


def _initiatives(rule: FormRule, scales: Scales | None, initiatives: list[Initiative], year: int) -> list[dict]:
    need = rule.initiative
    scales = _required(scales)
    first = year - need.within_years + 1
    counted = [i for i in initiatives if i.kind in need.kinds and first <= i.year <= year
               and scales.scope_at_least(i.scope, need.min_scope)]
    if len(counted) >= need.count:
        return []
    have = ", ".join(f"{i.title or i.initiative_id} ({scales.initiative_scopes.get(i.scope, i.scope)}, {i.year})"
                     for i in initiatives) or "chưa có"
    period = f"trong năm {year}" if first == year else f"trong các năm {first}–{year}"
    return [_problem("initiative-missing", count=need.count, scope=scales.initiative_scopes[need.min_scope],
                     period=period, have=have)]


def _roster(rule: FormRule, scales: Scales | None, form: str, roster: list[RosterMember] | None,
            year: int) -> list[dict]:
    need = rule.roster
    scales = _required(scales)
    if not roster:
        return [_problem("roster-missing", year=year, form=form)]
    members = len(roster)
    problems = []
    if need.title_share:
        have = sum(1 for m in roster if m.title in need.title_share.titles)
        if not _share_met(have, members, need.title_share.share, need.title_share.strictly_more):
            problems.append(_problem("roster-title-share", have=have, members=members, form=form,
                                     comparison=_comparison(need.title_share.strictly_more),
                                     share=_percent(need.title_share.share)))
    if need.rating_share:
        have = sum(1 for m in roster if scales.rating_at_least(m.rating, need.rating_share.min_rating))
        if not _share_met(have, members, need.rating_share.share, need.rating_share.strictly_more):
            problems.append(_problem("roster-task-completion", have=have, members=members, form=form,
                                     rating=scales.ratings[need.rating_share.min_rating],
                                     comparison=_comparison(need.rating_share.strictly_more),
                                     share=_percent(need.rating_share.share)))
    if need.title_count:
        have = sum(1 for m in roster if m.title in need.title_count.titles)
        if have < need.title_count.at_least:
            problems.append(_problem("roster-title-count", at_least=need.title_count.at_least, year=year, have=have,
                                     titles=need.title_count.titles[0]))
    if need.discipline_from:
        disciplined = [m.name for m in roster if scales.discipline_at_least(m.discipline, need.discipline_from)]
        if disciplined:
            problems.append(_problem("roster-discipline", level=scales.discipline_levels[need.discipline_from],
                                     year=year, names=", ".join(disciplined), form=form))
    return problems


def _share_met(have: int, members: int, share: str, strictly_more: bool) -> bool:
    needed = members * fraction(share)
    return have > needed if strictly_more else have >= needed


def _comparison(strictly_more: bool) -> str:
    return "trên" if strictly_more else "ít nhất"


def _percent(share: str) -> str:
    return f"{float(fraction(share) * 100):g} %"


def _required(scales: Scales | None) -> Scales:
    if scales is None:
        raise ValueError("this rule names a scale: pass the policy version's scales")
    return scales


def _problem(rule: str, **facts) -> dict:
    return {"rule": rule, "message": PROBLEMS_VI[rule].format(**facts)}


def _normalise(text: str) -> str:
    """One achievement however it is typed: Unicode NFC, case folded, punctuation and spacing removed."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    kept = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    return " ".join(kept.split())
