"""A log written before the applications took their present shape still loads, to the same state.

tests/fixtures/main_log/log.sqlite was written by the three applications (make.py beside it says
how); expected.json holds what each aggregate and each of its events loaded to then. Moving an
aggregate or event class, renaming an application or breaking an upcaster fails here: the
topics, table names and upcasters are what this log is read by. A retry of a command stored
in it still gets its first answer.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from pydantic_core import to_jsonable_python

from awards.application import AwardsApplication
from awards.policy import load_policy
from nominations.application import NominationsApplication
from notifications.application import NotificationsApplication
from notifications.outbound import AddressPolicy
from notifications.sealing import SecretBox
from shared.persistence import eventsourcing_env

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "main_log"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
FERNET_KEY = b"Zml4dHVyZS1rZXktZm9yLXdlYmhvb2stc2VjcmV0cyE="  # make.py's
OFFICER = {"sub": "can-bo-1", "role": "officer"}
SECRETARY = {"sub": "thu-ky-1", "role": "council-secretary"}


def state_of(aggregate) -> dict:
    return to_jsonable_python({k: v for k, v in vars(aggregate).items() if k != "_pending_events"})


def event_of(event) -> dict:
    return to_jsonable_python({"class": type(event).__qualname__} | vars(event))


@pytest.fixture
def apps(catalog, tmp_path):
    shutil.copy(FIXTURE / "log.sqlite", tmp_path / "log.sqlite")  # the committed file stays as it was
    env = eventsourcing_env(f"sqlite:///{tmp_path / 'log.sqlite'}")
    return {
        "nominations": NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the", env=env),
        "awards": AwardsApplication(catalog=catalog, policy=load_policy(catalog=catalog),
                                    council=catalog.topology.council("huyen-yen-the"), env=env),
        "notifications": NotificationsApplication(catalog, set(), env=env, secret_box=SecretBox([FERNET_KEY]),
                                                  addresses=AddressPolicy.parse("127.0.0.1")),
    }


@pytest.mark.parametrize("service", ["nominations", "awards", "notifications"])
def test_every_aggregate_and_event_of_the_stored_log_loads_as_it_did(apps, service):
    app, expected = apps[service], EXPECTED["aggregates"][service]
    stored = dict.fromkeys(str(n.originator_id) for n in app.recorder.select_notifications(start=1, limit=100_000))
    assert sorted(stored) == sorted(expected)
    for aggregate_id, was in expected.items():
        originator = uuid.UUID(aggregate_id)
        assert [event_of(e) for e in app.events.get(originator)] == was["events"], aggregate_id
        assert state_of(app.repository.get(originator)) == was["state"], aggregate_id
        assert (len(list(app.snapshots.get(originator))) if app.snapshots else 0) == was["snapshots"]


def test_the_log_covers_every_aggregate_type_snapshots_and_old_event_shapes():
    """What the fixture must hold for the test above to guard anything (make.py writes it)."""
    aggregates = EXPECTED["aggregates"]
    topics = {e["originator_topic"] for service in aggregates.values() for a in service.values()
              for e in a["events"] if "originator_topic" in e}
    assert topics == {"nominations.domainmodel:Exemplar", "awards.domainmodel:Case", "awards.domainmodel:Award",
                      "notifications.domainmodel:Subscription"}
    old = aggregates["nominations"][str(uuid.UUID(int=301))]
    assert old["snapshots"] == 1 and old["state"]["ratings"] == {"2018": "complete"}  # upcast "fair"
    assert old["events"][0]["achievements"] == ["Gà đồi 6.000 con", "Tạo việc làm cho 8 lao động"]
    assert old["events"][0]["subject_id"] == str(uuid.UUID(int=301))
    assert [e.get("award_year") for e in old["events"] if e["class"] == "Exemplar.Nominated"] == [2018]
    returned = aggregates["awards"][str(uuid.UUID(int=501))]["events"][-1]
    assert (returned["class"], returned["rule"]) == ("Case.Returned", "appraisal-returned")
    assert max(a["snapshots"] for a in aggregates["nominations"].values() if a["state"]["_version"] > 50) == 1


def test_retries_of_commands_stored_in_the_log_get_their_first_answers(apps):
    retries = EXPECTED["retries"]
    nominations, awards, notifications = apps["nominations"], apps["awards"], apps["notifications"]
    stored = {name: len(app.recorder.select_notifications(start=1, limit=100_000)) for name, app in apps.items()}
    detect = retries["nominations"]["detect"]
    assert nominations.detect(detect["data"], caller=OFFICER | {"idempotency_key": detect["key"]}) == {
        "id": detect["id"], "version": 1, "replayed": True}
    change = retries["nominations"]["change"]
    replayed = nominations.change(change["id"], change["command"], change["data"],
                                  caller=OFFICER | {"idempotency_key": change["key"]})
    assert replayed == {"id": change["id"], "version": 3, "result": None, "replayed": True}
    case = retries["awards"]["change_case"]
    replayed = awards.change_case(case["id"], case["command"], case["data"],
                                  caller=SECRETARY | {"idempotency_key": case["key"]})
    assert (replayed["id"], replayed["version"], replayed["replayed"]) == (case["id"], 2, True)
    revoke = retries["awards"]["revoke_award"]
    replayed = awards.revoke_award(revoke["id"], revoke["data"], caller=SECRETARY | {"idempotency_key": revoke["key"]})
    assert (replayed["id"], replayed["replayed"]) == (revoke["id"], True)
    subscribe = retries["notifications"]["subscribe"]
    replayed = notifications.subscribe(subscribe["data"], caller=OFFICER | {"idempotency_key": subscribe["key"]})
    assert replayed["replayed"] and replayed["version"] == 1
    preferences = retries["notifications"]["change_preferences"]
    assert notifications.change_preferences(preferences["id"], preferences["data"],
                                            caller=OFFICER | {"idempotency_key": preferences["key"]}) == {
        "id": preferences["id"], "version": 2, "replayed": True}
    assert {name: len(app.recorder.select_notifications(start=1, limit=100_000))
            for name, app in apps.items()} == stored  # a retry stores nothing

def test_an_exemplar_from_the_log_takes_the_next_command(apps):
    old = str(uuid.UUID(int=301))
    answer = apps["nominations"].change(old, "start_adoption", {"adopting_unit": "Hội Nông dân xã Tam Tiến",
                                                                "method": "Tham quan", "business_date": "2018-10-25"})
    assert answer["version"] == 14 and apps["nominations"].get_exemplar(old).stage == "replicating"
