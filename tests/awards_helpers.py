"""Building wire events and councils for awards tests."""

import datetime as dt
import itertools
import uuid

from awards.application import AwardsApplication
from awards.policy import load_policy
from shared.catalog import load_catalog
from shared.persistence import eventsourcing_env
from shared.wire import WireEvent

_ids = itertools.count(1)
TOPOLOGY = load_catalog().topology  # the shipped councils.yaml
DISTRICT = TOPOLOGY.council("huyen-yen-the")  # 2018: district and province of Bắc Giang
PROVINCE = TOPOLOGY.council("tinh-bac-giang")
COMMUNE = TOPOLOGY.council("xa-dong-tam")
COMMUNE_2025 = TOPOLOGY.council("xa-yen-the")  # from 2025-07-01: commune and merged province
PROVINCE_2025 = TOPOLOGY.council("tinh-bac-ninh")


def council_app(catalog, url, council=DISTRICT):
    return AwardsApplication(catalog=catalog, policy=load_policy(catalog=catalog), council=council,
                             env=eventsourcing_env(url))


def subject(kind="household", name="Hộ ông Hoàng Văn Thắng"):
    return {"subject_kind": kind, "name": name, "field": "household-economy", "unit": "xã Đồng Tâm",
            "department": "hoi-nong-dan-yen-the"}


def nomination_event(*, award_form="giay-khen", on="2018-10-02", council=DISTRICT, exemplar_id=None,
                     achievement="Hộ kinh tế giỏi 2018", kind="household", instance="nominations-test") -> WireEvent:
    return WireEvent(
        type="exemplar.nominated", source="nominations", instance=instance, notification_id=next(_ids),
        aggregate_id=exemplar_id or uuid.uuid4(), aggregate_version=6, business_date=dt.date.fromisoformat(on),
        payload={"award_form": award_form, "dossier_refs": ["Tờ trình 45/TTr-HND"], "achievement": achievement,
                 "subject": subject(kind), "council_level": council.level, "jurisdiction": council.jurisdiction},
    )


def hold_event(exemplar_id, kind="exemplar.put_on_hold", instance="nominations-test") -> WireEvent:
    return WireEvent(type=kind, source="nominations", instance=instance, notification_id=next(_ids),
                     aggregate_id=exemplar_id, aggregate_version=9, business_date=dt.date(2018, 10, 5),
                     payload={"hold_id": "H9", "hold_kind": "complaint", "reason": "Đơn thư"})


def as_wire(described: dict, source: str, instance: str, notification_id: int) -> WireEvent:
    from shared.wire import wire_event

    return wire_event(described, source, instance, notification_id)


def published(app, instance: str, after: int = 0) -> list[WireEvent]:
    """What this app's relay would publish: its log as wire events."""
    from shared.wire import describe_event

    return [as_wire(describe_event(app.mapper.to_domain_event(n)), "awards", instance, n.id)
            for n in app.recorder.select_notifications(start=after + 1, limit=10_000)]


def case_id_of(app) -> str:
    return [e for e in published(app, "x") if e.type == "case.opened"][-1].aggregate_id.__str__()


SESSION = {"session": "Phiên họp 10/2018", "members": 9, "present": 8, "in_favour": 8, "against": 0, "blank": 0}


def decide_path(app, case_id, on="2018-10-20", number="123/QĐ-UBND"):
    app.change_case(case_id, "appraise", {"passed": True, "appraiser": "Phòng Nội vụ", "note": "Đủ hồ sơ",
                                          "business_date": on})
    app.change_case(case_id, "record_session", SESSION | {"business_date": on})
    return app.change_case(case_id, "decide", {"decision_number": number, "signer": "Chủ tịch UBND huyện",
                                               "business_date": on})
