"""The wire contract: versioned, old versions keep parsing, and only signed events are acted on."""

import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from shared.signing import Signer, TrustedKeys, publish_claims
from shared.wire import SCHEMA_VERSION, Unverified, WireEvent, canonical, routing_key, verified


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
    assert event.schema_version == 2  # read as v2: still unsigned
    assert event.instance == "nominations" and event.recorded_at is None
    assert event.dedupe_key == ("nominations", 42)


@pytest.mark.parametrize("change", [{"notification_id": "many"}, {"aggregate_id": "x"}, {"surprise": 1}])
def test_malformed_messages_are_refused(change):
    with pytest.raises(ValidationError):
        WireEvent.model_validate(v2_message() | change)


# -- v3: signatures --------------------------------------------------------------------

INSTANCE = "nominations-hnd"


def signer(instance: str = INSTANCE) -> Signer:
    return Signer(instance, Ed25519PrivateKey.generate())


def trusting(*signers: Signer, folder=None) -> TrustedKeys:
    """Trusted as departments (shared.trust): these messages come from nominations."""
    return TrustedKeys(folder, keys={s.instance: s.public_pem() for s in signers},
                       claims={s.instance: {"service": "nominations", "department": "hoi-nong-dan-yen-the"}
                               for s in signers})


def v3_message(by: Signer) -> dict:
    """As the relay sends it, and as the broker hands it over: through JSON."""
    message = v2_message() | {"schema_version": SCHEMA_VERSION, "instance": by.instance,
                              "payload": {"award_form": "giay-khen", "achievement": "Hộ kinh tế giỏi 2018",
                                          "score": 92.5, "subject": {"name": "Hộ ông Hoàng Văn Thắng"}}}
    return json.loads(json.dumps(WireEvent.model_validate(message).signed(by).to_message()))


def refusal(body, trusted, source="nominations") -> str:
    with pytest.raises(Unverified) as refused:
        verified(body, source, trusted)
    return str(refused.value)


def test_a_signed_event_verifies_and_parses_to_what_was_signed(tmp_path):
    key = signer()
    body = v3_message(key)
    event = verified(body, "nominations", trusting(key, folder=tmp_path))
    assert event.schema_version == 4 and event.signature == body["signature"]
    assert event.key_id == body["key_id"] == key.key_id  # v4: which key signed
    assert event.payload["subject"]["name"] == "Hộ ông Hoàng Văn Thắng"
    assert WireEvent.model_validate(event.to_message()) == event  # v3 round trip


def test_canonical_form_ignores_key_order_and_the_signature():
    body = v3_message(signer())
    shuffled = dict(reversed(list(body.items()))) | {"signature": "anything"}
    assert canonical(shuffled) == canonical(body)
    assert "Hoàng Văn Thắng".encode() in canonical(body)  # UTF-8 as is, not escaped


@pytest.mark.parametrize("version", [1, 2])
def test_old_unsigned_versions_parse_but_are_never_verified(tmp_path, version):
    message = v2_message() | {"schema_version": version}
    WireEvent.model_validate(message)  # still readable, e.g. from a parked queue
    assert "unsigned" in refusal(message, trusting(signer(), folder=tmp_path))


def test_a_v3_message_without_a_signature_is_unsigned(tmp_path):
    body = v3_message(signer())
    del body["signature"]
    assert "unsigned" in refusal(body, trusting(signer(), folder=tmp_path))


def test_an_unknown_instance_is_refused(tmp_path):
    stranger = signer("nominations-khong-ai-biet")
    assert "unknown source instance" in refusal(v3_message(stranger), trusting(signer(), folder=tmp_path))


def test_a_trusted_name_signed_with_another_key_is_refused(tmp_path):
    genuine, impostor = signer(), signer()  # same instance name, different keys
    reason = refusal(v3_message(impostor), trusting(genuine, folder=tmp_path))
    assert reason.startswith("bad signature") and f"key '{impostor.key_id}', which is not a key of" in reason
    body = v3_message(impostor)
    body["key_id"] = genuine.key_id  # claiming the genuine key's id does not help
    assert "bad signature" in refusal(body, trusting(genuine, folder=tmp_path))


@pytest.mark.parametrize("tamper", [
    lambda b: b["payload"].update(award_form="bang-khen-tinh"),
    lambda b: b.update(notification_id=b["notification_id"] + 1),
    lambda b: b.update(aggregate_id=str(uuid.uuid4())),
    lambda b: b.update(instance="nominations-other"),
])
def test_any_change_after_signing_is_refused(tmp_path, tamper):
    key, other = signer(), signer("nominations-other")
    body = v3_message(key)
    tamper(body)
    assert "bad signature" in refusal(body, trusting(key, other, folder=tmp_path))


def test_a_signed_event_on_another_services_exchange_is_refused(tmp_path):
    key = signer()
    assert "arrived on awards.events" in refusal(v3_message(key), trusting(key, folder=tmp_path), source="awards")


def test_signed_but_malformed_is_refused_not_crashed(tmp_path):
    key = signer()
    body = v2_message() | {"schema_version": 3, "instance": INSTANCE, "surprise": 1}
    body["signature"] = key.sign(canonical(body))
    assert "not a valid wire event" in refusal(body, trusting(key, folder=tmp_path))
    assert "not an object" in refusal(["a", "list"], trusting(key, folder=tmp_path))


def test_a_key_published_later_in_the_folder_is_trusted_and_a_removed_one_no_longer(tmp_path):
    key = signer("hoi-phu-nu-yen-the")
    trusted = TrustedKeys(tmp_path, recheck_s=0)
    assert "unknown source instance" in refusal(v3_message(key), trusted)
    (tmp_path / "hoi-phu-nu-yen-the.pub").write_text(key.public_pem())  # a new department joins
    assert "in no trust list" in refusal(v3_message(key), trusted)  # a key alone speaks for nothing
    publish_claims("hoi-phu-nu-yen-the", tmp_path, service="nominations", department="hoi-phu-nu-yen-the")
    assert verified(v3_message(key), "nominations", trusted).instance == "hoi-phu-nu-yen-the"
    (tmp_path / "hoi-phu-nu-yen-the.pub").unlink()  # the deployment stops trusting it: no restart
    assert "unknown source instance" in refusal(v3_message(key), trusted)


def claimed(by: Signer, **claims) -> TrustedKeys:
    return TrustedKeys("/nonexistent", keys={by.instance: by.public_pem()}, claims={by.instance: claims})


def message_of(by: Signer, source: str, kind: str, payload: dict) -> dict:
    message = v2_message() | {"schema_version": SCHEMA_VERSION, "instance": by.instance, "source": source,
                              "type": kind, "payload": payload}
    return json.loads(json.dumps(WireEvent.model_validate(message).signed(by).to_message()))


GRANT = {"jurisdiction": "huyen-yen-the", "award_form": "giay-khen", "subject": {"department": "hoi-nong-dan-yen-the"}}


@pytest.mark.parametrize("claims,source,kind,payload,expected", [
    # the notifications service's own trusted key signing an award on awards.events
    ({"service": "notifications"}, "awards", "award.granted", GRANT, "speaks for the notifications service"),
    # a council signing for another council
    ({"service": "awards", "council": "tinh-bac-giang"}, "awards", "award.granted", GRANT,
     "speaks for council 'tinh-bac-giang', not 'huyen-yen-the'"),
    ({"service": "awards", "council": "tinh-bac-giang"}, "awards", "case.decided",
     {"jurisdiction": "huyen-yen-the"}, "not 'huyen-yen-the'"),
    # a council signing a department's event, a department a council's
    ({"service": "awards", "council": "huyen-yen-the"}, "awards", "exemplar.awarded", GRANT, "may not sign"),
    ({"service": "nominations", "department": "hoi-nong-dan-yen-the"}, "nominations", "award.granted", GRANT,
     "may not sign 'award.granted'"),
    # a department nominating another department's exemplar
    ({"service": "nominations", "department": "doan-thanh-nien-yen-the"}, "nominations", "exemplar.nominated",
     {"subject": {"department": "hoi-nong-dan-yen-the"}}, "speaks for department 'doan-thanh-nien-yen-the'"),
    ({"service": "nominations", "department": "doan-thanh-nien-yen-the"}, "nominations", "exemplar.detected",
     {"department": "hoi-nong-dan-yen-the"}, "not 'hoi-nong-dan-yen-the'"),
])
def test_a_trusted_key_may_say_only_what_its_claims_allow(claims, source, kind, payload, expected):
    key = signer("some-instance")
    assert expected in refusal(message_of(key, source, kind, payload), claimed(key, **claims), source)


@pytest.mark.parametrize("claims,source,kind,payload", [
    ({"service": "awards", "council": "huyen-yen-the"}, "awards", "award.granted", GRANT),
    ({"service": "awards", "council": "huyen-yen-the"}, "awards", "award.revoked", {"ground": "a"}),
    ({"service": "nominations", "department": "hoi-nong-dan-yen-the"}, "nominations", "exemplar.nominated",
     {"subject": {"department": "hoi-nong-dan-yen-the"}}),
    ({"service": "nominations", "department": "hoi-nong-dan-yen-the"}, "nominations", "exemplar.put_on_hold",
     {"hold_id": "H3"}),
    ({"service": "notifications"}, "notifications", "subscription.created", {}),
])
def test_what_its_claims_allow_is_accepted(claims, source, kind, payload):
    key = signer("some-instance")
    assert verified(message_of(key, source, kind, payload), source, claimed(key, **claims)).type == kind


def test_claims_that_speak_for_nothing_are_refused(tmp_path):
    with pytest.raises(ValueError, match="speaks for a council"):
        publish_claims("x", tmp_path, service="awards")
    key = signer("x")
    (tmp_path / "x.pub").write_text(key.public_pem())
    (tmp_path / "x.trust.yaml").write_text("service: awards\ncouncil: [not, a, code]\n")
    assert "unusable trust claims" in refusal(v3_message(key), TrustedKeys(tmp_path))


def test_a_new_event_is_written_in_the_current_version():
    fields = {k: v for k, v in v2_message().items() if k != "schema_version"}
    assert WireEvent(**fields).schema_version == SCHEMA_VERSION == 4


def test_only_the_instance_itself_may_sign_its_events():
    with pytest.raises(ValueError):
        WireEvent.model_validate(v2_message() | {"schema_version": 3}).signed(signer("someone-else"))


# -- routing ---------------------------------------------------------------------------

def test_events_addressed_to_a_council_carry_it_in_the_routing_key():
    nominated = WireEvent.model_validate(v2_message() | {"payload": {"council_level": "district",
                                                                     "jurisdiction": "huyen-yen-the"}})
    assert routing_key(nominated) == "exemplar.nominated.district.huyen-yen-the"
    forwarded = WireEvent.model_validate(v2_message() | {"type": "case.forwarded", "payload": {
        "to_level": "province", "to_jurisdiction": "tinh-bac-giang"}})
    assert routing_key(forwarded) == "case.forwarded.province.tinh-bac-giang"
    assert routing_key(WireEvent.model_validate(v2_message() | {"type": "award.granted"})) == "award.granted"
