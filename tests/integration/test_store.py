"""The event store, read model and conflicts on a SQLite file and on PostgreSQL."""

import threading
import uuid

import pytest

from conftest import LIFECYCLE, STEPS, detect_data
from nominations.application import NominationsApplication
from nominations.projections import ExemplarListProjection
from shared.errors import ConcurrentChange, RuleViolation
from shared.persistence import eventsourcing_env

pytestmark = pytest.mark.integration


def open_app(catalog, url, department="hoi-nong-dan-yen-the"):
    return NominationsApplication(catalog=catalog, department=department, env=eventsourcing_env(url))


def populate(app) -> list[str]:
    """A varied log: full lifecycles, holds, a withdrawal, a failed review, two fields."""
    ids = []
    for n in range(6):
        exemplar_id = app.detect(detect_data(name=f"Hộ số {n}", field="household-economy" if n % 2 else "new-rural-areas"))["id"]
        for step in LIFECYCLE[: 2 + n]:
            app.change(exemplar_id, step, STEPS[step])
        ids.append(exemplar_id)
    hold = app.change(ids[0], "put_on_hold", {"hold_kind": "complaint", "reason": "Đơn thư", "business_date": "2018-05-01"})
    app.change(ids[1], "put_on_hold", {"hold_kind": "investigation", "reason": "Xác minh", "business_date": "2018-05-01"})
    app.change(ids[0], "release_hold", {"hold_id": hold["result"], "resolution": "Xong", "business_date": "2018-05-02"})
    app.change(ids[2], "withdraw", {"reason": "Chuyển công tác", "business_date": "2018-11-01"})
    return ids


def test_history_survives_reopening_the_store(catalog, database_url):
    app = open_app(catalog, database_url)
    ids = populate(app)
    expected = [app.history(i) for i in ids]
    reopened = open_app(catalog, database_url)
    assert [reopened.history(i) for i in ids] == expected
    assert reopened.summary(ids[2])["stage"] == "withdrawn"
    with pytest.raises(RuleViolation):
        reopened.change(ids[2], "record_progress", STEPS["record_progress"])
    assert reopened.history(ids[2]) == expected[2]


def test_read_model_filters_and_rebuilds_to_identical_content(catalog, database_url):
    app = open_app(catalog, database_url)
    ids = populate(app)
    projection = ExemplarListProjection(app)
    listed = projection.list({"field": "household-economy", "year": 2018})
    assert listed["total"] == 3 and all(item["field"] == "household-economy" for item in listed["items"])
    assert projection.list({"stage": "withdrawn"})["items"][0]["id"] == ids[2]
    on_hold = [row for row in projection.dump() if row["on_hold"]]
    assert [row["id"] for row in on_hold] == [ids[1]]
    assert projection.list({"department": "someone-else"})["total"] == 0

    live = projection.dump()
    assert projection.rebuild() == sum(len(app.history(i)) for i in ids)
    assert projection.dump() == live


def test_two_read_model_copies_apply_each_event_exactly_once(catalog, database_url):
    writer = open_app(catalog, database_url)
    copies = [ExemplarListProjection(open_app(catalog, database_url)) for _ in range(2)]
    ids = populate(writer)
    extra = [writer.change(ids[5], "start_adoption", STEPS["start_adoption"]) for _ in range(10)]
    errors = []

    def catch_up(projection):
        try:
            for _ in range(5):
                projection.catch_up()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=catch_up, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    row = next(r for r in copies[0].dump() if r["id"] == ids[5])
    assert row["adoptions"] == 1 + len(extra)  # an adoption applied twice would count more
    live = copies[0].dump()
    copies[1].rebuild()
    assert copies[1].dump() == live


def test_concurrent_changes_one_wins_the_other_is_told_and_nothing_is_lost(catalog, database_url):
    """Two writers (two application objects, as two processes would be) on one exemplar."""
    first, second = open_app(catalog, database_url), open_app(catalog, database_url)
    exemplar_id = first.detect(detect_data())["id"]
    first.change(exemplar_id, "plan_nurture", STEPS["plan_nurture"])
    outcomes = {"stored": [], "conflict": []}
    lock = threading.Lock()

    def write(app, label):
        for n in range(15):
            note = f"{label}-{n}"
            try:
                app.change(exemplar_id, "record_progress", {"note": note, "business_date": "2018-06-01"})
                kind = "stored"
            except ConcurrentChange:
                kind = "conflict"
            with lock:
                outcomes[kind].append(note)

    threads = [threading.Thread(target=write, args=(app, label)) for app, label in ((first, "a"), (second, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    notes = [h["payload"]["note"] for h in first.history(exemplar_id) if h["type"] == "exemplar.progress_recorded"]
    assert len(outcomes["stored"]) + len(outcomes["conflict"]) == 30
    assert sorted(notes) == sorted(outcomes["stored"])  # every stored change is there, once
    assert not set(notes) & set(outcomes["conflict"])  # no refused change slipped in


def test_a_stale_writer_gets_a_conflict(catalog, database_url):
    first, second = open_app(catalog, database_url), open_app(catalog, database_url)
    exemplar_id = first.detect(detect_data())["id"]
    stale = second.get_exemplar(exemplar_id)
    first.change(exemplar_id, "plan_nurture", STEPS["plan_nurture"])
    stale.plan_nurture(responsible_unit="Khác", milestones=[], business_date=stale.detected_on)
    from eventsourcing.persistence import IntegrityError

    with pytest.raises(IntegrityError):
        second.save(stale)
    assert [h["payload"].get("responsible_unit") for h in second.history(exemplar_id)][1] == "Hội Nông dân huyện"


def test_ten_thousand_events_load_from_a_snapshot(catalog, database_url):
    app = open_app(catalog, database_url)
    exemplar_id = app.detect(detect_data())["id"]
    app.change(exemplar_id, "plan_nurture", STEPS["plan_nurture"])
    exemplar = app.get_exemplar(exemplar_id)
    for chunk in range(20):  # 10,000 progress events, saved 500 at a time
        for n in range(500):
            exemplar.record_progress(note=f"{chunk}-{n}", milestone="", business_date=exemplar.detected_on)
        app.save(exemplar)
    app.take_snapshot(uuid.UUID(exemplar_id))
    loaded = app.get_exemplar(exemplar_id)
    assert loaded.version == 10_002 and loaded.progress_count == 10_000
    snapshot = list(app.snapshots.get(uuid.UUID(exemplar_id), desc=True, limit=1))[0]
    assert snapshot.originator_version == 10_002


def test_core_reads_return_what_the_librarys_orm_reads_return(catalog, database_url):
    from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder

    from shared.recorders import StoreApplicationRecorder

    app = open_app(catalog, database_url)
    ids = populate(app)
    recorder = app.recorder
    assert isinstance(recorder, StoreApplicationRecorder)

    def both(name, *args, **kwargs):
        fast = getattr(recorder, name)(*args, **kwargs)
        assert fast == getattr(SQLAlchemyApplicationRecorder, name)(recorder, *args, **kwargs)
        return fast

    exemplar = uuid.UUID(ids[5])
    assert len(both("select_events", exemplar)) == 8
    assert [e.originator_version for e in both("select_events", exemplar, gt=3, lte=6)] == [4, 5, 6]
    assert [e.originator_version for e in both("select_events", exemplar, desc=True, limit=2)] == [8, 7]
    assert both("select_events", uuid.uuid4()) == []
    every = both("select_notifications", start=None, limit=1000)
    assert [n.id for n in every] == sorted(n.id for n in every) and len(every) == 6 + sum(range(2, 8)) + 4
    assert [n.id for n in both("select_notifications", start=5, limit=3)] == [5, 6, 7]
    assert [n.id for n in both("select_notifications", start=5, limit=3, inclusive_of_start=False)] == [6, 7, 8]
    assert [n.id for n in both("select_notifications", start=1, limit=100, stop=4)] == [1, 2, 3, 4]
    assert len(both("select_notifications", start=3, limit=None)) == len(every) - 2
    detected = both("select_notifications", start=1, limit=100, topics=[every[0].topic])
    assert len(detected) == 6 and {n.topic for n in detected} == {every[0].topic}


def test_a_read_inside_a_transaction_sees_its_writes(catalog, database_url):
    app = open_app(catalog, database_url)
    exemplar_id = uuid.UUID(app.detect(detect_data())["id"])
    with pytest.raises(ZeroDivisionError):
        with app.recorder.transaction(commit=True):  # as a handler's handle_once, before its commit
            app.change(exemplar_id, "plan_nurture", STEPS["plan_nurture"])
            assert [e.originator_version for e in app.recorder.select_events(exemplar_id)] == [1, 2]
            assert len(app.recorder.select_notifications(start=1, limit=10)) == 2
            1 / 0  # the handler fails: its transaction rolls back
    assert [e.originator_version for e in app.recorder.select_events(exemplar_id)] == [1]
    assert len(app.recorder.select_notifications(start=1, limit=10)) == 1
