"""The audit service answers /audit/* in a process of its own: while it verifies a long log,
the gateway's other routes answer as before, and the verify's answer still comes."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid

import psycopg2
import pytest
import requests

from conftest import (PG_URL_BASE, STEPS, TRUSTED_KEYS_DIR, create_database, detect_data, drop_database,
                      start_system, wait_for)
from gateway.access import AUDITOR
from nominations.application import NominationsApplication
from shared.persistence import eventsourcing_env
from shared.sealer import Sealer
from shared.signing import load_signer

pytestmark = pytest.mark.integration
EVENTS = 400_000  # a verify of several seconds here; `make bench` measures a million (tests/bench/audit_bench.py)
BIG = "nominations-audit-long-log"


def write_long_log(url: str, catalog, events: int) -> int:
    """One exemplar's real lifecycle, stored by the service's own mapper, copied under new ids
    with COPY (the stored state holds no id): a long log in seconds; then sealed and signed
    by its instance's key (which the system trusts), as a running service would."""
    template_app = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the", env={})
    exemplar_id = template_app.detect(detect_data())["id"]
    for step, data in STEPS.items():
        template_app.change(exemplar_id, step, data)
    template = [(n.topic, n.state) for n in template_app.recorder.select_notifications(start=1, limit=100)]
    app = NominationsApplication(catalog=catalog, department="x", env=eventsourcing_env(url))  # its tables
    written, chunk = 0, io.StringIO()
    while written < events:
        originator = uuid.uuid4()
        for version, (topic, state) in enumerate(template, start=1):
            chunk.write(f"{originator}\t{version}\t{topic}\t\\\\x{state.hex()}\n")
        written += len(template)
    chunk.seek(0)
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.copy_expert("COPY nominations_events (originator_id, originator_version, topic, state) FROM STDIN", chunk)
    conn.close()
    sealer = Sealer(app, load_signer(BIG, keys_dir=TRUSTED_KEYS_DIR), batch_size=5000, checkpoint_every=100_000)
    while sealer.seal_pending():
        pass
    sealer.seal_pending(checkpoint=True)
    app.recorder.datastore.engine.dispose()
    return written


@pytest.fixture(scope="module")
def long_log_system(tmp_path_factory, catalog):
    database = create_database()
    url = PG_URL_BASE + database
    written = write_long_log(url, catalog, EVENTS)
    audit_log = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    try:
        for running in start_system(tmp_path_factory, extra_env={
                "AUDIT_SOURCES": f"nominations:{BIG}={url}", "AUDIT_LOG_FILE": str(audit_log)}):
            yield running, written, audit_log
    finally:
        drop_database(database)


def test_the_gateway_answers_health_and_lists_while_the_audit_service_verifies(long_log_system):
    system, written, audit_log = long_log_system
    auditor = system.auth(AUDITOR, sub="kiem-tra-vien-dai")
    verdict = {}
    finished = threading.Event()

    def verify():
        verdict["response"] = requests.get(system.url("/audit/verify"), headers=auditor, timeout=600)
        finished.set()

    threading.Thread(target=verify, daemon=True).start()
    # The audit service logs each use before it starts reading: from then on, the verify runs there.
    wait_for(lambda: audit_log.exists() and '"command": "verify"' in audit_log.read_text(), timeout=60,
             what="the audit service to start verifying")
    answers = []
    for _ in range(3):
        health = requests.get(system.url("/health"), timeout=10)
        listed = requests.get(system.url("/exemplars"), headers=system.auth(), timeout=10)
        answers.append((health.status_code, listed.status_code, finished.is_set()))
    assert answers == [(200, 200, False)] * 3, "the gateway answered only after the verify, or not at all"

    assert finished.wait(600), "the verify never answered"
    response = verdict["response"]
    assert response.status_code == 200, "\n".join(f.read_text()[-3000:] for f in system.logs.iterdir() if f.name in ("audit.log", "gateway.log"))
    reports = {report["instance"]: report for report in response.json()}
    assert reports[BIG]["events"] == reports[BIG]["proven_up_to"] == written
    assert reports[BIG]["ok"], reports[BIG]["findings"][:5]
    used = [json.loads(line) for line in audit_log.read_text().splitlines()]
    assert {"command": "verify", "user": "kiem-tra-vien-dai", "via": "http"}.items() <= used[-1].items()
