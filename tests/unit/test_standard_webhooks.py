"""Webhook signatures as Standard Webhooks has them, and webhook secrets sealed at rest."""

import base64
import time

import pytest
from cryptography.fernet import Fernet

from notifications.channels import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, refusal, sign, verify
from notifications.sealing import (SealingError, SecretBox, is_webhook_secret, load_secret_box, new_webhook_secret,
                                   read_keys, signing_key)

# The reference libraries' own test vector (standard-webhooks, every language's tests).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID, VECTOR_TIMESTAMP = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers_for(secret, body, message_id="d-1", at=None):
    at = int(time.time()) if at is None else at
    return {ID_HEADER: message_id, TIMESTAMP_HEADER: str(at), SIGNATURE_HEADER: sign(secret, message_id, at, body)}


def test_the_signature_is_the_reference_one():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    headers = {"Webhook-Id": VECTOR_ID, "Webhook-Timestamp": str(VECTOR_TIMESTAMP),
               "Webhook-Signature": VECTOR_SIGNATURE}  # header names in any case
    assert verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP + 10)


def test_a_round_trip_verifies_and_any_change_is_refused():
    secret, body = new_webhook_secret(), '{"subject": "Khen thưởng"}'.encode()
    headers = headers_for(secret, body)
    assert refusal(secret, headers, body) is None
    assert refusal(secret, headers, body + b" ") == "no signature matches"  # the body tampered with
    assert refusal(new_webhook_secret(), headers, body) == "no signature matches"  # another secret
    assert refusal(secret, headers | {ID_HEADER: "d-2"}, body) == "no signature matches"  # another delivery's id
    later = headers | {TIMESTAMP_HEADER: str(int(headers[TIMESTAMP_HEADER]) + 1)}
    assert refusal(secret, later, body) == "no signature matches"  # the timestamp moved
    assert "missing" in refusal(secret, {ID_HEADER: "d-1"}, body)
    assert refusal(secret, headers | {TIMESTAMP_HEADER: "soon"}, body) == "webhook-timestamp is not a number of seconds"


def test_a_stale_or_future_timestamp_is_refused_as_a_possible_replay():
    secret, body = new_webhook_secret(), b"{}"
    sent = int(time.time()) - 301
    assert refusal(secret, headers_for(secret, body, at=sent), body) == "webhook-timestamp too far from now (a replay?)"
    assert verify(secret, headers_for(secret, body, at=int(time.time()) - 290), body)
    assert not verify(secret, headers_for(secret, body, at=int(time.time()) + 400), body)


def test_one_matching_signature_among_several_is_enough():
    """Receivers may be sent several (during a key change): space-separated, other versions ignored."""
    secret, body = new_webhook_secret(), b"{}"
    headers = headers_for(secret, body)
    headers[SIGNATURE_HEADER] = f"v1,bm90LXRoaXMtb25l v1a,whatever {headers[SIGNATURE_HEADER]}"
    assert verify(secret, headers, body)


def test_secrets_are_whsec_and_24_to_64_bytes():
    made = new_webhook_secret()
    assert made.startswith("whsec_") and len(signing_key(made)) == 32 and is_webhook_secret(made)
    assert made != new_webhook_secret()
    assert is_webhook_secret(VECTOR_SECRET)
    assert not is_webhook_secret("whsec_" + base64.b64encode(b"x" * 23).decode())  # too short
    assert not is_webhook_secret("whsec_" + base64.b64encode(b"x" * 65).decode())  # too long
    assert not is_webhook_secret("khoa-bi-mat-du-dai-16")  # a plain one: only old subscriptions have it
    assert not is_webhook_secret("whsec_not base64!")
    assert signing_key("khoa-bi-mat-cu-16-ky-tu") == b"khoa-bi-mat-cu-16-ky-tu"  # a legacy secret's key: its bytes


def test_a_sealed_secret_opens_only_with_the_services_keys_and_survives_a_key_rotation():
    old, new = Fernet.generate_key(), Fernet.generate_key()
    secret = new_webhook_secret()
    sealed = SecretBox([old]).seal(secret)
    assert secret not in sealed and SecretBox([old]).open(sealed) == secret
    with pytest.raises(SealingError):
        SecretBox([new]).open(sealed)
    rotated = SecretBox([new, old])  # the new key first: it seals; the old one still opens
    assert rotated.open(sealed) == secret and not rotated.is_current(sealed)
    resealed = rotated.reseal(sealed)
    assert rotated.is_current(resealed) and SecretBox([new]).open(resealed) == secret


def test_the_development_key_is_made_once_and_a_key_file_may_list_several(tmp_path):
    first = load_secret_box(keys_dir=tmp_path)
    key_file = tmp_path / "notifications-webhook-secrets.key"
    assert (key_file.stat().st_mode & 0o777) == 0o600  # readable by the service alone
    sealed = first.seal("whsec_x")
    assert load_secret_box(keys_dir=tmp_path).open(sealed) == "whsec_x"  # the same key the next time
    new = Fernet.generate_key()
    configured = tmp_path / "configured.key"
    configured.write_text(f"# newest first\n{new.decode()}\n\n{key_file.read_text()}")
    assert read_keys(configured)[0] == new
    assert load_secret_box(configured).open(sealed) == "whsec_x"
    with pytest.raises(ValueError):
        (tmp_path / "empty.key").write_text("# nothing\n")
        load_secret_box(tmp_path / "empty.key")
