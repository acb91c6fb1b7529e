"""Eligibility of a nomination, computed from the subject's own past awards. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from awards.policy import FormRule

PROBLEMS_VI = {
    "form-fits-subject": "Hình thức «{form}» không áp dụng cho đối tượng «{kind}».",
    "prerequisite-missing": "Chưa đủ điều kiện: cần {years} năm liên tục đạt «{needed}» (đã có: {have}).",
    "achievement-commended": "Thành tích «{achievement}» đã được khen thưởng (quyết định {decision}); mỗi thành tích chỉ khen một lần.",
    "on-hold": "Điển hình đang tạm dừng xét (kỷ luật, điều tra hoặc khiếu nại); chưa thể quyết định khen thưởng.",
}


@dataclass(frozen=True)
class PastAward:
    award_id: str
    form: str
    year: int
    achievement: str
    decision_number: str
    revoked: bool = False


def _consecutive_run(years: set[int], ending: int, length: int) -> list[int] | None:
    run = list(range(ending - length + 1, ending + 1))
    return run if all(year in years for year in run) else None


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
) -> dict:
    """{"eligible": bool, "problems": [{"rule", "message"}], "prerequisite_award_ids": [...]}"""
    problems: list[dict] = []
    used: list[str] = []
    standing = [award for award in past_awards if not award.revoked]  # a revoked award counts for nothing

    if subject_kind not in form_subject_kinds:
        problems.append(_problem("form-fits-subject", form=form, kind=subject_kind))

    for prerequisite in rule.prerequisites:
        by_year = {a.year: a for a in standing if a.form == prerequisite.form}
        # the run may end in the decision year or the year before it
        run = _consecutive_run(set(by_year), year - 1, prerequisite.consecutive_years) or _consecutive_run(
            set(by_year), year, prerequisite.consecutive_years
        )
        if run is None:
            have = ", ".join(str(y) for y in sorted(by_year)) or "chưa có"
            problems.append(_problem("prerequisite-missing", years=prerequisite.consecutive_years,
                                     needed=prerequisite.form, have=have))
        else:
            used.extend(by_year[y].award_id for y in run)

    wanted = _normalise(achievement)
    for award in standing:
        if _normalise(award.achievement) == wanted:
            problems.append(_problem("achievement-commended", achievement=achievement, decision=award.decision_number))
            break

    if on_hold:
        problems.append(_problem("on-hold"))
    return {"eligible": not problems, "problems": problems, "prerequisite_award_ids": used}


def _problem(rule: str, **facts) -> dict:
    return {"rule": rule, "message": PROBLEMS_VI[rule].format(**facts)}


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())
