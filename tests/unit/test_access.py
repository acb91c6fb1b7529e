"""Bearer tokens and the role rules of the HTTP API (pure; no services)."""

import datetime as dt
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import jwt
import pytest

from gateway import access
from gateway.access import AUDITOR, OFFICER, OPERATOR, SECRETARY, Forbidden, Unauthenticated
from gateway.http import GatewayService
from shared.errors import InvalidInput

SECRET = b"k" * 32
NOW = dt.datetime.now(dt.timezone.utc)


def bearer(**claims) -> str:
    return "Bearer " + access.issue(SECRET, **({"sub": "can-bo-1", "role": OFFICER, "department": "hnd"} | claims))


def refusal_of(call) -> access.AccessDenied:
    with pytest.raises(access.AccessDenied) as caught:
        call()
    return caught.value


def test_a_token_names_its_holder_role_and_scope():
    officer = access.authenticate(SECRET, bearer())
    assert (officer.sub, officer.role, officer.department, officer.council) == ("can-bo-1", OFFICER, "hnd", None)
    assert officer.token_id and officer.token_id not in bearer()  # a fresh random id per token
    secretary = access.authenticate(SECRET, bearer(role=SECRETARY, department=None, council="huyen-yen-the"))
    assert secretary.council == "huyen-yen-the" and secretary.scope() == "council_secretary of huyen-yen-the"
    assert access.authenticate(SECRET, "bearer " + bearer(role=AUDITOR, department=None)[7:]).role == AUDITOR


@pytest.mark.parametrize("header,reason", [
    (None, "no-token"),
    ("", "no-token"),
    ("Basic dXNlcjpwYXNz", "not-bearer"),
    ("Bearer ", "not-bearer"),
    ("Bearer not.a.jwt", "malformed"),
    ("Bearer abc", "malformed"),
])
def test_no_token_or_not_a_jwt_is_unauthenticated(header, reason):
    refusal = refusal_of(lambda: access.authenticate(SECRET, header))
    assert isinstance(refusal, Unauthenticated) and refusal.http_status == 401 and refusal.detail == reason
    assert refusal.to_problem()["type"] == "urn:exemplars:problem:unauthenticated"
    assert refusal.challenge.startswith('Bearer realm="exemplars"')
    assert ('error="invalid_token"' in refusal.challenge) == (reason != "no-token")


def test_an_expired_token_is_refused_after_the_leeway_only():
    now = dt.datetime.now(dt.timezone.utc)  # the check uses the clock, so this test must too
    old = access.issue(SECRET, sub="a", role=AUDITOR, lifetime=dt.timedelta(hours=1), now=now - dt.timedelta(hours=2))
    refusal = refusal_of(lambda: access.authenticate(SECRET, f"Bearer {old}"))
    assert refusal.detail == "expired" and "hết hạn" in refusal.message
    just = access.issue(SECRET, sub="a", role=AUDITOR, lifetime=dt.timedelta(hours=1),
                        now=now - dt.timedelta(hours=1, seconds=10))
    assert access.authenticate(SECRET, f"Bearer {just}").role == AUDITOR  # 10 s late: within clock skew


def test_a_token_signed_otherwise_is_refused():
    forged = access.issue(b"x" * 32, sub="a", role=OPERATOR)
    assert refusal_of(lambda: access.authenticate(SECRET, f"Bearer {forged}")).detail == "bad-signature"
    header, payload, signature = bearer()[7:].split(".")
    escalated = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"department_officer"', b'"operator"')).decode()
    assert refusal_of(lambda: access.authenticate(SECRET, f"Bearer {header}.{escalated}.{signature}")
                      ).detail == "bad-signature"
    unsigned = jwt.encode({"sub": "a", "role": OPERATOR, "iss": "exemplars", "aud": "exemplars-gateway",
                           "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 60}, None, algorithm="none")
    assert refusal_of(lambda: access.authenticate(SECRET, f"Bearer {unsigned}")).detail == "bad-signature"


@pytest.mark.parametrize("claims", [
    {"aud": "another-service"},
    {"iss": "someone-else"},
    {"role": "superuser"},
    {"role": OFFICER, "department": None},
    {"role": SECRETARY, "council": None},
    {"role": AUDITOR, "department": "hnd"},
    {"sub": "có dấu cách"},
    {"exp": None},
])
def test_a_well_signed_token_with_wrong_claims_is_refused(claims):
    base = {"sub": "a", "role": OFFICER, "department": "hnd", "iss": "exemplars", "aud": "exemplars-gateway",
            "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 600}
    token = jwt.encode({k: v for k, v in (base | claims).items() if v is not None}, SECRET, algorithm="HS256")
    assert refusal_of(lambda: access.authenticate(SECRET, f"Bearer {token}")).detail == "bad-claims"


@pytest.mark.parametrize("claims,field", [
    ({"role": OFFICER}, "role"),
    ({"role": SECRETARY, "department": "hnd"}, "role"),
    ({"role": OPERATOR, "council": "huyen-yen-the"}, "role"),
    ({"role": "admin"}, "role"),
    ({"role": AUDITOR, "lifetime": dt.timedelta(days=365)}, "lifetime"),
    ({"role": AUDITOR, "lifetime": dt.timedelta(0)}, "lifetime"),
])
def test_issuing_refuses_a_role_without_its_scope_or_an_endless_token(claims, field):
    with pytest.raises(InvalidInput) as refused:
        access.issue(SECRET, sub="a", **claims)
    assert refused.value.detail == field
    assert refused.value.message.startswith("Không cấp được mã" if field == "role" else "Thời hạn")


def principal(role, **scope):
    return access.Principal(sub=scope.pop("sub", "ai-do"), role=role, **scope)


OFFICER_HND = principal(OFFICER, department="hnd")
SECRETARY_DISTRICT = principal(SECRETARY, council="huyen-yen-the")


def test_auditors_only_read_and_roles_only_reach_their_routes():
    access.authorize(principal(AUDITOR), (OFFICER, AUDITOR), "GET")
    read_only = refusal_of(lambda: access.authorize(principal(AUDITOR), (OFFICER, AUDITOR, OPERATOR), "POST"))
    assert isinstance(read_only, Forbidden) and read_only.detail == "read-only" and "chỉ được xem" in read_only.message
    wrong = refusal_of(lambda: access.authorize(OFFICER_HND, (OPERATOR,), "GET"))
    assert wrong.http_status == 403 and wrong.detail == "wrong-role" and "cán bộ đơn vị" in wrong.message


def test_scopes_department_council_and_inbox():
    access.check_department(OFFICER_HND, "hnd")
    access.check_department(principal(AUDITOR), "anything")
    assert refusal_of(lambda: access.check_department(OFFICER_HND, "doan-thanh-nien")).detail == "other-department"
    access.check_council(SECRETARY_DISTRICT, "huyen-yen-the")
    assert refusal_of(lambda: access.check_council(SECRETARY_DISTRICT, "tinh-bac-giang")).detail == "other-council"
    access.check_recipient(principal(OPERATOR, sub="me"), "me")
    access.check_recipient(principal(AUDITOR), "anyone")
    assert refusal_of(lambda: access.check_recipient(OFFICER_HND, "someone-else")).detail == "other-recipient"


def test_an_officers_list_and_subscriptions_are_kept_to_their_department():
    assert access.list_filters(OFFICER_HND, {"field": "x"}) == {"field": "x", "department": "hnd"}
    assert access.list_filters(OFFICER_HND, {"department": "hnd"}) == {"department": "hnd"}
    assert refusal_of(lambda: access.list_filters(OFFICER_HND, {"department": "other"})).detail == "other-department"
    assert access.list_filters(principal(AUDITOR), {"department": "other"}) == {"department": "other"}

    assert access.subscription(OFFICER_HND, {"fields": ["f"]})["departments"] == ["hnd"]
    assert access.subscription(OFFICER_HND, {"departments": ["hnd"]})["departments"] == ["hnd"]
    assert refusal_of(lambda: access.subscription(OFFICER_HND, {"departments": ["hnd", "x"]})
                      ).detail == "other-department"
    with pytest.raises(InvalidInput):
        access.subscription(OFFICER_HND, {"departments": "x"})
    assert access.subscription(principal(OPERATOR), {"departments": []}) == {"departments": []}


def test_every_http_route_is_public_by_choice_or_names_its_roles():
    routes = {name: fn for name, fn in vars(GatewayService).items() if hasattr(fn, "nameko_entrypoints")}
    public = sorted(name for name, fn in routes.items() if getattr(fn, "public", False))
    assert public == ["catalog", "councils", "docs", "health", "openapi_document", "ready"]
    unguarded = [name for name, fn in routes.items()
                 if not getattr(fn, "public", False) and not getattr(fn, "required_roles", ())]
    assert unguarded == []
    writes = [name for name, fn in routes.items()
              if any(e.method == "POST" for e in fn.nameko_entrypoints) and AUDITOR in getattr(fn, "required_roles", ())]
    assert writes == []


def test_the_development_secret_is_created_once_and_kept_private(tmp_path):
    first = access.load_secret(dev_dir=tmp_path)
    assert len(first) >= access.MIN_SECRET_BYTES and access.load_secret(dev_dir=tmp_path) == first
    path = tmp_path / access.DEV_SECRET_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and [p.name for p in tmp_path.iterdir()] == [path.name]
    assert access.load_secret(path) == first


def test_processes_starting_together_share_one_development_secret(tmp_path):
    results = []
    threads = [threading.Thread(target=lambda: results.append(access.load_secret(dev_dir=tmp_path)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1


def test_a_configured_secret_must_be_long_enough(tmp_path):
    short = tmp_path / "short"
    short.write_text("too-short\n")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        access.load_secret(short)
    with pytest.raises(OSError):
        access.load_secret(tmp_path / "missing")


def cli(*args, secret_file: Path):
    exe = str(Path(sys.executable).with_name("exemplars"))
    return subprocess.run([exe, "token", "issue", *args], capture_output=True, text=True, timeout=60,
                          env=os.environ | {"GATEWAY_TOKEN_SECRET_FILE": str(secret_file)})


def test_the_cli_issues_a_token_the_gateway_accepts(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s" * 40)
    issued = cli("--sub", "thu-ky-huyen", "--role", SECRETARY, "--council", "huyen-yen-the", "--hours", "2",
                 secret_file=secret_file)
    assert issued.returncode == 0, issued.stderr
    holder = access.authenticate(access.load_secret(secret_file), f"Bearer {issued.stdout.strip()}")
    assert (holder.sub, holder.role, holder.council) == ("thu-ky-huyen", SECRETARY, "huyen-yen-the")
    claims = jwt.decode(issued.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 2 * 3600

    refused = cli("--sub", "a", "--role", OFFICER, secret_file=secret_file)
    assert refused.returncode == 2 and "mã đơn vị" in refused.stderr and not refused.stdout
    missing = cli("--sub", "a", "--role", AUDITOR, secret_file=tmp_path / "nowhere")
    assert missing.returncode == 2 and "Không đọc được khóa" in missing.stderr
