"""`exemplars` against a running system, over the HTTP API only: tables readable at 80 columns,
--json that parses, dd/mm/yyyy dates, problem details shown as their Vietnamese title, the
tokens it is given sent as they are, and the operators' secret routes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import requests

from gateway import access

NOTE = "Hoàn thành chuồng trại và mua giống gà đợt đầu"


def detected(system, **extra) -> str:
    done = system.cli("detect", "--kind", "household", "--name", f"Hộ ông Tám {uuid.uuid4().hex[:4]}", "--field",
                      "household-economy", "--movement", "farmers-good-business", "--unit", "xã Đồng Tâm",
                      "--achievement", "Trang trại gà đồi", "--date", "16/04/2018", **extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"]


def with_env(system, **env):
    """``system.cli`` with more environment (COLUMNS, a token)."""

    def run(*args):
        return subprocess.run([str(Path(sys.executable).with_name("exemplars")), *args], capture_output=True,
                              text=True, env=os.environ | system.env | env, timeout=60)
    return run


def test_history_at_80_columns_keeps_each_content_on_whole_lines(system):
    exemplar_id = detected(system)
    planned = system.cli("plan", exemplar_id, "--unit", "Hội Nông dân huyện", "--milestone", "Mở rộng đàn@30/09/2018",
                         "--date", "25/04/2018")
    assert planned.returncode == 0, planned.stderr
    assert system.cli("progress", exemplar_id, "--note", NOTE, "--date", "28/06/2018").returncode == 0

    narrow = with_env(system, COLUMNS="80")("history", exemplar_id)
    assert narrow.returncode == 0, narrow.stderr
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(NOTE in line for line in lines), narrow.stdout  # the note is not cut into one word per line
    body = [line for line in lines if line.startswith("│") and "Ngày" not in line]
    words_per_cell = [len(line.rstrip(" │").split("│")[-1].split()) for line in body]
    assert sum(words_per_cell) / len(words_per_cell) >= 3, narrow.stdout
    assert "16/04/2018" in narrow.stdout and "28/06/2018" in narrow.stdout and "2018-04-16" not in narrow.stdout

    wide = with_env(system, COLUMNS="160")("history", exemplar_id)
    assert "Ghi nhận lúc (UTC)" in wide.stdout and "Tiến độ bồi dưỡng" in wide.stdout

    entries = json.loads(system.cli("history", exemplar_id, "--json").stdout)
    assert [e["business_date"] for e in entries] == ["2018-04-16", "2018-04-25", "2018-06-28"]
    assert entries[1]["payload"]["milestones"][0]["due"] == "2018-09-30"
    assert entries[0]["recorded_by"] == {"sub": entries[0]["recorded_by"]["sub"], "role": access.OFFICER}


def test_json_is_the_apis_answer_and_parses(system):
    exemplar_id = detected(system)
    officer = system.auth()
    for args, path in [(("show", exemplar_id), f"/exemplars/{exemplar_id}"),
                       (("history", exemplar_id), f"/exemplars/{exemplar_id}/history"),
                       (("list", "--year", "2018", "--limit", "5"), "/exemplars?year=2018&limit=5")]:
        done = system.cli(*args, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == requests.get(system.url(path), headers=officer, timeout=30).json()
    assert "fields" in json.loads(system.cli("catalog", "--json").stdout)
    cases = json.loads(system.cli("council", "cases", "--council", "huyen-yen-the", "--json").stdout)
    assert set(cases) >= {"total", "items"}
    queues = json.loads(system.cli("council", "queues", "--json").stdout)
    assert {row["council"] for row in queues} >= {"huyen-yen-the", "tinh-bac-giang"}
    narrow = with_env(system, COLUMNS="80")
    for args in (("list", "--year", "2018"), ("council", "queues"), ("council", "cases", "--council", "huyen-yen-the")):
        done = narrow(*args)
        assert done.returncode == 0 and max(map(len, done.stdout.splitlines())) <= 80, done.stdout


def test_a_problem_is_shown_as_its_vietnamese_title_with_its_exit_code(system):
    exemplar_id = detected(system)
    body = {"award_form": "giay-khen", "dossier_refs": ["TTr 1"], "achievement": "x", "business_date": "2018-06-01"}
    answered = requests.post(system.url(f"/exemplars/{exemplar_id}/nominations"), json=body, headers=system.auth(),
                             timeout=30)
    assert answered.status_code == 409 and answered.headers["Content-Type"].startswith("application/problem+json")
    problem = answered.json()
    refused = system.cli("nominate", exemplar_id, "--form", "giay-khen", "--dossier", "TTr 1", "--achievement", "x",
                         "--date", "01/06/2018")
    assert refused.returncode == 4 and refused.stdout == ""
    assert " ".join(refused.stderr.split()) == f"Lỗi: {problem['title']}"  # the title, not the English detail
    assert problem["detail"] not in refused.stderr

    invalid = system.cli("progress", exemplar_id, "--note", "x", "--date", "30/02/2018")
    assert invalid.returncode == 2 and "(trường: business_date)" in invalid.stderr and "Traceback" not in invalid.stderr


def test_a_given_token_is_sent_as_it_is(system, tmp_path):
    exemplar_id = detected(system)
    other = system.token(access.OFFICER, department="doan-thanh-nien-yen-the")
    refused = with_env(system, EXEMPLARS_TOKEN=other)("history", exemplar_id)
    assert refused.returncode == 4 and "đơn vị mình" in refused.stderr
    token_file = tmp_path / "token"
    token_file.write_text(system.token(access.OFFICER) + "\n")
    read = system.cli("--token-file", str(token_file), "show", exemplar_id)
    assert read.returncode == 0 and json.loads(read.stdout)["id"] == exemplar_id
    forged = with_env(system, EXEMPLARS_TOKEN="not.a.token")("show", exemplar_id)
    assert forged.returncode == 4 and access.MSG_BAD_TOKEN in forged.stderr
    auditor = with_env(system, EXEMPLARS_TOKEN=system.token(access.AUDITOR))("reseal-secrets")
    assert auditor.returncode == 4 and "chỉ được xem" in auditor.stderr


def test_operators_reseal_and_rotate_webhook_secrets_over_http(system):
    resealed = system.cli("reseal-secrets", "--json")
    assert resealed.returncode == 0, resealed.stderr
    assert isinstance(json.loads(resealed.stdout), dict)
    missing = system.cli("rotate-secret", str(uuid.uuid4()))
    assert missing.returncode == 3 and "Traceback" not in missing.stderr
    extra = requests.post(system.url("/operator/reseal-secrets"), json={"x": 1}, headers=system.auth(access.OPERATOR),
                          timeout=30)
    assert extra.status_code == 400 and extra.json()["field"] == "x"
