"""Group commit in the nominations application, on PostgreSQL: concurrent commands' saves share
one transaction, and a conflict still fails only the command that lost."""

import threading

from conftest import STEPS, detect_data
from nominations.application import NominationsApplication
from nominations.bootstrap import aggregate_cache
from shared.errors import ConcurrentChange
from shared.persistence import eventsourcing_env


def service_like_app(catalog, url):
    return NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the", group_commit=True,
                                  env=eventsourcing_env(url) | aggregate_cache({"AGGREGATE_CACHE_SIZE": 100}))


def at_once(calls):
    """Run the calls in threads released together; return each one's result or exception."""
    outcomes = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(n):
        start.wait()
        try:
            outcomes[n] = calls[n]()
        except Exception as exc:  # noqa: BLE001 - returned to the test
            outcomes[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_concurrent_commands_on_different_exemplars_are_all_stored(catalog, postgres_url):
    app = service_like_app(catalog, postgres_url)
    groups = []
    save_together = app.writer._save_together
    app.writer._group._many = lambda changes: groups.append(len(changes)) or save_together(changes)
    ids = [app.detect(detect_data(name=f"Hộ số {n}"))["id"] for n in range(20)]
    outcomes = at_once([lambda i=i: app.change(i, "plan_nurture", STEPS["plan_nurture"]) for i in ids])
    assert [o["version"] for o in outcomes] == [2] * 20
    assert all(len(app.history(i)) == 2 for i in ids)
    assert sum(groups) == 40 and max(groups) > 1  # some saves went together
    stored = app.recorder.select_notifications(start=1, limit=100)
    assert [n.id for n in stored] == list(range(1, 41))  # no gap, nothing twice


def test_two_concurrent_changes_to_one_exemplar_in_one_group_one_wins_one_conflicts(catalog, postgres_url):
    app = service_like_app(catalog, postgres_url)
    exemplar_id = app.detect(detect_data())["id"]
    app.change(exemplar_id, "plan_nurture", STEPS["plan_nurture"])  # cached by this process at version 2
    notes = ["Lần một", "Lần hai"]
    both_loaded = threading.Barrier(2, timeout=10)
    load = app.writer.load

    def load_then_wait(exemplar_id):  # each decides on version 2 before either saves
        exemplar = load(exemplar_id)
        if exemplar.version == 2:
            both_loaded.wait()
        return exemplar

    app.writer.load = load_then_wait
    outcomes = at_once([lambda note=note: app.change(exemplar_id, "record_progress",
                                                     STEPS["record_progress"] | {"note": note}) for note in notes])
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, ConcurrentChange)]
    assert len(won) == 1 and len(lost) == 1 and won[0]["version"] == 3
    history = app.history(exemplar_id)
    assert len(history) == 3 and history[-1]["payload"]["note"] in notes
    assert app.change(exemplar_id, "record_progress", STEPS["record_progress"])["version"] == 4  # and it goes on


def test_a_save_inside_a_handlers_transaction_stays_in_it(catalog, postgres_url):
    """Council events are recorded once: the event and its tracking row commit together, so
    the save must join the handler's transaction, never the group's."""
    import datetime as dt
    import uuid

    import pytest

    from shared.consumer import IdempotentConsumer
    from shared.wire import WireEvent

    app = service_like_app(catalog, postgres_url)
    exemplar_id = app.detect(detect_data())["id"]
    council_event = WireEvent(type="case.opened", source="awards", instance="awards-huyen-yen-the",
                              notification_id=1, aggregate_id=uuid.uuid4(), aggregate_version=1,
                              business_date=dt.date(2018, 10, 3), payload={"exemplar_id": exemplar_id})

    def save_then_fail():
        exemplar = app.get_exemplar(exemplar_id)
        exemplar.record_council_step(case_id="c", step="opened", council_level="district",
                                     jurisdiction="huyen-yen-the", reason="", business_date=exemplar.detected_on)
        app.writer.record(exemplar)
        raise RuntimeError("the handler failed after saving")

    consumer = IdempotentConsumer(app)
    with pytest.raises(RuntimeError):
        consumer.handle_once(council_event, save_then_fail)
    assert len(app.history(exemplar_id)) == 1  # rolled back with the handler's transaction
    handled, _ = consumer.handle_once(council_event, lambda: app.record_council_outcome(council_event))
    assert handled and [h["type"] for h in app.history(exemplar_id)][-1] != "exemplar.detected"


def test_two_concurrent_changes_started_from_the_cache_one_wins_one_conflicts(catalog, postgres_url):
    app = service_like_app(catalog, postgres_url)
    app.writer.sole_writer = True  # commands start from the cache: the store's version check decides
    exemplar_id = app.detect(detect_data())["id"]
    app.change(exemplar_id, "plan_nurture", STEPS["plan_nurture"])  # committed, so cached at version 2
    both_loaded = threading.Barrier(2, timeout=10)
    cached = app.writer._from_cache

    def cached_then_wait(exemplar_id):
        exemplar = cached(exemplar_id)
        if exemplar is not None and exemplar.version == 2:
            both_loaded.wait()
        return exemplar

    app.writer._from_cache = cached_then_wait
    outcomes = at_once([lambda note=note: app.change(exemplar_id, "record_progress",
                                                     STEPS["record_progress"] | {"note": note})
                        for note in ("Lần một", "Lần hai")])
    assert sorted(type(o).__name__ for o in outcomes) == ["ConcurrentChange", "dict"]
    assert [h["version"] for h in app.history(exemplar_id)] == [1, 2, 3]
