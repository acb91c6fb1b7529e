"""Award policy by date, eligibility from history, and the case's rules. Pure."""

import datetime as dt

import pytest

from awards.domainmodel import Case
from awards.eligibility import PastAward, assess
from awards.policy import fraction_vi, load_policy
from shared.catalog import CatalogError
from shared.errors import RuleViolation

D = dt.date.fromisoformat


@pytest.fixture(scope="module")
def policy(catalog):
    return load_policy(catalog=catalog)


def test_district_level_exists_until_2025_07_01(policy):
    before, after = policy.in_force(D("2025-06-30")), policy.in_force(D("2025-07-01"))
    assert before.has_level("district") and not after.has_level("district")
    assert before.granting_level("chien-si-thi-dua-co-so") == "district"
    assert after.granting_level("chien-si-thi-dua-co-so") == "commune"
    assert after.level_above("commune") == "province" and before.level_above("commune") == "district"
    assert after.form_rule("chien-si-thi-dua-tinh").consultation_days == 7  # inherited from the version before


def test_quorum_is_exactly_two_thirds(policy):
    version = policy.in_force(D("2024-05-01"))
    assert version.has_quorum(30, 20) and not version.has_quorum(30, 19)


def test_vote_thresholds_per_form(policy):
    version = policy.in_force(D("2024-05-01"))
    cstd = version.form_rule("chien-si-thi-dua-co-so")  # 90 % of all members
    assert cstd.vote_passes(members=10, present=9, in_favour=9) and not cstd.vote_passes(10, 9, 8)
    majority = version.form_rule("giay-khen")  # more than half of those present
    assert majority.vote_passes(10, 8, 5) and not majority.vote_passes(10, 8, 4)


def test_policy_naming_an_unknown_form_is_refused(tmp_path, catalog):
    broken = tmp_path / "awards.yaml"
    broken.write_text("- effective_from: 2024-01-01\n  source: x\n  levels: [commune]\n  level_names: {}\n"
                      "  authority: {commune: [huy-chuong-vang]}\n  quorum: '2/3'\n  default_form: {}\n")
    with pytest.raises(CatalogError, match="huy-chuong-vang"):
        load_policy(broken, catalog)


def past(form, year, achievement="x", revoked=False):
    return PastAward(award_id=f"{form}-{year}", form=form, year=year, achievement=f"{achievement} {year}",
                     decision_number=f"{year}/QĐ-UBND", revoked=revoked)


def check(policy, form="chien-si-thi-dua-tinh", kind="individual", history=(), achievement="Sáng kiến 2024",
          on_hold=False, year=2024):
    version = policy.in_force(D(f"{year}-06-01"))
    return assess(form=form, subject_kind=kind, form_subject_kinds=("individual",), rule=version.form_rule(form),
                  past_awards=list(history), achievement=achievement, on_hold=on_hold, year=year)


def test_provincial_title_needs_three_consecutive_base_titles(policy):
    three = [past("chien-si-thi-dua-co-so", y) for y in (2021, 2022, 2023)]
    ok = check(policy, history=three)
    assert ok["eligible"] and sorted(ok["prerequisite_award_ids"]) == sorted(a.award_id for a in three)
    gap = [past("chien-si-thi-dua-co-so", y) for y in (2020, 2022, 2023)]
    refused = check(policy, history=gap)
    assert not refused["eligible"] and refused["problems"][0]["rule"] == "prerequisite-missing"
    revoked = three[:2] + [past("chien-si-thi-dua-co-so", 2023, revoked=True)]
    assert not check(policy, history=revoked)["eligible"]


def test_one_achievement_is_commended_once(policy):
    history = [PastAward("a1", "giay-khen", 2023, "Sáng kiến   2024", "12/QĐ-UBND")]
    result = check(policy, form="giay-khen", history=history)
    assert [p["rule"] for p in result["problems"]] == ["achievement-commended"]


def test_on_hold_and_wrong_subject_kind_are_not_eligible(policy):
    result = check(policy, form="giay-khen", kind="robot", on_hold=True)
    assert [p["rule"] for p in result["problems"]] == ["form-fits-subject", "on-hold"]


def case(form="giay-khen", level="district", on="2024-03-01"):
    return Case.open(case_id=__import__("uuid").uuid4(), exemplar_id="e", subject={"subject_kind": "individual"},
                     nomination={"award_form": form, "achievement": "x"}, council_level=level,
                     jurisdiction="huyen-yen-the", forwarded_from=None, eligibility={"eligible": True},
                     business_date=D(on))


ELIGIBLE = {"eligible": True, "problems": [], "prerequisite_award_ids": []}


def refused(rule, action, c):
    version = c.version
    with pytest.raises(RuleViolation) as caught:
        action()
    assert caught.value.detail == rule and c.version == version
    return caught.value


def voted(form="giay-khen", level="district", on="2024-03-01", members=9, present=9, in_favour=9, policy=None):
    c = case(form, level, on)
    c.appraise(passed=True, appraiser="Phòng Nội vụ", note="ok", business_date=D(on))
    c.record_session(policy=policy.in_force(D(on)), session="s", members=members, present=present,
                     in_favour=in_favour, against=present - in_favour, blank=0, business_date=D(on))
    return c


def decide(c, policy, on):
    c.decide(policy=policy.in_force(D(on)), eligibility=ELIGIBLE, award_id="a", decision_number="1/QĐ-UBND",
             signer="Chủ tịch", business_date=D(on))


def test_no_vote_before_appraisal_and_no_session_without_quorum(policy):
    c = case()
    refused("appraise-first", lambda: c.record_session(policy=policy.in_force(D("2024-03-01")), session="s",
                                                       members=9, present=8, in_favour=8, against=0, blank=0,
                                                       business_date=D("2024-03-01")), c)
    c.appraise(passed=True, appraiser="p", note="n", business_date=D("2024-03-01"))
    error = refused("no-quorum", lambda: c.record_session(policy=policy.in_force(D("2024-03-01")), session="s",
                                                          members=9, present=5, in_favour=5, against=0, blank=0,
                                                          business_date=D("2024-03-01")), c)
    assert "hai phần ba" in error.message and "(6 người" in error.message  # 2/3 of 9


def test_the_quorum_refusal_says_the_fraction_of_the_policy_in_force(tmp_path, catalog):
    three_quarters = tmp_path / "awards.yaml"
    three_quarters.write_text("- effective_from: 2024-01-01\n  source: x\n  levels: [commune]\n  level_names: {}\n"
                              "  authority: {commune: [giay-khen]}\n  quorum: '3/4'\n  default_form: {}\n")
    version = load_policy(three_quarters, catalog).in_force(D("2024-03-01"))
    c = case()
    c.appraise(passed=True, appraiser="p", note="n", business_date=D("2024-03-01"))
    error = refused("no-quorum", lambda: c.record_session(policy=version, session="s", members=9, present=6,
                                                          in_favour=6, against=0, blank=0,
                                                          business_date=D("2024-03-01")), c)
    assert "ba phần tư" in error.message and "(7 người" in error.message and "hai phần ba" not in error.message
    assert version.has_quorum(9, 7) and not version.has_quorum(9, 6)


@pytest.mark.parametrize(("share", "words"), [("2/3", "hai phần ba"), ("1/2", "một nửa"), ("3/4", "ba phần tư"),
                                               ("3/5", "ba phần năm"), ("1", "toàn bộ"), ("11/20", "11/20")])
def test_a_share_in_words(share, words):
    assert fraction_vi(share) == words


def test_a_decision_needs_the_threshold(policy):
    c = voted(form="chien-si-thi-dua-co-so", members=10, present=9, in_favour=8, policy=policy)
    assert c.approved is False
    error = refused("threshold-not-reached", lambda: decide(c, policy, "2024-03-02"), c)
    assert "9/10" in error.message


def test_consultation_window_and_objections_block_the_decision(policy):
    c = voted(form="chien-si-thi-dua-tinh", level="province", members=10, present=10, in_favour=10, policy=policy)
    refused("consultation-required", lambda: decide(c, policy, "2024-03-02"), c)
    closes = c.open_consultation(policy=policy.in_force(D("2024-03-02")), business_date=D("2024-03-02"))
    assert closes == D("2024-03-09")
    refused("consultation-open", lambda: decide(c, policy, "2024-03-05"), c)
    objection = c.record_objection(submitted_by="Công dân", content="Đề nghị xác minh", business_date=D("2024-03-04"))
    refused("objection-open", lambda: decide(c, policy, "2024-03-10"), c)
    c.resolve_objection(objection_id=objection, resolution="Đã xác minh, không đúng", upheld=False,
                        business_date=D("2024-03-08"))
    decide(c, policy, "2024-03-10")
    assert c.status == "decided"


def test_the_rules_in_force_on_the_decision_date_apply(policy):
    """The same commune case for Chiến sĩ thi đua cơ sở, decided before and after 2025-07-01."""
    before = voted(form="chien-si-thi-dua-co-so", level="commune", on="2025-06-20", policy=policy)
    error = refused("outside-authority", lambda: decide(before, policy, "2025-06-25"), before)
    assert "cấp xã" in error.message
    after = voted(form="chien-si-thi-dua-co-so", level="commune", on="2025-06-20", policy=policy)
    decide(after, policy, "2025-07-02")
    assert after.status == "decided"
    district = voted(form="giay-khen", level="district", on="2025-06-20", policy=policy)
    refused("level-abolished", lambda: decide(district, policy, "2025-07-02"), district)
    decide(district, policy, "2025-06-30")


def test_nothing_after_a_case_is_closed(policy):
    c = case()
    c.appraise(passed=False, appraiser="Phòng Nội vụ", note="Thiếu minh chứng", business_date=D("2024-03-01"))
    assert c.status == "returned"
    refused("case-closed", lambda: c.reject(reason="x", business_date=D("2024-03-02")), c)
