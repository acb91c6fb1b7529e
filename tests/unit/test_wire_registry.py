"""The wire registry (shared.contracts.wire_events) against the services' own event classes.

Every stored event class that goes on the wire has an entry, emitted by its own service,
declaring exactly the fields the class carries; every entry has such a class; and the lists
derived from the registry (trust, routing, subscriptions) are what the services expect.
A new event type, or a field added to one, fails here until the contract says so.
"""

from __future__ import annotations

import typing

import pytest

from awards.domainmodel import Award, Case
from nominations.domainmodel import Exemplar
from notifications.bootstrap import known_event_types
from notifications.domainmodel import Subscription
from shared import trust
from shared.contracts.wire_events import WIRE_TYPES, addressed, emitted_by, fanned_out, payload_refusal
from shared.council_queues import SOURCES
from shared.requests import STAMPS
from shared.wire import ENVELOPE

AGGREGATES = {Exemplar: "nominations", Case: "awards", Award: "awards", Subscription: "notifications"}
NOT_ON_THE_WIRE = {"secret", "secret_sealed"}  # notifications strips webhook secrets before publishing


def event_classes() -> dict[str, tuple[type, str]]:
    found = {}
    for aggregate, service in AGGREGATES.items():
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, aggregate.Event) and getattr(value, "wire_type", ""):
                assert value.wire_type not in found, f"two classes say {value.wire_type}"
                found[value.wire_type] = (value, service)
    return found


def carried_fields(event_class: type) -> set[str]:
    hints = typing.get_type_hints(event_class, include_extras=False)
    return {name for name, hint in hints.items()
            if typing.get_origin(hint) is not typing.ClassVar and hint is not typing.ClassVar
            and name not in ENVELOPE and name not in STAMPS and name not in NOT_ON_THE_WIRE
            and not name.startswith("_") and name != "originator_id_type"}


CLASSES = event_classes()


def test_every_event_class_on_the_wire_has_an_entry_and_every_entry_a_class():
    assert set(CLASSES) == set(WIRE_TYPES)


@pytest.mark.parametrize("event_type", sorted(WIRE_TYPES))
def test_the_entry_declares_what_the_class_carries(event_type):
    event_class, service = CLASSES[event_type]
    entry = WIRE_TYPES[event_type]
    assert entry.emitted_by == service
    assert set(entry.payload.model_fields) == carried_fields(event_class)


def test_lists_derived_from_the_registry():
    assert set(trust.SERVICE_EVENT_TYPES["awards"]) == {t for t in WIRE_TYPES if t.split(".")[0] in ("case", "award")}
    assert set(emitted_by("nominations")) == {t for t in WIRE_TYPES if t.startswith("exemplar.")}
    assert addressed() == {"exemplar.nominated": ("council_level", "jurisdiction"),
                           "case.forwarded": ("to_level", "to_jurisdiction")}
    assert SOURCES["nominations"][:2] == ("exemplar.nominated", ("exemplar.put_on_hold", "exemplar.hold_released"))
    assert known_event_types() == set(fanned_out())
    assert not any(t.startswith("subscription.") for t in fanned_out())


def test_a_payload_not_in_the_contracts_shape_is_refused_with_its_field_named():
    assert payload_refusal("exemplar.withdrawn", {"reason": "Chuyển công tác"}) is None
    assert payload_refusal("exemplar.withdrawn", {"reason": "x", "added_later": 1}) is None  # a newer producer
    assert "reason" in payload_refusal("exemplar.withdrawn", {})
    assert "members" in payload_refusal("exemplar.endorsed", {
        "meeting": "m", "members": "nhiều", "present": 1, "in_favour": 1, "against": 0, "abstained": 0,
        "endorsed": True})
    assert payload_refusal("exemplar.exploded", {}) == "unknown wire event type 'exemplar.exploded'"


def test_every_command_of_the_contracts_has_one_route_and_a_summary_on_docs():
    """A command added to a contract without its route (gateway.openapi, which http.py serves) fails here."""
    from gateway.openapi import ACTION_SUMMARIES, ACTIONS, CASE_ACTIONS
    from shared.contracts.awards import CASE_COMMANDS
    from shared.contracts.nominations import CHANGE_COMMANDS

    assert sorted(ACTIONS.values()) == sorted(CHANGE_COMMANDS)
    assert sorted(CASE_ACTIONS.values()) == sorted(CASE_COMMANDS)
    assert set(ACTION_SUMMARIES) == set(CHANGE_COMMANDS) | set(CASE_COMMANDS)
