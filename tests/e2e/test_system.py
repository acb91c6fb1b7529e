"""End to end: the services as real `nameko run` processes, driven over HTTP and the CLI."""

import concurrent.futures
import os
import shutil
import subprocess

import pytest
import requests

from conftest import AMQP_URI, LIFECYCLE, ROOT, STEPS, detect_data
from dev import launcher
from gateway.http import ACTIONS

pytestmark = pytest.mark.integration
ACTION_OF = {command: action for action, command in ACTIONS.items()}


def post(system, path, body, headers=None, **kwargs):
    return requests.post(system.url(path), json=body, timeout=30, headers=system.auth_for(path) | (headers or {}),
                         **kwargs)


def get(system, path, **kwargs):
    return requests.get(system.url(path), timeout=30, headers=system.auth_for(path), **kwargs)


def test_an_exemplar_from_detection_to_replication_over_http(system):
    created = post(system, "/exemplars", detect_data())
    assert created.status_code == 201
    exemplar_id = created.json()["id"]
    assert created.headers["Location"] == f"/exemplars/{exemplar_id}"
    for step in LIFECYCLE:
        response = post(system, f"/exemplars/{exemplar_id}/{ACTION_OF[step]}", STEPS[step])
        assert response.status_code == 200, response.text
    history = get(system, f"/exemplars/{exemplar_id}/history").json()
    officers = [h["type"].split(".")[1] for h in history if h["type"] != "exemplar.council_case_progressed"]
    assert officers == [
        "detected", "nurture_planned", "progress_recorded", "reviewed", "endorsed", "nominated", "publicized",
        "adoption_started",
    ]  # the district council's "case opened" lands in between, when it arrives
    assert all(h["business_date"] and h["recorded_at"] for h in history)
    listed = get(system, "/exemplars", params={"stage": "replicating", "field": "household-economy"}).json()
    assert exemplar_id in [item["id"] for item in listed["items"]]


def test_http_errors_are_problem_details(system):
    bad = post(system, "/exemplars", detect_data(field="astrology"))
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("application/problem+json")
    assert bad.json()["field"] == "field" and "danh mục" in bad.json()["title"]

    not_json = requests.post(system.url("/exemplars"), data="{oops", timeout=30, headers=system.auth_for("/exemplars"))
    assert not_json.status_code == 400 and not_json.json()["field"] == "body"

    missing = get(system, "/exemplars/7d1c0a52-1d43-4a55-9d1c-3a2b8c1e0f00")
    assert missing.status_code == 404

    exemplar_id = post(system, "/exemplars", detect_data()).json()["id"]
    early = post(system, f"/exemplars/{exemplar_id}/nominations", STEPS["nominate"])
    assert early.status_code == 409 and early.json()["rule"] == "review-required"
    assert "sơ kết" in early.json()["title"]
    history = get(system, f"/exemplars/{exemplar_id}/history").json()
    assert len(history) == 1  # nothing stored

    stale = post(system, f"/exemplars/{exemplar_id}/nurture-plan", STEPS["plan_nurture"], headers={"If-Match": "7"})
    assert stale.status_code == 409 and stale.json()["type"].endswith("concurrent-change")

    unknown = post(system, f"/exemplars/{exemplar_id}/teleport", {})
    assert unknown.status_code == 400 and unknown.json()["field"] == "action"


def test_concurrent_http_changes_one_wins_the_other_conflicts(system):
    exemplar_id = post(system, "/exemplars", detect_data()).json()["id"]
    post(system, f"/exemplars/{exemplar_id}/nurture-plan", STEPS["plan_nurture"])

    def progress(n):
        body = {"note": f"ghi chú {n}", "business_date": "2018-06-01"}
        return n, post(system, f"/exemplars/{exemplar_id}/progress", body, headers={"If-Match": "2"}).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = dict(pool.map(progress, range(4)))
    assert sorted(results.values()) == [200, 409, 409, 409]
    winner = next(n for n, status in results.items() if status == 200)
    notes = [h["payload"].get("note") for h in get(system, f"/exemplars/{exemplar_id}/history").json()]
    assert notes == [None, None, f"ghi chú {winner}"]


def test_cli_detects_lists_and_refuses_with_a_vietnamese_message(system):
    detected = system.cli("detect", "--kind", "household", "--name", "Hộ bà Lương Thị Hoa", "--field",
                          "household-economy", "--movement", "farmers-good-business", "--unit", "xã Tam Tiến",
                          "--achievement", "Nuôi ong lấy mật", "--date", "2018-05-03")
    assert detected.returncode == 0, detected.stderr
    exemplar_id = __import__("json").loads(detected.stdout)["id"]

    refused = system.cli("nominate", exemplar_id, "--form", "giay-khen", "--dossier", "TTr 1", "--achievement", "x",
                         "--date", "2018-06-01")
    assert refused.returncode == 4 and "sơ kết" in refused.stderr

    invalid = system.cli("progress", exemplar_id, "--note", "x", "--date", "2018-02-30")
    assert invalid.returncode == 2 and "business_date" in invalid.stderr

    missing = system.cli("history", "7d1c0a52-1d43-4a55-9d1c-3a2b8c1e0f00")
    assert missing.returncode == 3 and "Không tìm thấy" in missing.stderr

    listed = system.cli("list", "--year", "2018", "--json")
    assert listed.returncode == 0 and exemplar_id in listed.stdout


def test_a_broken_catalog_stops_the_service_naming_file_and_entry(tmp_path):
    catalogs = tmp_path / "catalogs"
    shutil.copytree(ROOT / "shared/catalogs", catalogs)
    (catalogs / "fields.yaml").write_text("- code: health\n  name: Y tế\n", encoding="utf-8")
    started = subprocess.run(
        launcher.command_for("nominations"), cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=launcher.environment_for("nominations", os.environ | {
            "CATALOG_DIR": str(catalogs), "AMQP_URI": AMQP_URI,
            "NOMINATIONS_DATABASE_URL": f"sqlite:///{tmp_path / 'n.sqlite'}"}),
    )
    assert started.returncode != 0
    assert "fields.yaml, entry 1 ('health')" in started.stderr and "lead_unit" in started.stderr


@pytest.mark.parametrize("path,field", [
    ("/exemplars?year=abc", "year"),
    ("/exemplars?colour=red", "colour"),
    ("/councils/huyen-yen-the/awards?year=hai-nghin", "year"),
])
def test_bad_list_filters_are_invalid_input_not_a_server_error(system, path, field):
    response = get(system, path)
    assert response.status_code == 400 and response.json()["field"] == field


def test_auditors_read_timeline_state_proof_and_report_over_http(system):
    """The auditor's read-only endpoints, computed by the gateway from every instance's log."""
    from conftest import wait_for
    from gateway import access

    exemplar_id = post(system, "/exemplars", detect_data(name="Hộ bà Nguyễn Thị Lan")).json()["id"]
    for step in LIFECYCLE:
        assert post(system, f"/exemplars/{exemplar_id}/{ACTION_OF[step]}", STEPS[step]).status_code == 200
    auditor = system.auth(access.AUDITOR, sub="thanh-tra-noi-vu")

    def audit_get(path, **params):
        return requests.get(system.url(path), params=params, headers=auditor, timeout=60)

    timeline = wait_for(lambda: [e for e in audit_get(f"/audit/timeline/{exemplar_id}").json()
                                 if e["service"] == "awards"] and audit_get(f"/audit/timeline/{exemplar_id}").json(),
                        what="the district council's case on the timeline")
    services = {e["service"] for e in timeline}
    assert {"nominations", "awards"} <= services and timeline == sorted(timeline, key=lambda e: e["recorded_at"])
    assert {e["type"] for e in timeline} >= {"exemplar.detected", "case.opened", "exemplar.adoption_started"}
    assert all(e["instance"] and e["recorded_at"] for e in timeline)
    page = audit_get(f"/audit/timeline/{exemplar_id}", format="html")
    assert page.headers["Content-Type"].startswith("text/html") and "Dòng thời gian" in page.text

    def all_proven():
        reports = audit_get("/audit/verify").json()
        return reports if all(r["ok"] and r["unproven_tail"] == 0 for r in reports) else None

    reports = wait_for(all_proven, timeout=30, what="every log sealed and checkpointed")
    assert {r["log"] for r in reports} == {"Nominations", "Awards", "Notifications"}
    assert all(r["proven_up_to"] > 0 for r in reports if r["log"] == "Nominations")

    state = audit_get(f"/audit/as-of/{exemplar_id}", at="2018-06-30").json()
    assert state["state"]["stage"] == "nurturing" and state["service"] == "nominations"
    register = audit_get("/audit/register", at="2018-06-30").json()
    assert exemplar_id in [row["id"] for row in register]
    report = audit_get("/audit/reports/2018", format="csv")
    assert report.status_code == 200 and report.text.startswith("Mục,Mã,Tên,Năm 2018,Năm 2017")
    assert audit_get("/audit/as-of/not-a-date", at="yesterday").status_code == 400
    assert audit_get("/audit/timeline/khong-phai-ma").status_code == 400

    officer = requests.get(system.url("/audit/verify"), headers=system.auth(), timeout=30)
    assert officer.status_code == 403
    assert requests.get(system.url("/audit/verify"), timeout=30).status_code == 401
