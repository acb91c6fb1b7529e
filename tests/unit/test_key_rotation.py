"""Key ids and rotation: what a key signed while in force keeps verifying after it is retired,
nothing it signs after, and no running process needs a restart to see a new key."""

import datetime as dt
import json
import os
import re
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.integrity import GENESIS, Checkpoint, Entry, Verifier, event_hash, next_link
from shared.signing import (Signer, TrustedKeys, key_id, load_signer, parse_key_name, publish_claims,
                            rotate_key)
from shared.wire import SCHEMA_VERSION, Unverified, WireEvent, canonical, verified

INSTANCE = "nominations-hnd"
DEPARTMENT = "nominations-hoi-nong-dan-yen-the"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROTATED_AT = dt.datetime(2026, 12, 7, 5, 30, tzinfo=dt.timezone.utc)
BEFORE, AFTER = ROTATED_AT - dt.timedelta(days=30), ROTATED_AT + dt.timedelta(seconds=1)


def frozen(signer: Signer) -> Signer:
    """A copy that keeps the key it has now, whatever its file becomes (the old key's holder)."""
    pem = (signer._file).read_bytes()
    return Signer(signer.instance, serialization.load_pem_private_key(pem, password=None))


@pytest.fixture
def keys(tmp_path):
    """A development key, published with its claims, rotated at ROTATED_AT: (old, new, trusted)."""
    old = frozen(load_signer(INSTANCE, keys_dir=tmp_path))
    publish_claims(INSTANCE, tmp_path, service="nominations", department="hoi-nong-dan-yen-the")
    rotated = rotate_key(INSTANCE, tmp_path, grace_s=0, now=ROTATED_AT)
    new = frozen(load_signer(INSTANCE, keys_dir=tmp_path))
    assert (rotated["old_key_id"], rotated["new_key_id"]) == (old.key_id, new.key_id)
    return old, new, TrustedKeys(tmp_path, recheck_s=0)


def event(by: Signer, recorded_at: dt.datetime | None, v3: bool = False) -> dict:
    """As the relay sends it, through JSON; ``v3``: signed the old way, without a key id."""
    wire = WireEvent(type="exemplar.detected", source="nominations", instance=by.instance,
                     notification_id=7, aggregate_id=uuid.uuid4(), aggregate_version=1, recorded_at=recorded_at,
                     payload={"department": "hoi-nong-dan-yen-the", "name": "Hộ ông Hoàng Văn Thắng"})
    if v3:
        body = {k: v for k, v in wire.to_message().items() if k != "key_id"} | {"schema_version": 3}
        return json.loads(json.dumps(body | {"signature": by.sign(canonical(body))}))
    return json.loads(json.dumps(wire.signed(by).to_message()))


def refusal(body, trusted) -> str:
    with pytest.raises(Unverified) as refused:
        verified(body, "nominations", trusted)
    return str(refused.value)


def test_a_key_id_is_stable_and_distinct_and_names_the_public_key():
    private, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signer = Signer(INSTANCE, private)
    assert re.fullmatch(r"[0-9a-f]{16}", signer.key_id)
    assert signer.key_id == key_id(private.public_key()) == Signer("elsewhere", private).key_id
    trusted = TrustedKeys("/nonexistent", keys={INSTANCE: signer.public_pem()})
    assert trusted.keys_of(INSTANCE)[0].key_id == signer.key_id  # the verifier computes the same from the PEM
    assert Signer(INSTANCE, other).key_id != signer.key_id


def test_rotation_retires_the_old_public_key_and_replaces_the_private_one(tmp_path):
    signer = load_signer(INSTANCE, keys_dir=tmp_path)
    publish_claims(INSTANCE, tmp_path, service="nominations", department="hoi-nong-dan-yen-the")
    old_private, claims = (tmp_path / f"{INSTANCE}.key").read_bytes(), (tmp_path / f"{INSTANCE}.trust.yaml").read_text()
    rotated = rotate_key(INSTANCE, tmp_path, grace_s=10, now=ROTATED_AT)
    retired = tmp_path / f"{INSTANCE}.retired-20261207T053010Z.pub"  # the grace: what it signs meanwhile counts
    assert rotated["retired_file"] == str(retired) and retired.read_text() == signer.public_pem()
    assert (tmp_path / f"{INSTANCE}.key").read_bytes() != old_private  # nothing signs with it again
    assert stat.S_IMODE((tmp_path / f"{INSTANCE}.key").stat().st_mode) == 0o600
    assert (tmp_path / f"{INSTANCE}.trust.yaml").read_text() == claims
    assert parse_key_name(retired.stem) == (INSTANCE, ROTATED_AT + dt.timedelta(seconds=10))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{INSTANCE}.key", f"{INSTANCE}.pub", retired.name, f"{INSTANCE}.trust.yaml"])  # no leftovers
    with pytest.raises(FileExistsError):  # twice in one second would overwrite the retired key
        rotate_key(INSTANCE, tmp_path, grace_s=10, now=ROTATED_AT)
    with pytest.raises(ValueError):  # the marker is not part of any instance's name
        load_signer(f"{INSTANCE}.retired-20261207T053010Z", keys_dir=tmp_path)


def test_an_event_signed_with_the_new_key_verifies(keys):
    _, new, trusted = keys
    assert verified(event(new, AFTER), "nominations", trusted).key_id == new.key_id
    assert verified(event(new, BEFORE), "nominations", trusted).schema_version == SCHEMA_VERSION == 4


def test_the_retired_key_vouches_for_what_it_signed_before_its_retirement_only(keys):
    old, _, trusted = keys
    assert verified(event(old, BEFORE), "nominations", trusted).key_id == old.key_id
    assert verified(event(old, ROTATED_AT), "nominations", trusted)  # "at or before"
    reason = refusal(event(old, AFTER), trusted)
    assert reason.startswith("bad signature") and f"key {old.key_id}" in reason
    assert "retired at 2026-12-07T05:30:00+00:00" in reason and "a retired key vouches only" in reason
    assert "at no stated time" in refusal(event(old, None), trusted)  # no time: nothing shows it came before


def test_events_signed_the_old_way_without_a_key_id_still_verify(keys):
    old, new, trusted = keys
    assert verified(event(old, BEFORE, v3=True), "nominations", trusted).key_id is None  # the key then in force
    assert verified(event(new, AFTER, v3=True), "nominations", trusted).schema_version == 3
    assert "bad signature" in refusal(event(old, AFTER, v3=True), trusted)  # nor does it lift the retirement


def test_a_key_that_is_not_among_the_instances_keys_is_refused(keys):
    _, new, trusted = keys
    stranger = Signer(INSTANCE, Ed25519PrivateKey.generate())
    reason = refusal(event(stranger, BEFORE), trusted)
    assert f"signed with key '{stranger.key_id}', which is not a key of instance '{INSTANCE}'" in reason
    assert new.key_id in reason  # what its keys are, for whoever reads the parking reason
    assert "bad signature" in refusal(event(stranger, BEFORE, v3=True), trusted)


# -- checkpoints ------------------------------------------------------------------------

def sealed_log(signer: Signer, sealed_at: dt.datetime, old_format: bool = False):
    """Three events, sealed, with one checkpoint over them (as shared.sealer makes it)."""
    events, seals, link = [], [], GENESIS
    aggregate = str(uuid.uuid4())
    for n in (1, 2, 3):
        e = {"notification_id": n, "originator_id": aggregate, "originator_version": n, "topic": "t:E",
             "state": f'{{"n": {n}}}'.encode()}
        content = event_hash(aggregate, n, "t:E", e["state"])
        link = next_link(link, n, content)
        events.append(e)
        seals.append({"originator_id": aggregate, "originator_version": n, "event_hash": content, "chain_hash": link})
    checkpoint = Checkpoint(signer.instance, "Nominations", 3, 3, link, sealed_at.isoformat(),
                            key_id="" if old_format else signer.key_id)
    signed = Checkpoint(**{**checkpoint.to_json(), "signature": signer.sign(checkpoint.message())})
    entries = [Entry(e["notification_id"], event=e, seal=s) for e, s in zip(events, seals)]
    return entries, signed


def audit(entries, checkpoint, trusted):
    return Verifier("Nominations", INSTANCE, [checkpoint], trusted.verify).feed(entries)


def test_a_checkpoint_sealed_before_the_rotation_still_verifies_after_it(tmp_path):
    signer = load_signer(INSTANCE, keys_dir=tmp_path)
    trusted = TrustedKeys(tmp_path)  # a running auditor's, its folder cache warm
    entries, checkpoint = sealed_log(signer, BEFORE)
    assert audit(entries, checkpoint, trusted).ok
    rotate_key(INSTANCE, tmp_path, grace_s=0, now=ROTATED_AT)
    for verifier_keys in (trusted, TrustedKeys(tmp_path)):
        report = audit(entries, checkpoint, verifier_keys)
        assert report.ok and report.proven_up_to == 3


def test_a_checkpoint_the_retired_key_signed_after_its_retirement_is_a_bad_signature(keys):
    old, new, trusted = keys
    entries, checkpoint = sealed_log(old, AFTER)
    [finding] = audit(entries, checkpoint, trusted).findings[:1]
    assert finding.kind == "bad-signature" and f"key {old.key_id}" in finding.detail
    entries, checkpoint = sealed_log(new, AFTER)
    assert audit(entries, checkpoint, trusted).ok


def test_a_checkpoint_signed_the_old_way_verifies_before_and_after_rotation(tmp_path):
    signer = load_signer(INSTANCE, keys_dir=tmp_path)
    entries, checkpoint = sealed_log(signer, BEFORE, old_format=True)
    # byte for byte what checkpoints signed before keys had ids, i.e. rows in existing logs
    assert checkpoint.message() == json.dumps(
        {"chain_hash": checkpoint.chain_hash, "count": 3, "instance": INSTANCE, "log": "Nominations",
         "position": 3, "sealed_at": BEFORE.isoformat()}, sort_keys=True, separators=(",", ":")).encode()
    stored = Checkpoint(**{k: v for k, v in checkpoint.to_json().items() if k != "key_id"})  # an old export's line
    assert audit(entries, stored, TrustedKeys(tmp_path)).ok
    rotate_key(INSTANCE, tmp_path, grace_s=0, now=ROTATED_AT)
    assert audit(entries, stored, TrustedKeys(tmp_path)).ok
    stranger = Signer(INSTANCE, Ed25519PrivateKey.generate())
    entries, forged = sealed_log(stranger, BEFORE)
    assert [f.kind for f in audit(entries, forged, TrustedKeys(tmp_path)).findings][:1] == ["bad-signature"]


# -- running processes ----------------------------------------------------------------

def test_running_processes_see_the_new_key_without_a_restart(tmp_path):
    started = load_signer(INSTANCE, keys_dir=tmp_path)
    publish_claims(INSTANCE, tmp_path, service="nominations", department="hoi-nong-dan-yen-the")
    signer = Signer(INSTANCE, frozen(started).current()._key, tmp_path / f"{INSTANCE}.key", recheck_s=0)
    trusted = TrustedKeys(tmp_path)  # the default 2 s recheck: its cache still holds the old key
    old_id = signer.key_id
    assert verified(event(signer, BEFORE), "nominations", trusted)
    rotated = rotate_key(INSTANCE, tmp_path)
    assert signer.key_id == rotated["new_key_id"] != old_id  # the signer re-read its key file
    # an id not seen yet makes the verifier look at the folder at once
    assert verified(event(signer, dt.datetime.now(dt.timezone.utc)), "nominations", trusted).key_id == signer.key_id


def test_removing_keys_stops_trusting_them_without_a_restart(keys, tmp_path):
    old, new, trusted = keys
    retired = next(tmp_path.glob(f"{INSTANCE}.retired-*.pub"))
    retired.unlink()  # the deployment no longer vouches for what the old key signed
    assert "not a key of instance" in refusal(event(old, BEFORE), trusted)
    assert verified(event(new, AFTER), "nominations", trusted)
    (tmp_path / f"{INSTANCE}.pub").unlink()  # nor for the instance: its retired keys go with it
    assert "unknown source instance" in refusal(event(new, AFTER), trusted)


def test_the_keys_an_export_carries_include_the_retired_ones(keys, tmp_path):
    old, new, trusted = keys
    pems = trusted.pems()
    assert set(pems) == {INSTANCE, f"{INSTANCE}.retired-20261207T053000Z"}
    given = TrustedKeys("/nonexistent", keys=pems, claims={INSTANCE: {"service": "nominations",
                                                                       "department": "hoi-nong-dan-yen-the"}})
    assert verified(event(old, BEFORE), "nominations", given) and verified(event(new, AFTER), "nominations", given)
    assert "retired at" in refusal(event(old, AFTER), given)


def test_make_keys_rotate_retires_the_old_key_and_services_load_the_new_one(tmp_path):
    # the script writes the claims from the name: nominations-<department>
    env = os.environ | {"KEYS_DIR": str(tmp_path), "ROTATE_GRACE_S": "0"}
    script = ["sh", str(DEPLOY / "make-keys.sh")]
    subprocess.run(script + [DEPARTMENT], env=env, check=True, capture_output=True, timeout=60)
    old = load_signer(DEPARTMENT, tmp_path / "private" / f"{DEPARTMENT}.key")
    old = Signer(DEPARTMENT, old.current()._key)
    claims = (tmp_path / "trusted" / f"{DEPARTMENT}.trust.yaml").read_text()
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    done = subprocess.run(script + ["rotate", DEPARTMENT], env=env, check=True, capture_output=True, text=True,
                          timeout=60)
    assert "retired the old key" in done.stdout
    [retired] = (tmp_path / "trusted").glob(f"{DEPARTMENT}.retired-*.pub")
    assert stat.S_IMODE(retired.stat().st_mode) == 0o644
    new = load_signer(DEPARTMENT, tmp_path / "private" / f"{DEPARTMENT}.key")
    assert new.key_id != old.key_id
    assert stat.S_IMODE((tmp_path / "private" / f"{DEPARTMENT}.key").stat().st_mode) == 0o600
    assert (tmp_path / "trusted" / f"{DEPARTMENT}.trust.yaml").read_text() == claims
    assert sorted(p.name for p in (tmp_path / "trusted").iterdir()) == sorted(
        [f"{DEPARTMENT}.pub", retired.name, f"{DEPARTMENT}.trust.yaml"])
    trusted = TrustedKeys(tmp_path / "trusted")
    assert verified(event(old, before), "nominations", trusted)
    assert "retired at" in refusal(event(old, dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)), trusted)
    assert verified(event(new, dt.datetime.now(dt.timezone.utc)), "nominations", trusted)
    assert subprocess.run(script + ["rotate", "nominations-khong-co"], env=env, capture_output=True,
                          timeout=60).returncode == 2
