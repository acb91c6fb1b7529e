"""The hash chain and its verification, on logs made in memory: every way a log can be wrong."""

import uuid

import pytest

from shared.integrity import GENESIS, Checkpoint, Entry, Verifier, event_hash, merge_by_position, next_link
from shared.signing import TrustedKeys, load_signer

INSTANCE = "nominations-a"


@pytest.fixture
def keys(tmp_path):
    signer = load_signer(INSTANCE, keys_dir=tmp_path)
    load_signer("nominations-b", keys_dir=tmp_path)  # another department, equally trusted
    return signer, TrustedKeys(tmp_path)


def make_log(count: int) -> list[dict]:
    aggregate = str(uuid.uuid4())
    return [{"notification_id": n, "originator_id": aggregate, "originator_version": n, "topic": "t:E",
             "state": f'{{"n": {n}}}'.encode()} for n in range(1, count + 1)]


def seal(events: list[dict], signer, every: int) -> tuple[list[dict], list[Checkpoint]]:
    """What the sealer writes: a seal per event and a signed checkpoint every ``every`` events."""
    seals, checkpoints, link = [], [], GENESIS
    for count, e in enumerate(events, start=1):
        content = event_hash(e["originator_id"], e["originator_version"], e["topic"], e["state"])
        link = next_link(link, e["notification_id"], content)
        seals.append({"notification_id": e["notification_id"], "originator_id": e["originator_id"],
                      "originator_version": e["originator_version"], "event_hash": content, "chain_hash": link})
        if count % every == 0:
            checkpoint = Checkpoint(signer.instance, "Nominations", e["notification_id"], count, link, "now")
            checkpoints.append(Checkpoint(**{**checkpoint.to_json(), "signature": signer.sign(checkpoint.message())}))
    return seals, checkpoints


def verify(events, seals, checkpoints, trusted, instance=INSTANCE):
    entries = merge_by_position(iter(events), iter(seals))
    return Verifier("Nominations", instance, checkpoints, trusted.verify).feed(entries)


def kinds(report) -> set[tuple[str, int | None]]:
    return {(f.kind, f.notification_id) for f in report.findings}


def test_an_untouched_log_is_proven_to_its_last_checkpoint_and_the_tail_counted(keys):
    signer, trusted = keys
    events = make_log(25)
    seals, checkpoints = seal(events, signer, every=10)
    report = verify(events, seals, checkpoints, trusted)
    assert report.ok and report.proven_up_to == 20 and report.unproven_tail == 5 and report.checkpoints == 2


def test_an_empty_log_is_fine_and_a_log_without_checkpoints_proves_nothing(keys):
    _, trusted = keys
    assert verify([], [], [], trusted).ok
    events = make_log(5)
    report = verify(events, [], [], trusted)
    assert not report.ok and [f.kind for f in report.findings] == ["unproven"]


def test_one_edit_is_one_finding_not_one_per_later_checkpoint(keys):
    signer, trusted = keys
    events = make_log(100)
    seals, checkpoints = seal(events, signer, every=10)
    events[14] = {**events[14], "state": b'{"n": 999}'}
    report = verify(events, seals, checkpoints, trusted)
    assert kinds(report) == {("changed", 15), ("checkpoint-mismatch", 20)}
    assert report.proven_up_to == 10  # nothing after a broken range counts as proven


def test_a_checkpoint_signed_by_another_instance_is_refused_even_if_its_key_is_trusted(keys, tmp_path):
    signer, trusted = keys
    other = load_signer("nominations-b", keys_dir=tmp_path)
    events = make_log(10)
    seals, _ = seal(events, signer, every=10)
    _, forged = seal(events, other, every=10)  # department B vouching for A's log
    report = verify(events, seals, forged, trusted)
    assert not report.ok and {f.kind for f in report.findings} == {"bad-signature", "unproven"}


def test_a_removed_position_and_an_event_replaced_in_place_are_both_named(keys):
    signer, trusted = keys
    events = make_log(20)
    seals, checkpoints = seal(events, signer, every=20)
    del events[4]  # position 5 gone
    events[9] = {**events[9], "originator_version": 99}  # position 11 now holds something never sealed
    report = verify(events, seals, checkpoints, trusted)
    assert kinds(report) == {("removed", 5), ("inserted", 11), ("removed", 11), ("checkpoint-mismatch", 20)}


def test_cutting_the_tail_with_its_checkpoint_shrinks_what_is_proven_and_says_so(keys):
    signer, trusted = keys
    events = make_log(30)
    seals, checkpoints = seal(events, signer, every=10)
    report = verify(events[:25], seals[:25], checkpoints[:2], trusted)
    assert report.ok and report.proven_up_to == 20 and report.unproven_tail == 5  # an anchor would catch it


def test_naming_is_bounded_and_the_rest_counted(keys, monkeypatch):
    signer, trusted = keys
    monkeypatch.setattr(Verifier, "MAX_PENDING", 3)
    events = make_log(20)
    seals, checkpoints = seal(events, signer, every=20)
    changed = [{**e, "state": b"x"} for e in events]
    report = verify(changed, seals, checkpoints, trusted)
    assert len([f for f in report.findings if f.kind == "changed"]) == 3 and report.unnamed == 17
    assert not report.ok
