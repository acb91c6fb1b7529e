"""The tables that cannot be rebuilt from the log, as main made them before Alembic (main of
2026-12-07, 5f84fd2: ``metadata.create_all`` at every start). A frozen copy, never imported from
the live code, so that a test built on it fails when a migration does not match what is really
out there. Never edit it to follow the models: add a migration instead.

``create(engine, era)`` makes a database as main of that era left it:

- ``"main"``: main of 2026-12-07 (checkpoints name their key);
- ``"before-key-ids"``: before 60a3783 (audit_checkpoints without key_id);
- ``"2026-11-24"``: before 26a9536 — deliveries still indexed by recipient, no key_id, and
  none of the tables added on 2026-12-07 (aggregate_sources, subject_awards, holds, award_marks).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Engine, Index, Integer, MetaData, String, Table, Text,
                        func)

ERAS = ("main", "before-key-ids", "2026-11-24")
ADDED_2026_12_07 = {"aggregate_sources", "subject_awards", "holds", "award_marks"}


def tables(era: str = "main") -> MetaData:
    metadata = MetaData()
    Table("log_positions", metadata,
          Column("follower", String(200), primary_key=True),
          Column("position", BigInteger, nullable=False))
    Table("handled_messages", metadata,
          Column("source_instance", String(200), primary_key=True),
          Column("notification_id", BigInteger, primary_key=True),
          Column("event_type", String(100), nullable=False),
          Column("handled_at", DateTime(timezone=True), server_default=func.now(), nullable=False))
    Table("aggregate_sources", metadata,
          Column("aggregate_id", String(36), primary_key=True),
          Column("source_instance", String(200), nullable=False))
    Table("audit_seals", metadata,
          Column("notification_id", BigInteger, primary_key=True),
          Column("seq", BigInteger, nullable=False),
          Column("originator_id", String(36), nullable=False),
          Column("originator_version", Integer, nullable=False),
          Column("event_hash", String(64), nullable=False),
          Column("chain_hash", String(64), nullable=False))
    Table("audit_checkpoints", metadata,
          Column("position", BigInteger, primary_key=True),
          Column("instance", String(200), nullable=False),
          Column("log", String(100), nullable=False),
          Column("count", BigInteger, nullable=False),
          Column("chain_hash", String(64), nullable=False),
          Column("sealed_at", String(40), nullable=False),
          Column("signature", String(200), nullable=False),
          *([Column("key_id", String(16), nullable=True)] if era == "main" else []))
    Table("notification_events", metadata,
          Column("event_key", String(300), primary_key=True),
          Column("event_type", String(100), nullable=False),
          Column("wire", Text, nullable=False))
    deliveries = Table(
        "deliveries", metadata,
        Column("delivery_id", String(36), primary_key=True),
        Column("event_key", String(300), nullable=False, index=True),
        Column("subscription_id", String(36), nullable=False),
        Column("recipient_id", String(200), nullable=False),
        Column("channel", String(20), nullable=False),
        Column("address", String(2000), nullable=False),
        Column("locale", String(5), nullable=False),
        Column("status", String(10), nullable=False, index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text),
        Column("not_before", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("sent_at", DateTime(timezone=True)))
    if era == "2026-11-24":
        Index("ix_deliveries_recipient_id", deliveries.c.recipient_id)
    Table("inbox", metadata,
          Column("delivery_id", String(36), primary_key=True),
          Column("recipient_id", String(200), nullable=False, index=True),
          Column("subject", String(500), nullable=False),
          Column("body", Text, nullable=False),
          Column("created_at", DateTime(timezone=True), nullable=False),
          Column("read", Boolean, nullable=False, default=False))
    Table("exemplar_facts", metadata,
          Column("exemplar_id", String(36), primary_key=True),
          Column("department", String(200), nullable=False),
          Column("field", String(100), nullable=False),
          Column("movement", String(100), nullable=False),
          Column("name", String(500), nullable=False))
    Table("awards_register", metadata,
          Column("award_id", String(36), primary_key=True),
          Column("exemplar_id", String(36), nullable=False, index=True),
          Column("subject_name", String(500), nullable=False),
          Column("subject_kind", String(50), nullable=False),
          Column("field", String(100), nullable=False, index=True),
          Column("unit", String(500), nullable=False),
          Column("department", String(200), nullable=False),
          Column("award_form", String(100), nullable=False, index=True),
          Column("year", Integer, nullable=False, index=True),
          Column("achievement", String(2000), nullable=False),
          Column("decision_number", String(100), nullable=False),
          Column("decision_date", String(10), nullable=False),
          Column("council_level", String(20), nullable=False),
          Column("jurisdiction", String(100), nullable=False),
          Column("prerequisite_award_ids", String(2000), nullable=False),
          Column("revoked", Boolean, nullable=False),
          Column("flagged", Boolean, nullable=False))
    Table("subject_awards", metadata,
          Column("award_id", String(36), primary_key=True),
          Column("subject_id", String(36), nullable=False, index=True))
    Table("exemplar_holds", metadata,
          Column("exemplar_id", String(36), primary_key=True),
          Column("open_holds", Integer, nullable=False))
    Table("holds", metadata,
          Column("exemplar_id", String(36), primary_key=True),
          Column("hold_id", String(100), primary_key=True),
          Column("released", Boolean, nullable=False))
    Table("award_marks", metadata,
          Column("award_id", String(36), primary_key=True),
          Column("revoked", Boolean, nullable=False),
          Column("flagged", Boolean, nullable=False))
    if era == "2026-11-24":
        for name in ADDED_2026_12_07:
            metadata.remove(metadata.tables[name])
    return metadata


def create(engine: Engine, era: str = "main") -> MetaData:
    metadata = tables(era)
    metadata.create_all(engine)
    return metadata


AT = dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.timezone.utc)


def rows(era: str = "main") -> dict[str, list[dict]]:
    """A few rows for every table of ``era``, as the services would have written them."""
    found = {
        "log_positions": [{"follower": "relay:nominations-hoi-nong-dan-yen-the", "position": 1234},
                          {"follower": "read-model:exemplar_summaries", "position": 1234}],
        "handled_messages": [{"source_instance": "awards_huyen_yen_the", "notification_id": n,
                              "event_type": "award.granted", "handled_at": AT} for n in (1, 2, 3)],
        "aggregate_sources": [{"aggregate_id": "5f2b6d0e-0000-4000-8000-000000000001",
                               "source_instance": "nominations-hoi-nong-dan-yen-the"}],
        "audit_seals": [{"notification_id": n, "seq": n, "originator_id": "5f2b6d0e-0000-4000-8000-000000000001",
                         "originator_version": n, "event_hash": f"{n:064x}", "chain_hash": f"{n + 100:064x}"}
                        for n in (1, 2)],
        "audit_checkpoints": [{"position": 2, "instance": "nominations-hoi-nong-dan-yen-the", "log": "Nominations",
                               "count": 2, "chain_hash": f"{102:064x}", "sealed_at": AT.isoformat(),
                               "signature": "c2lnbmVk"} | ({"key_id": "0123456789abcdef"} if era == "main" else {})],
        "notification_events": [{"event_key": "awards_huyen_yen_the/7", "event_type": "award.granted",
                                 "wire": '{"type": "award.granted"}'}],
        "deliveries": [{"delivery_id": f"d-{n}", "event_key": "awards_huyen_yen_the/7", "subscription_id": "s-1",
                        "recipient_id": "hoi-nong-dan-yen-the", "channel": "email", "address": "a@example.org",
                        "locale": "vi", "status": "sent", "attempts": 1, "last_error": None, "not_before": None,
                        "created_at": AT, "sent_at": AT} for n in (1, 2)],
        "inbox": [{"delivery_id": "d-1", "recipient_id": "hoi-nong-dan-yen-the", "subject": "Khen thưởng",
                   "body": "Giấy khen cho Hộ ông Hoàng Văn Thắng", "created_at": AT, "read": False}],
        "exemplar_facts": [{"exemplar_id": "5f2b6d0e-0000-4000-8000-000000000001",
                            "department": "hoi-nong-dan-yen-the", "field": "household-economy",
                            "movement": "farmers-good-business", "name": "Hộ ông Hoàng Văn Thắng"}],
        "awards_register": [{"award_id": "a-1", "exemplar_id": "5f2b6d0e-0000-4000-8000-000000000001",
                             "subject_name": "Hộ ông Hoàng Văn Thắng", "subject_kind": "household",
                             "field": "household-economy", "unit": "xã Đồng Tâm", "department": "hoi-nong-dan-yen-the",
                             "award_form": "giay-khen", "year": 2018, "achievement": "Hộ kinh tế giỏi 2018",
                             "decision_number": "12/QĐ-UBND", "decision_date": "2018-11-02",
                             "council_level": "district", "jurisdiction": "huyen-yen-the",
                             "prerequisite_award_ids": "[]", "revoked": False, "flagged": False}],
        "subject_awards": [{"award_id": "a-1", "subject_id": "subject-1"}],
        "exemplar_holds": [{"exemplar_id": "5f2b6d0e-0000-4000-8000-000000000001", "open_holds": 1}],
        "holds": [{"exemplar_id": "5f2b6d0e-0000-4000-8000-000000000001", "hold_id": "H1", "released": False}],
        "award_marks": [{"award_id": "a-2", "revoked": True, "flagged": False}],
    }
    return {name: found[name] for name in tables(era).tables}
