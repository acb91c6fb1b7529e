"""Title rules as dated policy data: each one on both sides of its threshold and its effective date.

Pure: the policy file, ``assess`` and the facts a nomination carries. Every run of years is
counted by the award year (the year the achievement is for), never by the decision's date.
"""

import datetime as dt
import typing
import unicodedata
import uuid

import pytest

from awards.domainmodel import Award, Case
from awards.eligibility import Initiative, PastAward, RosterMember, assess, award_year_of, subject_facts
from awards.policy import load_policy
from shared.contracts import nominations as commands
from nominations.domainmodel import RATINGS_VI
from shared.catalog import CatalogError

D = dt.date.fromisoformat
LDTT, CSTD, CSTD_TINH, CSTD_TQ = ("lao-dong-tien-tien", "chien-si-thi-dua-co-so", "chien-si-thi-dua-tinh",
                                  "chien-si-thi-dua-toan-quoc")
BK_TINH, BK_TTG, TT_LDTT, TT_LDXS = "bang-khen-tinh", "bang-khen-thu-tuong", "tap-the-lao-dong-tien-tien", \
    "tap-the-lao-dong-xuat-sac"


@pytest.fixture(scope="module")
def policy(catalog):
    return load_policy(catalog=catalog)


def award(form, year, achievement=None, revoked=False):
    return PastAward(award_id=f"{form}-{year}", form=form, year=year, achievement=achievement or f"{form} {year}",
                     decision_number=f"{year}/QĐ-UBND", revoked=revoked)


def initiative(year, scope="co-so", kind="initiative", n=1):
    return Initiative(initiative_id=f"I{year}-{n}", year=year, scope=scope, kind=kind, title=f"Sáng kiến {n}")


def judge(policy, catalog, form, *, on, year, history=(), initiatives=(), ratings=None, roster=None,
          achievement="Thành tích mới", kind=None):
    version = policy.in_force(D(on))
    kinds = catalog.award_forms[form].subject_kinds
    return assess(form=form, subject_kind=kind or kinds[0], form_subject_kinds=kinds, rule=version.form_rule(form),
                  past_awards=list(history), achievement=achievement, on_hold=False, year=year,
                  scales=version.scales, initiatives=list(initiatives), ratings=ratings, roster=roster)


def rules(result):
    return [p["rule"] for p in result["problems"]]


# -- the policy file ------------------------------------------------------------------------


def test_no_policy_before_the_first_version(policy):
    """Rules that start with the first version have "before" only as: nothing is in force."""
    with pytest.raises(LookupError):
        policy.in_force(D("2017-09-30"))
    assert policy.in_force(D("2017-10-01")).form_rule(CSTD).initiative is not None


def test_a_version_inherits_each_forms_keys_one_by_one(policy):
    before, after = policy.in_force(D("2023-12-31")), policy.in_force(D("2024-01-01"))
    national_before, national_after = before.form_rule(CSTD_TQ), after.form_rule(CSTD_TQ)
    assert national_before.initiative is None and national_after.initiative.min_scope == "toan-quoc"
    assert national_after.prerequisites == national_before.prerequisites  # inherited, not repeated
    assert (national_after.vote_threshold, national_after.consultation_days) == ("9/10", 7)
    assert before.form_rule(BK_TTG).initiative.count == 5 and after.form_rule(BK_TTG).initiative is None  # null clears
    assert policy.in_force(D("2025-07-01")).form_rule(BK_TTG).rated_after.min_rating == "good"


def test_the_scales_are_the_ones_the_nominations_commands_take(policy):
    scales = policy.in_force(D("2026-01-01")).scales
    rating = typing.get_args(typing.get_args(commands.Rating)[0])
    assert list(scales.ratings) == list(rating) == list(RATINGS_VI)
    assert list(scales.discipline_levels) == list(typing.get_args(commands.Discipline))[1:]  # after "none"
    assert list(scales.initiative_scopes) == list(typing.get_args(commands.InitiativeScope))


BASE = ("- effective_from: 2024-01-01\n  source: x\n  levels: [commune]\n  level_names: {}\n"
        "  authority: {commune: [giay-khen]}\n  quorum: '2/3'\n  default_form: {}\n")


@pytest.mark.parametrize(("forms", "message"), [
    ("{giay-khen: {rated_after: {form: bang-khen-tinh, min_rating: superb, consecutive_years: 5}}}", "superb"),
    ("{giay-khen: {prerequisites: [{form: lao-dong-tien-tien}]}}", "exactly one of"),
    ("{giay-khen: {prerequisites: [{form: lao-dong-tien-tien, consecutive_years: 2, span_years: 3}]}}", "span_years"),
    ("{giay-khen: {roster: {title_count: {titles: [huy-chuong-bac], at_least: 1}}}}", "huy-chuong-bac"),
    ("{giay-khen: {roster: {title_share: {titles: [lao-dong-tien-tien], share: '3/2'}}}}", "fraction"),
])
def test_a_rule_the_policy_cannot_judge_is_refused_at_load(tmp_path, catalog, forms, message):
    broken = tmp_path / "awards.yaml"
    broken.write_text(BASE + f"  forms: {forms}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_policy(broken, catalog)


# -- Chiến sĩ thi đua cơ sở: Lao động tiên tiến the same year + a recognised initiative -------


def test_base_title_needs_the_same_years_ldtt_and_an_initiative(policy, catalog):
    ok = judge(policy, catalog, CSTD, on="2025-01-15", year=2024, history=[award(LDTT, 2024)],
               initiatives=[initiative(2024)])
    assert ok["eligible"] and ok["prerequisite_award_ids"] == [f"{LDTT}-2024"]
    # counted by the award year: decided in 2025 for 2024, the 2024 title is the one that counts
    last_year = judge(policy, catalog, CSTD, on="2025-01-15", year=2024, history=[award(LDTT, 2023)],
                      initiatives=[initiative(2024)])
    assert rules(last_year) == ["prerequisite-missing"]
    old_initiative = judge(policy, catalog, CSTD, on="2025-01-15", year=2024, history=[award(LDTT, 2024)],
                           initiatives=[initiative(2023)])
    assert rules(old_initiative) == ["initiative-missing"] and "cơ sở" in old_initiative["problems"][0]["message"]
    wider = judge(policy, catalog, CSTD, on="2025-01-15", year=2024, history=[award(LDTT, 2024)],
                  initiatives=[initiative(2024, scope="tinh", kind="research")])
    assert wider["eligible"]  # a research result of wider effect counts too


def test_base_title_rule_is_in_force_from_the_first_version(policy, catalog):
    facts = {"history": [award(LDTT, 2017)], "year": 2017}
    assert rules(judge(policy, catalog, CSTD, on="2017-10-01", **facts)) == ["initiative-missing"]
    assert judge(policy, catalog, CSTD, on="2017-10-01", initiatives=[initiative(2017)], **facts)["eligible"]


# -- Chiến sĩ thi đua cấp tỉnh: 3 consecutive base titles (old) ------------------------------


def test_provincial_title_counts_base_titles_by_award_year(policy, catalog):
    three = [award(CSTD, y) for y in (2021, 2022, 2023)]
    # for 2024, decided in February 2025: the run 2021–2023 ends the year before the award year
    assert judge(policy, catalog, CSTD_TINH, on="2025-02-20", year=2024, history=three)["eligible"]
    # judged by the decision's year (2025) the same run would be too old: the award year decides
    assert rules(judge(policy, catalog, CSTD_TINH, on="2025-02-20", year=2025, history=three)) == \
        ["prerequisite-missing"]
    two = three[1:]
    assert rules(judge(policy, catalog, CSTD_TINH, on="2025-02-20", year=2024, history=two)) == \
        ["prerequisite-missing"]


# -- Chiến sĩ thi đua toàn quốc: 2 consecutive provincial awards (+ a national initiative) ----


def test_national_title_needs_two_consecutive_provincial_awards(policy, catalog):
    consecutive = [award(CSTD_TINH, 2020), award(CSTD_TINH, 2023)]  # 2018–2020, then 2021–2023
    ok = judge(policy, catalog, CSTD_TQ, on="2023-12-31", year=2023, history=consecutive)
    assert ok["eligible"] and sorted(ok["prerequisite_award_ids"]) == [f"{CSTD_TINH}-2020", f"{CSTD_TINH}-2023"]
    overlapping = [award(CSTD_TINH, 2021), award(CSTD_TINH, 2023)]  # spans overlap: not two in a row
    assert rules(judge(policy, catalog, CSTD_TQ, on="2023-12-31", year=2023, history=overlapping)) == \
        ["prerequisite-awards-missing"]
    calendar = [award(CSTD_TINH, 2022), award(CSTD_TINH, 2023)]  # two calendar years are not two spans
    assert not judge(policy, catalog, CSTD_TQ, on="2023-12-31", year=2023, history=calendar)["eligible"]
    one = [award(CSTD_TINH, 2023)]
    assert not judge(policy, catalog, CSTD_TQ, on="2023-12-31", year=2023, history=one)["eligible"]


def test_national_title_needs_an_initiative_of_national_effect_from_2024(policy, catalog):
    facts = {"history": [award(CSTD_TINH, 2020), award(CSTD_TINH, 2023)], "year": 2023}
    assert judge(policy, catalog, CSTD_TQ, on="2023-12-31", **facts)["eligible"]
    assert rules(judge(policy, catalog, CSTD_TQ, on="2024-01-01", **facts)) == ["initiative-missing"]
    provincial = judge(policy, catalog, CSTD_TQ, on="2024-01-01", initiatives=[initiative(2022, "tinh")], **facts)
    assert rules(provincial) == ["initiative-missing"]
    national = judge(policy, catalog, CSTD_TQ, on="2024-01-01", initiatives=[initiative(2022, "toan-quoc")], **facts)
    assert national["eligible"]
    too_old = judge(policy, catalog, CSTD_TQ, on="2024-01-01", initiatives=[initiative(2017, "toan-quoc")], **facts)
    assert rules(too_old) == ["initiative-missing"]  # outside the 6 years of the two spans


# -- Bằng khen của Thủ tướng: a provincial Bằng khen, then 5 years rated well ----------------


def ratings(first, last, rating="good", **changes):
    return {year: changes.get(f"y{year}", rating) for year in range(first, last + 1)}


def test_prime_ministers_certificate_needs_five_good_years_after_a_provincial_one(policy, catalog):
    bk = [award(BK_TINH, 2018)]
    ok = judge(policy, catalog, BK_TTG, on="2024-06-01", year=2024, history=bk, ratings=ratings(2019, 2023))
    assert ok["eligible"] and ok["prerequisite_award_ids"] == [f"{BK_TINH}-2018"]
    four = judge(policy, catalog, BK_TTG, on="2024-06-01", year=2024, history=bk, ratings=ratings(2020, 2023))
    assert rules(four) == ["ratings-after-award-missing"]
    assert "hoàn thành tốt nhiệm vụ" in four["problems"][0]["message"]
    a_weaker_year = ratings(2019, 2023, y2021="complete")
    assert not judge(policy, catalog, BK_TTG, on="2024-06-01", year=2024, history=bk, ratings=a_weaker_year)["eligible"]
    excellent = ratings(2019, 2023, rating="excellent")  # "or better"
    assert judge(policy, catalog, BK_TTG, on="2024-06-01", year=2024, history=bk, ratings=excellent)["eligible"]
    later_bk = [award(BK_TINH, 2020)]  # the years must follow the provincial Bằng khen
    assert not judge(policy, catalog, BK_TTG, on="2024-06-01", year=2024, history=later_bk,
                     ratings=ratings(2019, 2023))["eligible"]
    assert not judge(policy, catalog, BK_TTG, on="2024-06-01", year=2024, ratings=ratings(2019, 2023))["eligible"]


def test_prime_ministers_certificate_before_2024_needed_excellent_years_and_five_initiatives(policy, catalog):
    bk, five = [award(BK_TINH, 2017)], [initiative(2019 + n % 5, n=n) for n in range(5)]
    good = ratings(2018, 2022)
    before = judge(policy, catalog, BK_TTG, on="2023-12-31", year=2023, history=bk, ratings=good, initiatives=five)
    assert rules(before) == ["ratings-after-award-missing"]
    assert judge(policy, catalog, BK_TTG, on="2024-01-01", year=2023, history=bk, ratings=good)["eligible"]
    excellent = ratings(2018, 2022, rating="excellent")
    assert judge(policy, catalog, BK_TTG, on="2023-12-31", year=2023, history=bk, ratings=excellent,
                 initiatives=five)["eligible"]
    four = judge(policy, catalog, BK_TTG, on="2023-12-31", year=2023, history=bk, ratings=excellent,
                 initiatives=five[:4])
    assert rules(four) == ["initiative-missing"]
    collective = judge(policy, catalog, BK_TTG, on="2023-12-31", year=2023, history=bk, ratings=excellent,
                       kind="collective")
    assert collective["eligible"]  # the five initiatives were asked of individuals only


# -- collectives: judged from the year's member roster ---------------------------------------


def roster(members=10, ldtt=6, cstd=0, incomplete=0, disciplined=None):
    found = []
    for n in range(members):
        title = CSTD if n < cstd else LDTT if n < ldtt else None
        rating = "incomplete" if n >= members - incomplete else "good"
        found.append(RosterMember(name=f"Thành viên {n + 1}", title=title, rating=rating,
                                  discipline=disciplined if n == members - 1 else None))
    return found


def test_advanced_collective_needs_more_than_half_ldtt_and_nobody_warned(policy, catalog):
    on = {"on": "2024-12-20", "year": 2024}
    assert judge(policy, catalog, TT_LDTT, roster=roster(ldtt=6), **on)["eligible"]
    assert judge(policy, catalog, TT_LDTT, roster=roster(ldtt=6, cstd=2), **on)["eligible"]  # CSTĐ holds LĐTT too
    half = judge(policy, catalog, TT_LDTT, roster=roster(ldtt=5), **on)
    assert rules(half) == ["roster-title-share"] and "trên 50 %" in half["problems"][0]["message"]
    assert judge(policy, catalog, TT_LDTT, roster=roster(disciplined="reprimand"), **on)["eligible"]
    warned = judge(policy, catalog, TT_LDTT, roster=roster(disciplined="warning"), **on)
    assert rules(warned) == ["roster-discipline"] and "Thành viên 10" in warned["problems"][0]["message"]
    assert rules(judge(policy, catalog, TT_LDTT, roster=None, **on)) == ["roster-missing"]
    assert judge(policy, catalog, TT_LDTT, roster=roster(ldtt=6), on="2017-10-01", year=2017)["eligible"]


def test_excellent_collective_needs_all_complete_seventy_percent_ldtt_and_a_cstd(policy, catalog):
    on = {"on": "2024-12-20", "year": 2024}
    assert judge(policy, catalog, TT_LDXS, roster=roster(ldtt=7, cstd=1), **on)["eligible"]
    assert rules(judge(policy, catalog, TT_LDXS, roster=roster(ldtt=6, cstd=1), **on)) == ["roster-title-share"]
    assert rules(judge(policy, catalog, TT_LDXS, roster=roster(ldtt=7, cstd=0), **on)) == ["roster-title-count"]
    one_short = judge(policy, catalog, TT_LDXS, roster=roster(ldtt=7, cstd=1, incomplete=1), **on)
    assert rules(one_short) == ["roster-task-completion"]


def test_excellent_collective_allows_nobody_disciplined_from_2024(policy, catalog):
    reprimanded = roster(ldtt=7, cstd=1, disciplined="reprimand")
    assert judge(policy, catalog, TT_LDXS, roster=reprimanded, on="2023-12-31", year=2023)["eligible"]
    assert rules(judge(policy, catalog, TT_LDXS, roster=reprimanded, on="2024-01-01", year=2023)) == \
        ["roster-discipline"]
    warned = roster(ldtt=7, cstd=1, disciplined="warning")
    assert rules(judge(policy, catalog, TT_LDXS, roster=warned, on="2023-12-31", year=2023)) == ["roster-discipline"]


# -- one achievement, one award ---------------------------------------------------------------


def test_one_achievement_however_it_is_typed(policy, catalog):
    typed = "Mô hình: nuôi gà đồi — an toàn sinh học (2024)!"
    history = [award("giay-khen", 2023, achievement=typed)]
    for again in ("mô hình nuôi gà đồi an toàn sinh học 2024", unicodedata.normalize("NFD", typed.upper())):
        result = judge(policy, catalog, "giay-khen", on="2024-06-01", year=2024, history=history, achievement=again)
        assert rules(result) == ["achievement-commended"], again
    other = judge(policy, catalog, "giay-khen", on="2024-06-01", year=2024, history=history,
                  achievement="Mô hình nuôi gà đồi an toàn sinh học 2025")
    assert other["eligible"]


def test_one_award_of_a_form_per_award_year(policy, catalog):
    history = [award("giay-khen", 2024)]
    same_year = judge(policy, catalog, "giay-khen", on="2025-01-10", year=2024, history=history)
    assert rules(same_year) == ["year-form-commended"] and "năm 2024" in same_year["problems"][0]["message"]
    assert judge(policy, catalog, "giay-khen", on="2025-01-10", year=2025, history=history)["eligible"]
    assert judge(policy, catalog, BK_TINH, on="2025-01-10", year=2024, history=history)["eligible"]  # another form
    revoked = [award("giay-khen", 2024, revoked=True)]
    assert judge(policy, catalog, "giay-khen", on="2025-01-10", year=2024, history=revoked)["eligible"]


# -- the award year and the facts a nomination carries ----------------------------------------


def test_the_award_year_comes_with_the_nomination_or_is_the_decisions(policy, catalog):
    assert award_year_of({"award_year": 2024}, {}, 2025) == 2024
    assert award_year_of({}, {"award_year": 2023}, 2025) == 2023  # sent with the subject's facts
    assert award_year_of({}, {}, 2025) == 2025  # a nomination from before award years


def test_the_subjects_facts_are_what_assess_takes(policy, catalog):
    subject = {"subject_kind": "collective", "name": "Tổ sản xuất", "award_year": 2024,
               "initiatives": [{"initiative_id": "I1", "title": "t", "kind": "initiative", "year": 2024,
                                "scope": "co-so", "recognised_by": "Hội đồng sáng kiến", "reference": "1/QĐ"}],
               "ratings": {"2023": "good", "2024": "excellent"},
               "roster": [{"name": "A", "title": LDTT, "rating": "good", "discipline": "none"},
                          {"name": "B", "title": None, "rating": "complete", "discipline": "warning"}]}
    facts = subject_facts(subject)
    assert facts["initiatives"][0].scope == "co-so" and facts["ratings"] == {2023: "good", 2024: "excellent"}
    assert [m.discipline for m in facts["roster"]] == [None, "warning"]
    result = judge(policy, catalog, TT_LDTT, on="2024-12-20", year=2024, **facts)
    assert rules(result) == ["roster-title-share", "roster-discipline"]
    assert subject_facts({"subject_kind": "household"}) == {"initiatives": [], "ratings": {}, "roster": None}


def test_an_award_is_for_the_nominations_award_year(policy):
    def granted(nomination, on):
        case = Case.open(case_id=uuid.uuid4(), exemplar_id="e", subject={"subject_kind": "individual"},
                         nomination={"award_form": "giay-khen", "achievement": "x"} | nomination,
                         council_level="district", jurisdiction="huyen-yen-the", forwarded_from=None,
                         eligibility={"eligible": True}, business_date=D(on))
        return Award.grant(award_id=uuid.uuid4(), case=case, decision_number="1/QĐ-UBND", signer="Chủ tịch",
                           prerequisite_award_ids=[], business_date=D(on))

    assert granted({"award_year": 2024}, "2025-01-20").year == 2024
    assert granted({}, "2025-01-20").year == 2025
