"""An event a read model cannot apply is parked with its reason; the ones behind it go in.

Run on PostgreSQL as production does (it refuses text SQLite stores: over-long values,
NUL) and on SQLite. The events are stored straight into the log, as an older version of
the service, a bug or a hand-made import could have stored them: validation at the door
is another test's matter (the read model must not be wedged whatever got into the log).
"""

import datetime as dt

import pytest

from conftest import detect_data
from nominations.application import NominationsApplication
from nominations.domainmodel import Exemplar
from nominations.projections import ExemplarListProjection
from shared.persistence import eventsourcing_env
from shared.projection import read_model_versions

pytestmark = pytest.mark.integration


def stored_straight(app, **fields) -> str:
    """An exemplar detected and saved without the command's validation."""
    data = detect_data() | {"business_date": dt.date(2018, 4, 16)} | fields
    exemplar = Exemplar.detect(department=app.department, **data)
    app.save(exemplar)
    return str(exemplar.id)


def test_an_event_the_list_cannot_store_is_parked_and_the_list_still_answers(catalog, database_url):
    app = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the", env=eventsourcing_env(database_url))
    exemplars = ExemplarListProjection(app)
    before = app.detect(detect_data(name="Hộ ông Trước"))["id"]
    too_long = stored_straight(app, unit="Thôn " + "Mỏ Sắt " * 80)  # 565 characters: the column holds 500
    with_nul = stored_straight(app, name="Hộ ông\x00Nul")
    after = app.detect(detect_data(name="Hộ ông Sau"))["id"]

    listed = exemplars.list({})
    ids = {item["id"] for item in listed["items"]}
    assert {before, after} <= ids  # the events behind the bad ones are in
    parked = exemplars.parked()
    if app.recorder.datastore.engine.dialect.name == "postgresql":
        assert ids.isdisjoint({too_long, with_nul})
        assert parked["total"] == 2 and listed["parked_events"] == 2
        reasons = {item["aggregate_id"]: item["reason"] for item in parked["items"]}
        assert "too long" in reasons[too_long]
        assert "NUL" in reasons[with_nul]
        assert {item["event_type"] for item in parked["items"]} == {"exemplar.detected"}
    else:  # SQLite stores both as they are: nothing to park
        assert {too_long, with_nul} <= ids and parked["total"] == 0 and listed["parked_events"] == 0
    assert exemplars.catch_up() == 0  # parked, not retried on every read


class Picky(ExemplarListProjection):
    """A read model whose reduce() fails on one exemplar's events (a payload it does not understand)."""

    name = "read-model:picky-test"

    @staticmethod
    def reduce(row, event):
        if "Hỏng" in event["payload"].get("name", ""):
            raise KeyError("award_form")
        return ExemplarListProjection.reduce(row, event)


def test_an_event_reduce_cannot_understand_is_parked_too(catalog, database_url):
    app = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the", env=eventsourcing_env(database_url))
    ids = [app.detect(detect_data(name=name))["id"] for name in ("Hộ A", "Hộ Hỏng", "Hộ C")]
    picky = Picky(app)
    assert picky.catch_up() == 3
    assert {row["id"] for row in picky.dump()} == {ids[0], ids[2]}
    (item,) = picky.parked()["items"]
    assert item["aggregate_id"] == ids[1] and item["reason"] == "KeyError: 'award_form'"


def test_a_read_model_of_another_version_is_rebuilt_from_the_log_at_start(catalog, database_url):
    app = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the", env=eventsourcing_env(database_url))
    first = app.detect(detect_data(name="Hộ A"))["id"]
    ExemplarListProjection(app).catch_up()
    with app.recorder.datastore.engine.begin() as conn:  # a row the old version's reduce() got wrong
        conn.execute(ExemplarListProjection.table.update().values(stage="awarded"))

    class Next(ExemplarListProjection):
        version = ExemplarListProjection.version + 1

    rebuilt = Next(app)
    assert [(row["id"], row["stage"]) for row in rebuilt.dump()] == [(first, "detected")]
    with app.recorder.datastore.engine.connect() as conn:
        stored = conn.execute(read_model_versions.select()).mappings().all()
    assert {r["read_model"]: r["version"] for r in stored}[Next.name] == Next.version
    with app.recorder.datastore.engine.begin() as conn:
        conn.execute(ExemplarListProjection.table.update().values(stage="marker"))
    assert Next(app).dump()[0]["stage"] == "marker"  # the same version again: kept, not rebuilt
