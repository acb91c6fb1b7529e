"""Auditors' tools on real PostgreSQL: sealing, tampering named by verify, offline export,
replay into fresh tables, and what was known on a date."""

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest

from awards_helpers import case_id_of, council_app, decide_path, nomination_event
from conftest import PG_URL_BASE, STEPS, detect_data
from audit import toolkit as audit
from audit.annual_report import annual_report, report_csv, report_html
from nominations.projections import ExemplarListProjection
from shared.sealer import Sealer
from shared.signing import TrustedKeys, load_signer
from test_store import open_app, populate

pytestmark = pytest.mark.integration
INSTANCE = "nominations-audit-test"


@pytest.fixture
def sealed(catalog, postgres_url, tmp_path):
    """A populated nominations log on PostgreSQL, sealed and checkpointed, with its keys."""
    keys = tmp_path / "keys"
    app = open_app(catalog, postgres_url)
    ids = populate(app)
    projection = ExemplarListProjection(app)
    projection.catch_up()
    sealer = Sealer(app, load_signer(INSTANCE, keys_dir=keys))
    assert sealer.seal_pending(checkpoint=True) == app.recorder.max_notification_id()
    source = audit.LogSource("nominations", INSTANCE, postgres_url)
    return {"app": app, "ids": ids, "sealer": sealer, "source": source, "trusted": TrustedKeys(keys),
            "db": postgres_url[len(PG_URL_BASE):], "projection": projection}


def sql(database: str, statement: str, *params):
    conn = psycopg2.connect(PG_URL_BASE + database)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement, params)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


def test_an_untouched_log_verifies_and_the_tail_is_reported_until_sealed(sealed, catalog):
    report = audit.verify_source(sealed["source"], sealed["trusted"])
    assert report.ok and report.events == sealed["app"].recorder.max_notification_id()
    assert report.proven_up_to == report.events and report.unproven_tail == 0

    sealed["app"].change(sealed["ids"][3], "record_progress", STEPS["record_progress"])
    report = audit.verify_source(sealed["source"], sealed["trusted"])
    assert report.ok and report.unproven_tail == 1  # recorded after the last checkpoint: not yet proven
    sealed["sealer"].seal_pending(checkpoint=True)
    assert audit.verify_source(sealed["source"], sealed["trusted"]).unproven_tail == 0


def test_verify_names_each_edit_insertion_and_reordering(sealed):
    db, app = sealed["db"], sealed["app"]
    # a rolled-back append leaves a gap in the positions; sealed over, it must stay empty
    sql(db, "SELECT nextval(pg_get_serial_sequence('nominations_events', 'id'))")
    app.change(sealed["ids"][4], "record_progress", STEPS["record_progress"])
    sealed["sealer"].seal_pending(checkpoint=True)
    rows = sql(db, "SELECT id FROM nominations_events ORDER BY id")
    positions = [r[0] for r in rows]
    gap = next(p for p in range(1, positions[-1]) if p not in positions)
    edited, swapped_a, swapped_b = positions[5], positions[20], positions[21]
    assert audit.verify_source(sealed["source"], sealed["trusted"]).ok

    sql(db, "UPDATE nominations_events SET state = convert_to(replace(convert_from(state, 'UTF8'), '2018-', '2019-'), "
            "'UTF8') WHERE id = %s", edited)
    sql(db, "UPDATE nominations_events SET id = -1 WHERE id = %s", swapped_a)
    sql(db, "UPDATE nominations_events SET id = %s WHERE id = %s", swapped_a, swapped_b)
    sql(db, "UPDATE nominations_events SET id = %s WHERE id = -1", swapped_b)
    sql(db, "INSERT INTO nominations_events (id, originator_id, originator_version, topic, state) "
            "SELECT %s, '00000000-0000-4000-8000-000000000001', 1, topic, state FROM nominations_events "
            "WHERE id = %s", gap, positions[0])

    report = audit.verify_source(sealed["source"], sealed["trusted"])
    found = {(f.kind, f.notification_id) for f in report.findings}
    assert found >= {("changed", edited), ("reordered", swapped_a), ("reordered", swapped_b), ("inserted", gap)}
    assert {kind for kind, _ in found} == {"changed", "reordered", "inserted", "checkpoint-mismatch"}
    assert not report.ok and report.proven_up_to < min(edited, gap)


def test_a_deleted_event_is_named_and_altered_seals_break_the_signed_chain(sealed):
    db = sealed["db"]
    victim = sql(db, "SELECT id, originator_id::text, originator_version FROM nominations_events "
                     "ORDER BY id OFFSET 7 LIMIT 1")[0]
    sql(db, "DELETE FROM nominations_events WHERE id = %s", victim[0])
    report = audit.verify_source(sealed["source"], sealed["trusted"])
    removed = [f for f in report.findings if f.kind == "removed"]
    assert [(f.notification_id, f.originator_id, f.originator_version) for f in removed] == [victim]

    # covering the deletion by deleting its seal too: the signed chain still catches it
    sql(db, "DELETE FROM audit_seals WHERE notification_id = %s", victim[0])
    report = audit.verify_source(sealed["source"], sealed["trusted"])
    kinds = {f.kind for f in report.findings}
    assert {"checkpoint-mismatch", "seals-altered"} <= kinds


def test_a_checkpoint_signed_by_another_key_is_refused(sealed, tmp_path):
    forger = load_signer(INSTANCE, keys_dir=tmp_path / "forger")
    sql(sealed["db"], "UPDATE audit_checkpoints SET signature = %s", forger.sign(b"anything"))
    report = audit.verify_source(sealed["source"], sealed["trusted"])
    assert [f.kind for f in report.findings] == ["bad-signature", "unproven"] and report.proven_up_to == 0


def test_an_export_verifies_offline_and_tampering_the_bundle_is_named(sealed, tmp_path):
    bundle = tmp_path / "export.tar.gz"
    manifest = audit.export([sealed["source"]], bundle, sealed["trusted"])
    assert manifest["logs"][0]["events"] == sealed["app"].recorder.max_notification_id()
    assert manifest["logs"][0]["event_class_versions"]["nominations.domainmodel:Exemplar.Detected"] == 3
    # another machine: only the bundle and a copy of the public keys
    keys_copy = tmp_path / "auditor-keys"
    keys_copy.mkdir()
    (keys_copy / f"{INSTANCE}.pub").write_text(sealed["trusted"].pems()[INSTANCE])
    [report] = audit.verify_bundle(bundle, TrustedKeys(keys_copy))
    assert report.ok and report.proven_up_to == manifest["logs"][0]["events"]

    # change one event inside the bundle
    import tarfile
    unpacked = tmp_path / "unpacked"
    with tarfile.open(bundle) as tar:
        tar.extractall(unpacked, filter="data")
    log_file = unpacked / INSTANCE / "log.jsonl"
    lines = log_file.read_text(encoding="utf-8").splitlines()
    line = json.loads(lines[3])
    line["event"]["state"] = line["event"]["state"].replace("2018", "2019")
    lines[3] = json.dumps(line, ensure_ascii=False)
    log_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        for name in ("manifest.json", f"{INSTANCE}/checkpoints.jsonl", f"{INSTANCE}/log.jsonl"):
            tar.add(unpacked / name, arcname=name)
    [report] = audit.verify_bundle(tampered, TrustedKeys(keys_copy))
    assert ("changed", line["n"]) in {(f.kind, f.notification_id) for f in report.findings}


def test_replay_rebuilds_into_fresh_tables_and_reports_differences(sealed, tmp_path):
    [result] = audit.replay([sealed["source"]])
    assert result["events"] == sealed["app"].recorder.max_notification_id() and result["differences"] == []
    # a live read model edited by hand is reported, row and column
    sql(sealed["db"], "UPDATE exemplar_summaries SET stage = 'withdrawn' WHERE id = %s", sealed["ids"][5])
    [result] = audit.replay([sealed["source"]])
    assert result["differences"] == [{"key": sealed["ids"][5], "difference": "values differ",
                                      "columns": {"stage": {"live": "withdrawn", "replayed": "replicating"}}}]


def test_as_of_replays_to_a_recorded_time_or_a_business_date(sealed):
    exemplar_id = sealed["ids"][5]
    history = sealed["app"].history(exemplar_id)
    middle = history[3]
    by_time = audit.as_of([sealed["source"]], exemplar_id, audit.Cutoff.parse(middle["recorded_at"]))
    assert by_time["version"] == middle["version"]
    by_date = audit.as_of([sealed["source"]], exemplar_id, audit.Cutoff.parse("2018-06-30"))
    assert by_date["state"]["stage"] == "nurturing"  # planned 25/4, progress 28/6; reviewed only in September
    before = audit.as_of([sealed["source"]], exemplar_id, audit.Cutoff.parse("2018-01-01"))
    assert before["known"] is False
    register = list(audit.register_as_of([sealed["source"]], audit.Cutoff.parse("2018-06-30")))
    assert len(register) == 6 and {r["stage"] for r in register} <= {"detected", "nurturing"}


def test_annual_report_counts_by_field_stage_and_form_against_the_year_before(sealed, catalog):
    app = sealed["app"]
    for n in range(2):  # two exemplars of the previous year
        app.detect(detect_data(name=f"Hộ năm trước {n}", business_date="2017-05-02"))
    report = annual_report([sealed["source"]], 2018, audit.Cutoff(), catalog)
    by_field = {row["key"]: row for row in report["sections"]["field"]}
    assert by_field["household-economy"]["count"] == 3 and by_field["new-rural-areas"]["count"] == 3
    assert by_field["household-economy"]["previous"] == 2
    assert sum(r["count"] for r in report["sections"]["stage"]) == 6
    csv_text = report_csv(report)
    assert "Kinh tế hộ" in csv_text or "household-economy" in csv_text
    page = report_html(report)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "2018" in page
    # reproducible for a past date: as recorded before the 2017 exemplars were added
    earlier = annual_report([sealed["source"]], 2018, audit.Cutoff(
        recorded_at=dt.datetime.fromisoformat(app.history(sealed["ids"][5])[-1]["recorded_at"])), catalog)
    assert {r["key"]: r for r in earlier["sections"]["field"]}["household-economy"]["previous"] == 0


def test_annual_report_counts_awards_decided_in_the_year_less_revoked_against_the_year_before(
        sealed, catalog, tmp_path):
    url = f"sqlite:///{tmp_path / 'district.sqlite'}"
    district = council_app(catalog, url)

    def decided(on: str, number: str, kind: str = "household") -> str:
        district.receive(nomination_event(on=on, kind=kind))
        return decide_path(district, case_id_of(district), on=on, number=number)["result"]

    decided("2018-10-20", "123/QĐ-UBND")
    decided("2018-10-21", "124/QĐ-UBND", kind="individual")
    revoked = decided("2018-11-02", "125/QĐ-UBND")
    decided("2017-10-20", "88/QĐ-UBND")
    district.revoke_award(revoked, {"ground": "a", "reason": "Kê khai không trung thực",
                                    "decision_number": "7/QĐ-UBND", "business_date": "2018-12-01"})
    sources = [sealed["source"], audit.LogSource("awards", "awards_huyen_yen_the", url)]

    report = annual_report(sources, 2018, audit.Cutoff(), catalog)
    assert report["award_totals"] == {"count": 2, "previous": 1}  # the revoked one is not counted
    rows = {(r["award_form"], r["subject_kind"], r["unit"]): (r["count"], r["previous"]) for r in report["awards"]}
    assert rows == {("giay-khen", "household", "xã Đồng Tâm"): (1, 1),  # with the year before beside it
                    ("giay-khen", "individual", "xã Đồng Tâm"): (1, 0)}
    by_form = report["sections"]["awards_by_form"]
    assert [(r["key"], r["label"], r["count"], r["previous"]) for r in by_form] == [("giay-khen", "Giấy khen", 2, 1)]
    assert sum(r["count"] for r in report["sections"]["stage"]) == 6  # the exemplars, as before
    lines = list(csv.reader(io.StringIO(report_csv(report))))
    assert ["Khen thưởng đã quyết định, theo hình thức, đối tượng và đơn vị", "giay-khen/household",
            "Giấy khen · Hộ gia đình · xã Đồng Tâm", "1", "1", "0"] in lines
    assert lines[-1] == ["Tổng số khen thưởng đã quyết định", "", "", "2", "1", "1"]
    page = report_html(report)
    assert "Giấy khen" in page and "Hộ gia đình" in page and "Cá nhân" in page
    assert "giay-khen" not in page and "household" not in page  # catalog names, never codes
    assert json.loads(json.dumps(report, default=str))["award_totals"]["count"] == 2

    # as the registers stood before the revocation, it counts: reproducible for a past date
    before = annual_report(sources, 2018, audit.Cutoff.parse("2018-11-30"), catalog)
    assert before["award_totals"] == {"count": 3, "previous": 1}


@pytest.fixture
def read_only_url(sealed):
    """An auditor's credentials: SELECT on the service's tables, nothing else."""
    role = f"auditor_{uuid.uuid4().hex[:8]}"
    sql(sealed["db"], f"CREATE ROLE {role} LOGIN")
    sql(sealed["db"], f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    yield PG_URL_BASE.replace("root@", f"{role}@") + sealed["db"]
    sql(sealed["db"], f"DROP OWNED BY {role}")
    sql(sealed["db"], f"DROP ROLE {role}")


def test_the_audit_commands_work_with_read_only_credentials_and_log_their_use(sealed, read_only_url, tmp_path):
    exe = str(Path(sys.executable).with_name("exemplars"))
    audit_log = tmp_path / "audit.jsonl"
    source = f"nominations:{INSTANCE}={read_only_url}"

    def cli(*args):
        return subprocess.run([exe, "audit", *args, "--source", source], capture_output=True, text=True, timeout=120,
                              env=os.environ | {"AUDIT_LOG_FILE": str(audit_log), "COLUMNS": "200"})

    keys = str(sealed["trusted"].folder)
    verified = cli("verify", "--keys", keys)
    assert verified.returncode == 0, verified.stderr
    assert "nguyên vẹn" in verified.stdout and "sự kiện/giây" in verified.stderr
    page = tmp_path / "timeline.html"
    assert cli("timeline", sealed["ids"][5], "--format", "html", "--output", str(page)).returncode == 0
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>") and "exemplar.adoption_started" in (
        page.read_text(encoding="utf-8"))
    report = cli("report", "2018", "--format", "csv")
    assert report.returncode == 0 and report.stdout.startswith("Mục,Mã,Tên,Năm 2018,Năm 2017")
    replayed = cli("replay")
    assert replayed.returncode == 0 and "khớp" in replayed.stdout, replayed.stdout + replayed.stderr
    bundle = tmp_path / "bundle.tar.gz"
    assert cli("export", str(bundle), "--keys", keys).returncode == 0
    as_of = cli("as-of", sealed["ids"][5], "--at", "2018-06-30")
    assert json.loads(as_of.stdout)["state"]["stage"] == "nurturing"

    sql(sealed["db"], "DELETE FROM nominations_events WHERE id = 3")
    tampered = cli("verify", "--keys", keys)
    assert tampered.returncode == 6 and "vị trí 3: bị xóa" in tampered.stdout
    offline = subprocess.run([exe, "audit", "verify", "--bundle", str(bundle), "--keys", keys],
                             capture_output=True, text=True, timeout=120, env=os.environ | {"AUDIT_LOG_FILE": str(audit_log)})
    assert offline.returncode == 0, offline.stdout  # the export was taken before the deletion

    used = [json.loads(line)["command"] for line in audit_log.read_text(encoding="utf-8").splitlines()]
    assert used == ["verify", "timeline", "report", "replay", "export", "as-of", "verify", "verify"]


def test_old_event_versions_replay_through_upcasters_and_snapshots_change_no_answer(sealed):
    from eventsourcing.persistence import StoredEvent

    app, source = sealed["app"], sealed["source"]
    old_id = uuid.uuid4()
    v1_state = {  # Detected v1 kept achievements as one ';'-separated string
        "timestamp": {"_type_": "datetime_iso", "_data_": "2018-04-16T08:00:00+00:00"},
        "originator_topic": "nominations.domainmodel:Exemplar",
        "business_date": {"_type_": "date_iso", "_data_": "2018-04-16"},
        "subject_kind": "household", "name": "Hộ ông A", "field": "household-economy",
        "movement": "farmers-good-business", "unit": "xã Đồng Tâm", "department": "hoi-nong-dan-yen-the",
        "achievements": "Gà đồi 6.000 con; Tạo việc làm cho 8 lao động"}
    app.recorder.insert_events([StoredEvent(originator_id=old_id, originator_version=1,
                                            topic="nominations.domainmodel:Exemplar.Detected",
                                            state=json.dumps(v1_state).encode())])
    long_id = sealed["ids"][4]
    for n in range(120):  # past two snapshot intervals
        app.change(long_id, "record_progress", {"note": f"tiến độ {n}", "business_date": "2018-10-20"})
    assert list(app.snapshots.get(uuid.UUID(long_id)))
    sealed["projection"].catch_up()

    assert audit.as_of([source], str(old_id), audit.Cutoff())["state"]["stage"] == "detected"
    [detected] = audit.timeline([source], str(old_id))
    assert detected["payload"]["achievements"] == ["Gà đồi 6.000 con", "Tạo việc làm cho 8 lao động"]
    replayed = audit.as_of([source], long_id, audit.Cutoff())
    live = app.summary(long_id)  # loaded from a snapshot
    assert replayed["version"] == live["version"] and replayed["state"]["stage"] == live["stage"]
    [result] = audit.replay([source])
    assert result["differences"] == [] and result["events"] == app.recorder.max_notification_id()


def test_checkpoints_signed_before_a_rotation_and_before_keys_had_ids_still_verify(sealed, catalog, tmp_path):
    """A log sealed under a key and in a table made before keys had ids, then its key rotated:
    the new sealer adds the column (migration audit_0002), signs with the new key, and every checkpoint verifies;
    the retired key no longer vouches for anything after its retirement."""
    from shared.integrity import Checkpoint
    from shared.sealer import audit_checkpoints, checkpoint_of
    from shared.signing import rotate_key

    db, app, keys = sealed["db"], sealed["app"], tmp_path / "keys"
    old_key = sealed["sealer"].signer.current()  # kept: the file will hold the new key
    [row] = sql(db, "SELECT position, count, chain_hash, sealed_at FROM audit_checkpoints")
    legacy = Checkpoint(INSTANCE, "Nominations", row[0], row[1], row[2], row[3])  # signed the old way: no key id
    sql(db, "ALTER TABLE audit_checkpoints DROP COLUMN key_id")
    sql(db, "DROP TABLE alembic_version_audit")  # as a database made before migrations were recorded
    sql(db, "UPDATE audit_checkpoints SET signature = %s", old_key.sign(legacy.message()))

    rotated = rotate_key(INSTANCE, keys, grace_s=0)
    app.change(sealed["ids"][3], "record_progress", STEPS["record_progress"])
    sealer = Sealer(app, load_signer(INSTANCE, keys_dir=keys))  # the restarted instance: adds the column
    sealer.seal_pending(checkpoint=True)
    assert sql(db, "SELECT key_id FROM audit_checkpoints ORDER BY position") == [(None,), (rotated["new_key_id"],)]
    for trusted in (sealed["trusted"], TrustedKeys(keys)):  # a running verifier's (cache warm) and a fresh one
        report = audit.verify_source(sealed["source"], trusted)
        assert report.ok and report.checkpoints == 2 and report.proven_up_to == report.events

    # the retired key signing the newest checkpoint, after its retirement: refused and named
    with app.recorder.datastore.engine.connect() as conn:
        newest = checkpoint_of(conn.execute(audit_checkpoints.select().order_by(
            audit_checkpoints.c.position.desc()).limit(1)).first())
    later = (dt.datetime.fromisoformat(rotated["retired_at"]) + dt.timedelta(seconds=1)).isoformat()
    forged = Checkpoint(**{**newest.to_json(), "key_id": old_key.key_id, "sealed_at": later, "signature": ""})
    sql(db, "UPDATE audit_checkpoints SET key_id = %s, sealed_at = %s, signature = %s WHERE position = %s",
        old_key.key_id, later, old_key.sign(forged.message()), newest.position)
    report = audit.verify_source(sealed["source"], TrustedKeys(keys))
    assert [(f.kind, f.notification_id) for f in report.findings] == [("bad-signature", newest.position)]
    assert f"key {old_key.key_id}" in report.findings[0].detail


def test_the_sealer_refuses_to_bless_a_rewritten_tail(sealed):
    """Deleting the newest seals and checkpoints, then editing the events there: a running
    sealer notices what it made is gone and seals nothing more."""
    from shared.sealer import SealsRolledBack

    db, sealer = sealed["db"], sealed["sealer"]
    last = sql(db, "SELECT max(position) FROM audit_checkpoints")[0][0]
    sql(db, "DELETE FROM audit_checkpoints")
    sql(db, "DELETE FROM audit_seals WHERE notification_id > %s", last - 5)
    sql(db, "UPDATE nominations_events SET state = convert_to(replace(convert_from(state, 'UTF8'), '2018-', '2017-'), "
            "'UTF8') WHERE id = %s", last - 2)
    with pytest.raises(SealsRolledBack):
        sealer.seal_pending(checkpoint=True)
    assert sql(db, "SELECT count(*) FROM audit_checkpoints")[0][0] == 0
    report = audit.verify_source(sealed["source"], sealed["trusted"])
    assert not report.ok and "unproven" in {f.kind for f in report.findings}


def test_replay_refuses_a_service_database_as_its_scratch(sealed):
    from shared.errors import InvalidInput

    with pytest.raises(InvalidInput):
        audit.replay([sealed["source"]], scratch_url=sealed["source"].url)
    assert sealed["projection"].dump()  # the live read model is still there


def test_bad_ids_and_bad_bundles_are_refused_with_a_message_and_exit_2(sealed, tmp_path):
    from shared.errors import InvalidInput

    for call in (lambda: audit.timeline([sealed["source"]], "khong-phai-ma"),
                 lambda: audit.as_of([sealed["source"]], "khong-phai-ma", audit.Cutoff())):
        with pytest.raises(InvalidInput):
            call()
    not_a_bundle = tmp_path / "bundle.tar.gz"
    not_a_bundle.write_text("không phải gói xuất")
    done = subprocess.run([str(Path(sys.executable).with_name("exemplars")), "audit", "verify", "--bundle",
                           str(not_a_bundle), "--keys", str(tmp_path)], capture_output=True, text=True, timeout=60,
                          env=os.environ | {"AUDIT_LOG_FILE": str(tmp_path / "audit.jsonl")})
    assert done.returncode == 2 and "không phải gói xuất hợp lệ" in done.stderr, done.stderr
