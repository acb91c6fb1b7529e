"""The signed caller assertion (shared.callers), with keys in a folder of its own."""

import datetime as dt

import pytest

from shared.callers import (AUDITOR, COMMANDS, LIFETIME, OFFICER, OPERATOR, SECRETARY, checked_caller, may_call,
                            permit, sign_caller, verified_caller)
from shared.errors import Forbidden, Unauthenticated
from shared.requests import Caller
from shared.signing import TrustedKeys, load_signer, publish_claims, rotate_key

SECRETARY_OF_DISTRICT = {"sub": "thu-ky", "role": SECRETARY, "council": "huyen-yen-the", "idempotency_key": "k-1"}


@pytest.fixture
def keys(tmp_path):
    gateway = load_signer("gateway", keys_dir=tmp_path)
    publish_claims("gateway", tmp_path, service="gateway")
    notifications = load_signer("notifications", keys_dir=tmp_path)
    publish_claims("notifications", tmp_path, service="notifications")
    return gateway, notifications, TrustedKeys(tmp_path, recheck_s=0)


def refusal(assertion, trusted, **kwargs) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as refused:
        verified_caller(assertion, trusted, **kwargs)
    return refused.value


def test_a_gateway_signed_caller_is_believed_as_signed(keys):
    gateway, _, trusted = keys
    assertion = sign_caller(gateway, SECRETARY_OF_DISTRICT)
    assert assertion["instance"] == "gateway" and assertion["key_id"] == gateway.key_id
    claims = assertion["claims"]
    assert claims["expires"] - claims["issued_at"] == LIFETIME.total_seconds() == 60
    assert verified_caller(assertion, trusted) == Caller(**SECRETARY_OF_DISTRICT)
    assert checked_caller(assertion, trusted, "awards", "change_case") == SECRETARY_OF_DISTRICT


@pytest.mark.parametrize("assertion, reason", [
    (None, "no-caller"), ({}, "no-caller"),
    ({"sub": "ke-gia-mao", "role": SECRETARY}, "malformed-caller"),  # the unsigned dict of before
    ("a string", "malformed-caller"),
])
def test_no_assertion_or_a_plain_caller_is_refused(keys, assertion, reason):
    assert refusal(assertion, keys[2]).detail == reason


def test_a_trusted_key_that_speaks_for_a_service_may_not_assert_callers(keys):
    _, notifications, trusted = keys
    refused = refusal(sign_caller(notifications, SECRETARY_OF_DISTRICT), trusted)
    assert refused.detail == "not-a-gateway" and "notifications service" in refused.log_message


def test_an_unknown_instance_is_refused(keys, tmp_path_factory):
    stranger = load_signer("gateway", keys_dir=tmp_path_factory.mktemp("elsewhere"))  # same name, not our key
    assert refusal(sign_caller(stranger, SECRETARY_OF_DISTRICT), keys[2]).detail == "bad-signature"
    other = load_signer("gateway-x", keys_dir=tmp_path_factory.mktemp("elsewhere"))
    assert refusal(sign_caller(other, SECRETARY_OF_DISTRICT), keys[2]).detail == "not-a-gateway"


@pytest.mark.parametrize("change", [
    {"role": OFFICER}, {"sub": "someone-else"}, {"council": "tinh-bac-giang"}, {"idempotency_key": "k-2"},
    {"expires": 4102444800}, {"issued_at": "1796637290"},
])
def test_any_change_to_what_was_signed_is_refused(keys, change):
    gateway, _, trusted = keys
    assertion = sign_caller(gateway, SECRETARY_OF_DISTRICT)
    altered = assertion | {"claims": assertion["claims"] | change}
    assert refusal(altered, trusted).detail in ("bad-signature", "malformed-caller", "bad-lifetime")


def test_an_expired_a_future_or_a_long_lived_assertion_is_refused(keys):
    gateway, _, trusted = keys
    now = dt.datetime.now(dt.timezone.utc)
    assert refusal(sign_caller(gateway, SECRETARY_OF_DISTRICT, now=now - dt.timedelta(seconds=61)),
                   trusted).detail == "expired"
    assert refusal(sign_caller(gateway, SECRETARY_OF_DISTRICT, now=now + dt.timedelta(seconds=30)),
                   trusted).detail == "not-yet-valid"
    assert refusal(sign_caller(gateway, SECRETARY_OF_DISTRICT, lifetime=dt.timedelta(hours=1)),
                   trusted).detail == "bad-lifetime"
    # still in force a moment before it ends
    almost = sign_caller(gateway, SECRETARY_OF_DISTRICT, now=now - dt.timedelta(seconds=55))
    assert verified_caller(almost, trusted).sub == "thu-ky"


def test_a_rotated_gateway_key_still_vouches_for_what_it_signed_before(keys, tmp_path):
    gateway, _, trusted = keys
    before = sign_caller(gateway, SECRETARY_OF_DISTRICT)
    rotate_key("gateway", tmp_path)
    assert verified_caller(before, trusted).sub == "thu-ky"
    assert verified_caller(sign_caller(load_signer("gateway", keys_dir=tmp_path), SECRETARY_OF_DISTRICT),
                           trusted).sub == "thu-ky"


def test_a_removed_gateway_key_stops_being_trusted(keys, tmp_path):
    gateway, _, trusted = keys
    (tmp_path / "gateway.trust.yaml").unlink()
    assert refusal(sign_caller(gateway, SECRETARY_OF_DISTRICT), trusted).detail == "not-a-gateway"


def test_each_command_is_open_to_its_roles_only():
    decide = Caller(sub="x", role=OFFICER, department="d")
    with pytest.raises(Forbidden) as refused:
        permit(decide, "awards", "change_case")
    assert refused.value.detail == "wrong-role" and refused.value.http_status == 403
    for role in (AUDITOR, OPERATOR, "notifications"):
        with pytest.raises(Forbidden):
            permit(Caller(sub="x", role=role), "awards", "change_case")
    permit(Caller(sub="x", role=SECRETARY, council="c"), "awards", "change_case")
    with pytest.raises(Forbidden):  # the command-line tool talks HTTP now: no role of its own over RPC
        permit(Caller(sub="cli.root", role="cli"), "awards", "change_case")
    assert AUDITOR not in {role for commands in COMMANDS.values() for roles in commands.values() for role in roles}
    assert may_call("nominations", "detect") == (OFFICER,)


def test_a_refusal_is_logged_in_english(keys, caplog):
    with pytest.raises(Unauthenticated):
        checked_caller(None, keys[2], "awards", "change_case")
    assert "awards.change_case refused (no-caller): no signed caller assertion" in caplog.text


@pytest.mark.parametrize("route, command", [
    ("detect", ("nominations", "detect")), ("change", ("nominations", "change")),
    ("change_case", ("awards", "change_case")), ("revoke", ("awards", "revoke_award")),
    ("subscribe", ("notifications", "subscribe")), ("preferences", ("notifications", "change_preferences")),
    ("cancel_subscription", ("notifications", "cancel")), ("mark_read", ("notifications", "mark_read")),
    ("replay", ("notifications", "replay")),
])
def test_the_gateways_routes_open_each_command_to_the_roles_the_services_take(route, command):
    from gateway.http import GatewayService

    assert getattr(GatewayService, route).required_roles == may_call(*command)
