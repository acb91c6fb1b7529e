"""Notification templates: one per wire event type and locale, each rendering every payload.

The event types come from the domain models, and every sample event is built from its
event class and sent through the relay's own describe/wire functions: a new event type
or payload key without a template or a sample fails here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import uuid

import jinja2
import pytest

from awards.domainmodel import Award, Case
from nominations.domainmodel import event_types as exemplar_event_types
from notifications.rendering import DEFAULT_DIR, LOCALES, MissingTemplate, Renderer
from shared.contracts.wire_events import fanned_out, payload_refusal
from shared.wire import WireEvent, describe_event, wire_event


def wire_event_types() -> dict[str, type]:
    """Wire type -> event class, for every event of an exemplar, a case and an award."""
    found = dict(exemplar_event_types())
    for aggregate in (Case, Award):
        found |= {value.wire_type: value for value in vars(aggregate).values()
                  if isinstance(value, type) and issubclass(value, aggregate.Event) and value.wire_type}
    return found


EVENT_TYPES = wire_event_types()
assert set(EVENT_TYPES) == fanned_out(), "the wire registry and the aggregates' events disagree (test_wire_registry)"
VIETNAMESE = re.compile("[ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]", re.IGNORECASE)
EXEMPLAR_ID = "a5eb88f3-b6e1-4fd2-8681-a4c5807a24bc"
BUSINESS_DATE = dt.date(2018, 10, 12)
DATE_SHOWN = {"vi": "12/10/2018", "en": "2018-10-12"}
SUBJECT = {"subject_kind": "household", "name": "Hộ ông Hoàng Văn Thắng", "field": "household-economy",
           "unit": "xã Đồng Tâm", "department": "hoi-nong-dan-yen-the"}
ELIGIBLE = {"eligible": True, "problems": [], "prerequisite_award_ids": []}
NOT_ELIGIBLE = {"eligible": False, "prerequisite_award_ids": [], "problems": [{
    "rule": "on-hold",
    "message": "Điển hình đang tạm dừng xét (kỷ luật, điều tra hoặc khiếu nại); chưa thể quyết định khen thưởng."}]}

SAMPLES = {  # event field -> a realistic value (the Yên Thế 2018 plan)
    "originator_topic": "sample", "originator_version": 7, "business_date": BUSINESS_DATE,
    "timestamp": dt.datetime(2018, 10, 12, 9, 30, tzinfo=dt.timezone.utc),
    **SUBJECT, "subject": SUBJECT, "exemplar_id": EXEMPLAR_ID,
    "movement": "farmers-good-business",
    "achievements": ["Trang trại gà đồi 5.000 con", "Thu nhập 800 triệu đồng/năm"],
    "subject_id": "9a0c4e7b-1d2f-5a3c-8b6e-4f1d2c3b5a69",
    "responsible_unit": "Hội Nông dân huyện Yên Thế",
    "milestones": [{"name": "Mở rộng đàn gà", "due": dt.date(2018, 9, 30)},
                   {"name": "Xây dựng nhãn hiệu gà đồi Yên Thế", "due": dt.date(2018, 12, 15)}],
    "note": "Hoàn thành chuồng trại", "milestone": "Mở rộng đàn gà",
    "checked_by": "Hội Nông dân huyện Yên Thế", "finding": "Đạt tiến độ", "on_track": True,
    "review_kind": "interim", "passed": True, "summary": "Đạt các tiêu chí của hộ kinh tế giỏi",
    "general_criteria": [{"criterion": "Chấp hành tốt chủ trương, chính sách, pháp luật", "met": True}],
    "field_criteria": [{"criterion": "Thu nhập gấp 3 lần bình quân của xã", "met": True}],
    "meeting": "Chi hội Nông dân thôn Mỏ Sắt", "members": 45, "present": 40, "in_favour": 38, "against": 1,
    "abstained": 1, "endorsed": True,
    "award_form": "giay-khen", "dossier_refs": ["Tờ trình 45/TTr-HND"], "achievement": "Hộ kinh tế giỏi năm 2018",
    "council_level": "district", "jurisdiction": "huyen-yen-the",
    "case_id": "3f2c9e41-7b1d-4c55-9a2e-0d6b8f1e2a77", "step": "returned", "reason": "Thiếu minh chứng về thu nhập",
    "award_id": "c81d4e2a-5f3b-4a6c-8e9d-1b2c3d4e5f60", "decision_number": "2156/QĐ-UBND",
    "signer": "Chủ tịch UBND huyện Yên Thế", "ground": "d",
    "channel": "Đài Truyền thanh huyện", "audience": "Toàn huyện", "reference": "Bản tin Nông thôn mới số 10/2018",
    "adoption_id": "A1", "adopting_unit": "Hội Nông dân xã Tam Tiến", "method": "Tham quan, học tập",
    "outcome": "12 hộ áp dụng mô hình", "successful": True,
    "year": 2018, "rating": "excellent", "score": 92, "previous_score": 88,
    "award_year": 2018, "initiative_id": "I1", "title": "Quy trình nuôi gà đồi an toàn sinh học", "kind": "initiative",
    "scope": "co-so", "recognised_by": "Hội đồng sáng kiến huyện Yên Thế",
    "hold_id": "H9", "hold_kind": "complaint", "resolution": "Đã giải quyết, đơn không có cơ sở",
    "nomination": {"award_form": "giay-khen", "achievement": "Hộ kinh tế giỏi năm 2018",
                   "dossier_refs": ["Tờ trình 45/TTr-HND"], "nominated_on": "2018-10-02",
                   "source_instance": "nominations-hoi-nong-dan-yen-the"},
    "forwarded_from": "awards_huyen_yen_the", "eligibility": ELIGIBLE,
    "to_level": "province", "to_jurisdiction": "tinh-bac-giang",
    "appraiser": "Phòng Nội vụ huyện Yên Thế", "rule": "appraisal-returned", "session": "Phiên họp tháng 10/2018",
    "blank": 0, "approved": True, "days": 7, "closes_on": dt.date(2018, 10, 19),
    "objection_id": "O1", "submitted_by": "Nguyễn Văn An", "content": "Thu nhập kê khai cao hơn thực tế",
    "upheld": False, "prerequisite_award_ids": [], "revoked_award_id": "9e8d7c6b-5a49-4838-a726-15f4e3d2c1b0",
}
SAMPLE_OVERRIDES = {
    "exemplar.put_on_hold": {"reason": "Đơn khiếu nại về thành tích kinh tế của hộ"},
    "exemplar.withdrawn": {"reason": "Hộ chuyển nơi cư trú"},
    "exemplar.year_evaluated": {"note": "Đánh giá cuối năm 2018"},
    "exemplar.award_revoked": {"reason": "Thành tích kê khai không đúng thực tế"},
    "award.revoked": {"reason": "Thành tích kê khai không đúng thực tế", "decision_number": "7/QĐ-UBND"},
    "case.forwarded": {"reason": "«bang-khen-tinh» vượt thẩm quyền cấp huyện", "nomination": {
        **SAMPLES["nomination"], "award_form": "bang-khen-tinh"}},
    "case.appraised": {"note": "Hồ sơ đầy đủ"},
    "exemplar.initiative_recognised": {"reference": "15/QĐ-HĐSK"},
    "exemplar.roster_recorded": {"members": [
        {"name": "Nguyễn Văn Bình", "title": "lao-dong-tien-tien", "rating": "good", "discipline": "none"},
        {"name": "Trần Thị Hoa", "title": None, "rating": "complete", "discipline": "reprimand"}]},
}
ALTERNATIVES = {  # other values a template branches on
    "step": ["opened", "forwarded", "rejected"], "review_kind": ["final"], "eligibility": [NOT_ELIGIBLE],
    "note": [""], "milestone": [""], "reference": [""], "kind": ["research"], "scope": ["tinh", "toan-quoc"],
    "rating": ["complete", "fair"],
}


def sample_event(event_type: str, **overrides) -> WireEvent:
    """The wire event the relay would send for a stored event of this type."""
    event_class = EVENT_TYPES[event_type]
    names = [field.name for field in dataclasses.fields(event_class)]
    values = SAMPLES | SAMPLE_OVERRIDES.get(event_type, {}) | overrides
    values["originator_id"] = uuid.UUID(EXEMPLAR_ID) if event_type.startswith("exemplar.") else uuid.uuid5(
        uuid.NAMESPACE_URL, event_type)
    missing = [name for name in names if name not in values]
    assert not missing, f"add sample values for {event_type}: {missing}"
    event = event_class(**{name: values[name] for name in names})
    return wire_event(describe_event(event), source=event_class.__module__.split(".")[0],
                      instance="nominations-hoi-nong-dan-yen-the", notification_id=42)


def variants(event_type: str) -> list[dict]:
    """The sample, then one change per branch: a flipped yes/no, a missing optional, an alternative."""
    found = [{}]
    for field in dataclasses.fields(EVENT_TYPES[event_type]):
        if field.type == "bool":
            found.append({field.name: not SAMPLES[field.name]})
        elif field.type.endswith("| None"):
            found.append({field.name: None})
        found += [{field.name: value} for value in ALTERNATIVES.get(field.name, [])]
    return found


CASES = [(event_type, change) for event_type in sorted(EVENT_TYPES) for change in variants(event_type)]


@pytest.fixture(scope="module")
def renderer(catalog):
    return Renderer(catalog)


@pytest.mark.parametrize(("event_type", "change"), CASES,
                         ids=[f"{t}{''.join(f'-{k}={v!r}'[:30] for k, v in c.items())}" for t, c in CASES])
def test_every_template_renders_in_both_locales(renderer, event_type, change):
    event = sample_event(event_type, **change)
    assert payload_refusal(event.type, event.payload) is None  # what the relay sends is in the contract's shape
    messages = {locale: renderer.render(event, locale) for locale in LOCALES}
    for locale, message in messages.items():
        assert message.locale == locale
        assert message.subject.strip() and "\n" not in message.subject
        assert DATE_SHOWN[locale] in message.body
        assert EXEMPLAR_ID[:8] in message.body  # which exemplar
        for text in (message.subject, message.body):
            assert "{{" not in text and "{%" not in text and "None" not in text
    vi, en = messages["vi"], messages["en"]
    assert VIETNAMESE.search(vi.subject) and VIETNAMESE.search(vi.body)
    assert en.subject != vi.subject and en.body != vi.body


def literal_text(template_source: str) -> str:
    """A template's own words, without its expressions, tags and comments."""
    return re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "", template_source, flags=re.DOTALL)


def test_one_template_per_event_type_and_locale_and_no_orphans():
    assert {path.name for path in DEFAULT_DIR.iterdir() if path.is_dir()} == set(LOCALES)
    for locale in LOCALES:
        paths = sorted((DEFAULT_DIR / locale).glob("*.j2"))
        assert {path.stem for path in paths} == set(EVENT_TYPES), locale
        for path in paths:  # Vietnamese templates are written in Vietnamese, English ones are not
            assert bool(VIETNAMESE.search(literal_text(path.read_text(encoding="utf-8")))) == (locale == "vi"), path


def test_awarded_shows_catalog_names_decision_and_council(renderer):
    event = sample_event("exemplar.awarded")
    vi = renderer.render(event, "vi")
    assert vi.subject == "Điển hình tiên tiến mã a5eb88f3 được khen thưởng: Giấy khen"
    for fact in ("Quyết định khen thưởng số 2156/QĐ-UBND", "12/10/2018", "Chủ tịch UBND huyện Yên Thế",
                 "Hình thức khen thưởng: Giấy khen", "Hội đồng Thi đua – Khen thưởng cấp huyện"):
        assert fact in vi.body
    assert "giay-khen" not in vi.body
    en = renderer.render(event, "en")
    assert "Award form: Giấy khen" in en.body and "district level" in en.body


def test_unknown_award_form_shows_its_code(renderer):
    assert "bang-khen-moi" in renderer.render(sample_event("exemplar.awarded", award_form="bang-khen-moi")).body


def test_session_shows_the_tally_only(renderer):
    body = renderer.render(sample_event("case.session_recorded"), "vi").body
    assert "đồng ý 38, không đồng ý 1, phiếu trắng 0" in body


def test_objection_does_not_name_who_submitted_it(renderer):
    event = sample_event("case.objection_recorded")
    assert all(SAMPLES["submitted_by"] not in renderer.render(event, locale).body for locale in LOCALES)


def test_unknown_locale_falls_back_to_vietnamese(renderer):
    event = sample_event("exemplar.awarded")
    assert renderer.render(event, "fr") == renderer.render(event, "vi")
    assert renderer.render(event, "fr").locale == "vi"


def test_recipient_is_greeted(renderer):
    event = sample_event("exemplar.awarded")
    assert renderer.render(event, "vi", "Hội Nông dân tỉnh Bắc Giang").body.startswith(
        "Kính gửi: Hội Nông dân tỉnh Bắc Giang\n\nTheo Quyết định")
    assert renderer.render(event, "en", "Bac Giang Farmers' Union").body.startswith("Dear Bac Giang Farmers' Union,")


def test_a_type_without_template_is_a_clear_error(catalog, renderer, tmp_path):
    unknown = sample_event("exemplar.awarded").model_copy(update={"type": "exemplar.teleported"})
    with pytest.raises(MissingTemplate, match=r"'exemplar\.teleported' in locale 'vi'"):
        renderer.render(unknown)
    for locale in LOCALES:
        (tmp_path / locale).mkdir()
    shutil.copy(DEFAULT_DIR / "vi" / "exemplar.awarded.j2", tmp_path / "vi")
    partial = Renderer(catalog, tmp_path)
    assert partial.render(sample_event("exemplar.awarded"), "vi").subject
    with pytest.raises(MissingTemplate, match=r"'exemplar\.awarded' in locale 'en'"):
        partial.render(sample_event("exemplar.awarded"), "en")


def test_a_payload_key_that_does_not_exist_fails(catalog, tmp_path):
    for locale in LOCALES:
        (tmp_path / locale).mkdir()
    (tmp_path / "vi" / "exemplar.awarded.j2").write_text(
        "{% block subject %}{{ p.award_name }}{% endblock %}{% block body %}x{% endblock %}", encoding="utf-8")
    with pytest.raises(jinja2.UndefinedError, match="award_name"):
        Renderer(catalog, tmp_path).render(sample_event("exemplar.awarded"))


def test_the_exemplar_is_named_when_known_and_a_digest_lists_the_days_messages(catalog):
    import datetime as dt
    import uuid

    from notifications.rendering import Renderer
    from shared.wire import WireEvent

    renderer = Renderer(catalog)
    awarded = WireEvent(type="exemplar.awarded", source="nominations", instance="n", notification_id=1,
                        aggregate_id=uuid.uuid4(), aggregate_version=9, business_date=dt.date(2018, 10, 12),
                        payload={"award_id": "a", "award_form": "giay-khen", "decision_number": "2156/QĐ-UBND",
                                 "signer": "Chủ tịch UBND huyện Yên Thế", "council_level": "district",
                                 "jurisdiction": "huyen-yen-the"})
    named = renderer.render(awarded, "vi", exemplar_name="Hộ ông Hoàng Văn Thắng")
    assert "«Hộ ông Hoàng Văn Thắng»" in named.subject and str(awarded.aggregate_id)[:8] in named.subject
    digest = renderer.render_digest("2018-10-13", [named, renderer.render(awarded, "vi")], "vi")
    assert digest.subject == "Bản tin thông báo ngày 13/10/2018 (2 thông báo)"
    assert digest.body.count("•") == 2
