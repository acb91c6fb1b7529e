"""The wire contract: versioned, and old versions keep parsing."""

import uuid

import pytest
from pydantic import ValidationError

from shared.wire import SCHEMA_VERSION, WireEvent


def v2_message() -> dict:
    return {
        "schema_version": 2, "type": "exemplar.nominated", "source": "nominations", "instance": "nominations-hnd",
        "notification_id": 42, "aggregate_id": str(uuid.uuid4()), "aggregate_version": 6,
        "business_date": "2018-10-02", "recorded_at": "2026-11-23T10:00:00+00:00",
        "payload": {"award_form": "giay-khen"},
    }


def test_round_trip_keeps_every_field():
    event = WireEvent.model_validate(v2_message())
    again = WireEvent.model_validate(event.to_message())
    assert again == event
    assert again.to_message()["payload"] == {"award_form": "giay-khen"}


def test_version_1_messages_still_parse():
    message = v2_message()
    del message["instance"], message["recorded_at"]
    message["schema_version"] = 1
    event = WireEvent.model_validate(message)
    assert event.schema_version == SCHEMA_VERSION
    assert event.instance == "nominations" and event.recorded_at is None
    assert event.dedupe_key == ("nominations", 42)


@pytest.mark.parametrize("change", [{"notification_id": "many"}, {"aggregate_id": "x"}, {"surprise": 1}])
def test_malformed_messages_are_refused(change):
    with pytest.raises(ValidationError):
        WireEvent.model_validate(v2_message() | change)
