"""The nominations application on the in-memory store: input, catalogs, history, versions."""

import json
import uuid

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from conftest import LIFECYCLE, STEPS, detect_data
from nominations.application import SNAPSHOT_INTERVAL, NominationsApplication
from nominations.domainmodel import Exemplar
from shared.errors import ConcurrentChange, InvalidInput, NotFound, RuleViolation


def run_lifecycle(app, until=None):
    exemplar_id = app.detect(detect_data())["id"]
    for step in LIFECYCLE:
        if step == until:
            break
        app.change(exemplar_id, step, STEPS[step])
    return exemplar_id


def test_history_reads_in_order_with_business_date_and_recorded_time(memory_app):
    exemplar_id = run_lifecycle(memory_app)
    history = memory_app.history(exemplar_id)
    assert [h["type"] for h in history] == [
        "exemplar.detected", "exemplar.nurture_planned", "exemplar.progress_recorded", "exemplar.reviewed",
        "exemplar.endorsed", "exemplar.nominated", "exemplar.publicized", "exemplar.adoption_started",
    ]
    assert [h["version"] for h in history] == list(range(1, 9))
    assert history[0]["business_date"] == "2018-04-16" and history[0]["recorded_at"]
    assert history[0]["payload"]["department"] == "hoi-nong-dan-yen-the"


@pytest.mark.parametrize("field,value", [
    ("field", "astrology"), ("movement", "no-such-movement"), ("subject_kind", "alien"),
])
def test_unknown_catalog_codes_are_invalid_input_naming_the_field(memory_app, field, value):
    with pytest.raises(InvalidInput) as caught:
        memory_app.detect(detect_data(**{field: value}))
    assert caught.value.detail == field and "danh mục" in caught.value.message


def test_movement_must_run_in_the_business_year(memory_app):
    with pytest.raises(InvalidInput) as caught:
        memory_app.detect(detect_data(movement="vietnamese-enterprises"))  # 2022-2030, detected 2018
    assert caught.value.detail == "movement"


@pytest.mark.parametrize("data,field", [
    ({"business_date": "2018-13-45"}, "business_date"),
    ({"achievements": []}, "achievements"),
    ({"name": "   "}, "name"),
    ({"colour": "red"}, "colour"),
])
def test_malformed_input_names_the_field(memory_app, data, field):
    with pytest.raises(InvalidInput) as caught:
        memory_app.detect(detect_data(**data))
    assert caught.value.detail == field


def test_refused_command_stores_nothing(memory_app):
    exemplar_id = run_lifecycle(memory_app, until="review")
    before = memory_app.history(exemplar_id)
    with pytest.raises(RuleViolation):
        memory_app.change(exemplar_id, "nominate", STEPS["nominate"])
    with pytest.raises(InvalidInput):
        memory_app.change(exemplar_id, "nominate", {"award_form": "bang-khen-mat-trang", "dossier_refs": ["x"],
                                                    "achievement": "x", "business_date": "2018-10-02"})
    assert memory_app.history(exemplar_id) == before


def test_unknown_exemplar_and_bad_id(memory_app):
    with pytest.raises(NotFound):
        memory_app.history(str(uuid.uuid4()))
    with pytest.raises(InvalidInput) as caught:
        memory_app.summary("not-a-uuid")
    assert caught.value.detail == "id"


def test_unknown_command_is_invalid_input(memory_app):
    exemplar_id = run_lifecycle(memory_app, until="plan_nurture")
    with pytest.raises(InvalidInput) as caught:
        memory_app.change(exemplar_id, "delete_everything", {"business_date": "2018-05-01"})
    assert caught.value.detail == "command"


def test_stale_expected_version_is_a_conflict_and_stores_nothing(memory_app):
    exemplar_id = run_lifecycle(memory_app, until="record_progress")
    with pytest.raises(ConcurrentChange):
        memory_app.change(exemplar_id, "record_progress", STEPS["record_progress"], expected_version=1)
    assert len(memory_app.history(exemplar_id)) == 2
    memory_app.change(exemplar_id, "record_progress", STEPS["record_progress"], expected_version=2)


def test_two_changes_from_the_same_version_one_wins_one_conflicts(memory_app):
    exemplar_id = run_lifecycle(memory_app, until="record_progress")
    first, second = memory_app.get_exemplar(exemplar_id), memory_app.get_exemplar(exemplar_id)
    first.record_progress(note="một", milestone="", business_date=first.detected_on)
    second.record_progress(note="hai", milestone="", business_date=second.detected_on)
    memory_app.save(first)
    with pytest.raises(IntegrityError):  # the store refuses the second writer of version 3
        memory_app.save(second)
    notes = [h["payload"].get("note") for h in memory_app.history(exemplar_id)]
    assert notes == [None, None, "một"]


def test_old_detected_event_shape_still_loads_through_its_upcaster(memory_app):
    """v1 of Detected stored achievements as one ';'-separated string."""
    exemplar_id = uuid.uuid4()
    v1_state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2018-04-16T08:00:00+00:00"},
        "originator_topic": "nominations.domainmodel:Exemplar",
        "business_date": {"_type_": "date_iso", "_data_": "2018-04-16"},
        "subject_kind": "household", "name": "Hộ ông A", "field": "household-economy",
        "movement": "farmers-good-business", "unit": "xã Đồng Tâm", "department": "hoi-nong-dan-yen-the",
        "achievements": "Gà đồi 6.000 con; Tạo việc làm cho 8 lao động",
    }
    memory_app.recorder.insert_events([StoredEvent(
        originator_id=exemplar_id, originator_version=1, topic="nominations.domainmodel:Exemplar.Detected",
        state=json.dumps(v1_state).encode(),
    )])
    exemplar = memory_app.get_exemplar(exemplar_id)
    assert exemplar.stage == "detected"
    history = memory_app.history(exemplar_id)
    assert history[0]["payload"]["achievements"] == ["Gà đồi 6.000 con", "Tạo việc làm cho 8 lao động"]
    memory_app.change(exemplar_id, "plan_nurture", STEPS["plan_nurture"])  # and it lives on
    assert Exemplar.Detected.class_version == 3
    assert history[0]["payload"]["subject_id"] == str(exemplar_id)  # v2 and before: a subject of its own


def test_long_histories_load_from_a_snapshot_to_the_same_state(catalog):
    app = NominationsApplication(catalog=catalog, department="d", env={})
    exemplar_id = run_lifecycle(app, until="review")
    for n in range(3 * SNAPSHOT_INTERVAL):
        app.change(exemplar_id, "record_progress", {"note": f"tiến độ {n}", "business_date": "2018-06-01"})
    snapshots = list(app.snapshots.get(uuid.UUID(exemplar_id)))
    assert snapshots and snapshots[-1].originator_version >= 3 * SNAPSHOT_INTERVAL
    from_snapshot = app.repository.get(uuid.UUID(exemplar_id))
    full = None
    for event in app.events.get(uuid.UUID(exemplar_id)):
        full = event.mutate(full)
    assert vars(from_snapshot) == vars(full)
    assert from_snapshot.progress_count == 3 * SNAPSHOT_INTERVAL + 1


def test_a_council_step_recorded_meanwhile_is_not_a_conflict_but_a_persons_change_is(memory_app):
    exemplar_id = run_lifecycle(memory_app, until="publicize")  # nominated at version 6
    exemplar = memory_app.get_exemplar(exemplar_id)
    exemplar.record_council_step(case_id="c", step="opened", council_level="district", jurisdiction="huyen-yen-the",
                                 reason="", business_date=exemplar.detected_on)
    memory_app.save(exemplar)
    # the officer read version 6; the council's step (7) does not make their command stale
    assert memory_app.change(exemplar_id, "publicize", STEPS["publicize"], expected_version=6)["version"] == 8
    with pytest.raises(ConcurrentChange):  # but a person's change since version 7 does
        memory_app.change(exemplar_id, "start_adoption", STEPS["start_adoption"], expected_version=7)


def cached_apps(catalog, tmp_path, count=2):
    """Copies of one instance on one log, each keeping exemplars in memory as the service does."""
    from nominations.bootstrap import aggregate_cache
    from shared.persistence import eventsourcing_env

    env = eventsourcing_env(f"sqlite:///{tmp_path}/nominations.sqlite") | aggregate_cache({"AGGREGATE_CACHE_SIZE": 100})
    return [NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the", env=env) for _ in range(count)]


def test_copies_with_cached_exemplars_each_judge_a_command_on_everything_stored(catalog, tmp_path):
    this, other = cached_apps(catalog, tmp_path)
    assert this.repository.cache is not None
    exemplar_id = run_lifecycle(this, until="record_progress")  # this copy holds version 2 in memory
    hold_id = other.change(exemplar_id, "put_on_hold", {"hold_kind": "complaint", "reason": "Đơn thư",
                                                         "business_date": "2018-05-02"})["result"]
    # This copy never saw the hold in its own commands, yet it releases it (its copy is brought up
    # to date from the log), and the other refuses to release it twice.
    release = {"hold_id": hold_id, "resolution": "Đã giải quyết", "business_date": "2018-05-20"}
    assert this.change(exemplar_id, "release_hold", release)["version"] == 4
    with pytest.raises(RuleViolation):
        other.change(exemplar_id, "release_hold", release)
    # Sequential commands through alternating copies are never a conflict.
    assert other.change(exemplar_id, "record_progress", STEPS["record_progress"])["version"] == 5
    assert this.change(exemplar_id, "record_progress", STEPS["record_progress"])["version"] == 6
    assert [h["version"] for h in other.history(exemplar_id)] == list(range(1, 7))


def test_a_sole_writer_starts_a_command_from_its_cache_without_reading_the_store(catalog, tmp_path):
    this, _ = cached_apps(catalog, tmp_path)
    this.writer.sole_writer = True
    exemplar_id = run_lifecycle(this, until="record_progress")
    reads = []
    select_events = this.recorder.select_events
    this.recorder.select_events = lambda *a, **kw: reads.append(a) or select_events(*a, **kw)
    assert this.change(exemplar_id, "record_progress", STEPS["record_progress"])["version"] == 3
    assert reads == []
    this.writer.sole_writer = False  # another copy came up: every command reads what was stored since
    assert this.change(exemplar_id, "record_progress", STEPS["record_progress"])["version"] == 4
    assert len(reads) == 1


def test_while_a_new_copy_is_not_yet_noticed_a_stale_cache_is_refused_never_stored(catalog, tmp_path):
    this, other = cached_apps(catalog, tmp_path)
    exemplar_id = run_lifecycle(this, until="record_progress")  # this copy caches version 2
    this.writer.sole_writer = True  # it has not yet noticed the other copy
    assert other.change(exemplar_id, "record_progress", STEPS["record_progress"])["version"] == 3
    with pytest.raises(ConcurrentChange):  # its cache cannot tell stale from concurrent: refused, to be retried
        this.change(exemplar_id, "record_progress", STEPS["record_progress"])
    assert [h["version"] for h in this.history(exemplar_id)] == [1, 2, 3]  # nothing stored on stale state
    assert not this.writer.sole_writer  # it reads the store first until the runtime sees it alone again
    assert this.change(exemplar_id, "record_progress", STEPS["record_progress"])["version"] == 4  # the retry
    this.writer.sole_writer = True
    assert other.change(exemplar_id, "record_progress", STEPS["record_progress"])["version"] == 5
    # The officer read version 5 through the other copy: a cache behind it reloads instead of refusing.
    assert this.change(exemplar_id, "record_progress", STEPS["record_progress"], expected_version=5)["version"] == 6


def test_a_councils_step_saved_meanwhile_costs_a_reload_not_the_cache(catalog, tmp_path):
    import datetime as dt

    from shared.wire import WireEvent

    this, _ = cached_apps(catalog, tmp_path)
    this.writer.sole_writer = True
    exemplar_id = run_lifecycle(this, until="record_progress")  # cached at version 2
    opened = WireEvent(type="case.opened", source="awards", instance="awards-huyen-yen-the", notification_id=1,
                       aggregate_id=uuid.uuid4(), aggregate_version=1, business_date=dt.date(2018, 10, 3),
                       payload={"exemplar_id": exemplar_id, "council_level": "district",
                                "jurisdiction": "huyen-yen-the"})
    assert this.record_council_outcome(opened) == "case.opened"  # saved in its handler's way: not cached
    assert this.change(exemplar_id, "record_progress", STEPS["record_progress"])["version"] == 4  # no conflict
    assert this.writer.sole_writer  # no person's change it had not made: still trusts its cache
