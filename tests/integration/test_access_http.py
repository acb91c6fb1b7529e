"""Access to the HTTP API, end to end: real services, real tokens, the gateway's own log."""

import datetime as dt
import json
import uuid

import pytest
import requests

from conftest import STEPS, detect_data, wait_for
from cli.client import REPLAYED
from gateway import access
from gateway.access import AUDITOR, OFFICER, OPERATOR, SECRETARY

pytestmark = pytest.mark.integration
DEPARTMENT, OTHER_DEPARTMENT = "hoi-nong-dan-yen-the", "doan-thanh-nien-yen-the"
DISTRICT, PROVINCE = "huyen-yen-the", "tinh-bac-giang"


def call(system, method, path, headers=None, **kwargs):
    return requests.request(method, system.url(path), headers=headers or {}, timeout=30, **kwargs)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def gateway_log(system) -> str:
    return (system.logs / "gateway.log").read_text(errors="replace")


def refusal_logged(system, method, path, status, reason, role="-"):
    """The refusal's line in the gateway's log, once it is there."""
    needle = f"access refused: {method} {path} -> {status} {reason}; role={role}"
    return wait_for(lambda: [line for line in gateway_log(system).splitlines() if needle in line],
                    timeout=10, what=f"the log line {needle!r}")[0]


def assert_problem(response, status, reason):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["reason"] == reason
    assert body["type"] == f"urn:exemplars:problem:{'unauthenticated' if status == 401 else 'forbidden'}"
    return body


@pytest.fixture(scope="module")
def exemplar_id(system):
    """One exemplar of the department this system records for, with a nurture plan."""
    created = call(system, "POST", "/exemplars", system.auth(), json=detect_data())
    assert created.status_code == 201, created.text
    exemplar_id = created.json()["id"]
    planned = call(system, "POST", f"/exemplars/{exemplar_id}/nurture-plan", system.auth(), json=STEPS["plan_nurture"])
    assert planned.status_code == 200, planned.text
    return exemplar_id


def test_health_readiness_catalog_and_councils_need_no_token(system):
    for path in ("/health", "/ready", "/catalog", "/councils"):
        assert call(system, "GET", path).status_code == 200, path


@pytest.mark.parametrize("method,path", [
    ("GET", "/exemplars"),
    ("POST", "/exemplars"),
    ("GET", f"/councils/{DISTRICT}/cases"),
    ("GET", "/operator/parked"),
    ("POST", "/subscriptions"),
    ("GET", "/inbox/hoi-nong-dan-tinh"),
])
def test_no_token_is_401_with_a_bearer_challenge_and_is_logged(system, method, path):
    response = call(system, method, path, json={})
    body = assert_problem(response, 401, "no-token")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="exemplars"'
    assert "mã truy cập" in body["title"]
    refusal_logged(system, method, path, 401, "no-token")


def test_a_malformed_expired_or_forged_token_is_401_and_the_token_never_reaches_the_log(system, exemplar_id):
    path = f"/exemplars/{exemplar_id}"
    expired = access.issue(system.token_secret, sub="het-han", role=AUDITOR, lifetime=dt.timedelta(hours=1),
                           now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3))
    forged = access.issue(b"not-this-systems-secret-but-long-enough", sub="gia-mao", role=OPERATOR)
    for headers, reason in (
        ({"Authorization": "Bearer khong.phai.jwt"}, "malformed"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "not-bearer"),
        (bearer(expired), "expired"),
        (bearer(forged), "bad-signature"),
    ):
        response = call(system, "GET", path, headers)
        body = assert_problem(response, 401, reason)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="exemplars", error="invalid_token"'
        assert ("hết hạn" if reason == "expired" else "không hợp lệ") in body["title"]
        refusal_logged(system, "GET", path, 401, reason)
    log = gateway_log(system)
    assert expired not in log and forged not in log and expired.split(".")[2] not in log


@pytest.mark.parametrize("role,scope,method,path", [
    (SECRETARY, {"council": DISTRICT}, "GET", "/exemplars"),
    (OPERATOR, {}, "POST", "/exemplars"),
    (OFFICER, {}, "GET", "/operator/parked"),
    (OFFICER, {}, "POST", "/operator/replay"),
    (OFFICER, {}, "GET", f"/councils/{DISTRICT}/cases"),
    (SECRETARY, {"council": DISTRICT}, "POST", "/subscriptions"),
    (AUDITOR, {}, "POST", "/subscriptions"),
])
def test_a_role_outside_the_route_is_403_and_logged(system, role, scope, method, path):
    response = call(system, method, path, system.auth(role, **scope), json={})
    reason = "read-only" if role == AUDITOR else "wrong-role"
    assert "Vai trò" in assert_problem(response, 403, reason)["title"]
    refusal_logged(system, method, path, 403, reason, role=system_scope(role, scope))


def system_scope(role, scope):
    where = scope.get("department") or scope.get("council") or (DEPARTMENT if role == OFFICER else None)
    return f"{role} of {where}" if where else role


def test_an_officer_of_another_department_can_neither_read_nor_change_nor_record(system, exemplar_id):
    other = system.auth(OFFICER, sub="can-bo-doan-thanh-nien", department=OTHER_DEPARTMENT)
    before = call(system, "GET", f"/exemplars/{exemplar_id}/history", system.auth()).json()
    for method, path, body in (
        ("GET", f"/exemplars/{exemplar_id}", None),
        ("GET", f"/exemplars/{exemplar_id}/history", None),
        ("POST", f"/exemplars/{exemplar_id}/progress", STEPS["record_progress"]),
        ("GET", f"/exemplars?department={DEPARTMENT}", None),
        ("POST", "/exemplars", detect_data()),
    ):
        response = call(system, method, path, other, json=body)
        assert "đơn vị mình" in assert_problem(response, 403, "other-department")["title"], path
        line = refusal_logged(system, method, path.split("?")[0], 403, "other-department",
                              role=f"department_officer of {OTHER_DEPARTMENT}")
        assert "sub=can-bo-doan-thanh-nien" in line
    assert call(system, "GET", f"/exemplars/{exemplar_id}/history", system.auth()).json() == before  # nothing stored

    # Without a filter, their list is forced to their own department: none of ours in it.
    theirs = call(system, "GET", "/exemplars", other)
    assert theirs.status_code == 200 and theirs.json() == {"total": 0, "items": [], "parked_events": 0}
    ours = call(system, "GET", "/exemplars", system.auth()).json()
    assert exemplar_id in [item["id"] for item in ours["items"]]
    assert {item["department"] for item in ours["items"]} == {DEPARTMENT}


def test_the_officer_of_the_department_reads_and_changes_its_exemplar(system, exemplar_id):
    officer = system.auth()
    assert call(system, "GET", f"/exemplars/{exemplar_id}", officer).json()["department"] == DEPARTMENT
    assert call(system, "GET", f"/exemplars/{exemplar_id}/history", officer).status_code == 200
    progress = {"note": "Kiểm tra quyền", "business_date": "2018-06-30"}
    assert call(system, "POST", f"/exemplars/{exemplar_id}/progress", officer, json=progress).status_code == 200


def test_a_secretary_of_another_council_is_403_on_its_cases_and_awards(system):
    province = system.auth(SECRETARY, sub="thu-ky-tinh", council=PROVINCE)
    case_id = str(uuid.uuid4())
    for method, path, body in (
        ("GET", f"/councils/{DISTRICT}/cases", None),
        ("GET", f"/councils/{DISTRICT}/cases/{case_id}", None),
        ("POST", f"/councils/{DISTRICT}/cases/{case_id}/appraisal", {"passed": True}),
        ("GET", f"/councils/{DISTRICT}/awards", None),
        ("POST", f"/councils/{DISTRICT}/awards/{case_id}/revocation", {}),
    ):
        response = call(system, method, path, province, json=body)
        assert "hội đồng mình" in assert_problem(response, 403, "other-council")["title"]
        refusal_logged(system, method, path, 403, "other-council", role=f"council_secretary of {PROVINCE}")
    assert call(system, "GET", f"/councils/{PROVINCE}/cases", province).status_code == 200
    assert call(system, "GET", f"/councils/{DISTRICT}/cases", system.auth(SECRETARY, council=DISTRICT)).status_code == 200


def test_an_auditor_reads_everything_and_changes_nothing(system, exemplar_id):
    auditor = system.auth(AUDITOR, sub="kiem-tra-vien")
    for path in (f"/exemplars/{exemplar_id}", f"/exemplars/{exemplar_id}/history", "/exemplars",
                 f"/exemplars?department={OTHER_DEPARTMENT}", f"/councils/{DISTRICT}/cases",
                 f"/councils/{PROVINCE}/awards", "/operator/parked", "/deliveries?event=x/1",
                 "/inbox/hoi-nong-dan-tinh"):
        assert call(system, "GET", path, auditor).status_code == 200, path
    for path, body in ((f"/exemplars/{exemplar_id}/progress", STEPS["record_progress"]),
                       (f"/councils/{DISTRICT}/cases/{uuid.uuid4()}/decision", {}),
                       ("/operator/replay", {"delivery_ids": []}),
                       ("/inbox/kiem-tra-vien/read", {"delivery_ids": []})):
        response = call(system, "POST", path, auditor, json=body)
        assert "chỉ được xem" in assert_problem(response, 403, "read-only")["title"]
        refusal_logged(system, "POST", path, 403, "read-only", role="auditor")


def test_operators_see_and_replay_parked_deliveries_officers_do_not(system):
    operator = system.auth(OPERATOR, sub="van-hanh")
    assert call(system, "GET", "/operator/parked", operator).status_code == 200
    replayed = call(system, "POST", "/operator/replay", operator, json={"delivery_ids": []})
    assert replayed.status_code == 200 and replayed.json() == {"replayed": []}
    assert call(system, "GET", "/deliveries?event=x/1", operator).status_code == 200
    assert_problem(call(system, "GET", "/operator/parked", system.auth()), 403, "wrong-role")
    assert_problem(call(system, "GET", "/exemplars", operator), 403, "wrong-role")


def test_an_inbox_is_its_recipients_and_an_officers_subscription_stays_in_its_department(system):
    mine = system.auth(OPERATOR, sub="hoi-nong-dan-tinh")
    assert call(system, "GET", "/inbox/hoi-nong-dan-tinh", mine).status_code == 200
    assert call(system, "POST", "/inbox/hoi-nong-dan-tinh/read", mine, json={"delivery_ids": []}).json() == {"marked": 0}
    someone_else = system.auth(SECRETARY, sub="thu-ky-huyen", council=DISTRICT)
    for method in ("GET", "POST"):
        path = "/inbox/hoi-nong-dan-tinh" + ("/read" if method == "POST" else "")
        response = call(system, method, path, someone_else, json={"delivery_ids": []})
        assert "hộp thư của chính mình" in assert_problem(response, 403, "other-recipient")["title"]
        refusal_logged(system, method, path, 403, "other-recipient", role=f"council_secretary of {DISTRICT}")

    subscription = {"recipient_id": "can-bo-hnd", "recipient_kind": "person", "name": "Cán bộ Hội Nông dân",
                    "channels": [{"channel": "inbox"}]}
    officer = system.auth(sub="can-bo-hnd")
    refused = call(system, "POST", "/subscriptions", officer, json=subscription | {"departments": [OTHER_DEPARTMENT]})
    assert_problem(refused, 403, "other-department")
    created = call(system, "POST", "/subscriptions", officer, json=subscription)
    assert created.status_code == 201, created.text
    muted = call(system, "POST", f"/subscriptions/{created.json()['id']}/preferences", officer, json={"muted": True})
    assert muted.status_code == 200, muted.text


def test_a_post_retried_with_its_idempotency_key_changes_nothing_twice_and_says_who_asked(system):
    officer = system.auth(sub="can-bo-thu-lai")
    key = {"Idempotency-Key": f"detect-{uuid.uuid4().hex}"}
    first = call(system, "POST", "/exemplars", officer | key, json=detect_data(name="Hộ ông Lương Văn Thử"))
    again = call(system, "POST", "/exemplars", officer | key, json=detect_data(name="Hộ ông Lương Văn Thử"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    exemplar_id = first.json()["id"]
    other = call(system, "POST", "/exemplars", officer | key, json=detect_data(name="Hộ bà Khác"))
    assert other.status_code == 409 and other.json()["type"] == "urn:exemplars:problem:idempotency-key-reused"
    listed = call(system, "GET", "/exemplars", officer, params={"limit": 1000}).json()["items"]
    assert [item["name"] for item in listed].count("Hộ ông Lương Văn Thử") == 1

    step = {"Idempotency-Key": "plan-1", "If-Match": "1"}
    planned = [call(system, "POST", f"/exemplars/{exemplar_id}/nurture-plan", officer | step,
                    json=STEPS["plan_nurture"]) for _ in range(2)]
    assert [p.status_code for p in planned] == [200, 200] and planned[0].json() == planned[1].json()
    history = call(system, "GET", f"/exemplars/{exemplar_id}/history", officer).json()
    assert [h["type"] for h in history] == ["exemplar.detected", "exemplar.nurture_planned"]
    assert {h["recorded_by"]["sub"] for h in history} == {"can-bo-thu-lai"}
    assert {h["recorded_by"]["role"] for h in history} == {OFFICER}

    malformed = call(system, "POST", f"/exemplars/{exemplar_id}/progress", officer | {"Idempotency-Key": "has space"},
                     json={"note": "x", "business_date": "2018-06-30"})
    assert malformed.status_code == 400 and malformed.json()["field"] == "Idempotency-Key"
    assert len(call(system, "GET", f"/exemplars/{exemplar_id}/history", officer).json()) == 2


def test_the_cli_sends_a_key_so_a_command_run_again_with_it_changes_nothing(system):
    args = ["detect", "--kind", "household", "--name", "Hộ ông Chạy Lại", "--field", "household-economy",
            "--movement", "farmers-good-business", "--unit", "xã Đồng Tâm", "--achievement", "Trang trại",
            "--date", "2018-04-16", "--idempotency-key", f"cli-{uuid.uuid4().hex}"]
    runs = [system.cli(*args) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    first, again = (json.loads(r.stdout) for r in runs)
    assert again["id"] == first["id"] and again == first  # the API's answer; that it is replayed is said aside
    assert REPLAYED in runs[1].stderr and REPLAYED not in runs[0].stderr
    history = system.cli("history", first["id"], "--json")
    assert history.returncode == 0, history.stderr
    entries = json.loads(history.stdout)
    assert len(entries) == 1 and entries[0]["recorded_by"]["sub"].startswith("cli.")
