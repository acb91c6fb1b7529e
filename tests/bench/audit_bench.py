"""Audit figures for `make bench`: replay and verify of a log of a million events, beside the
library reading and decoding the same log in the same run.

The log is generated straight into a fresh PostgreSQL database: a handful of exemplars'
real lifecycles are encoded once by the service's own mapper, then copied under new
exemplar ids (the stored state does not contain the id) with COPY, so generating a
million events takes seconds, not hours. The sealer then seals it and signs checkpoints,
exactly as a running service does. Replay and verify each run in a child process so
their peak memory is their own.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the shared helpers

from conftest import PG_URL_BASE, STEPS, create_database, detect_data, drop_database  # noqa: E402
from nominations.application import NominationsApplication  # noqa: E402
from shared.catalog import load_catalog  # noqa: E402
from shared.persistence import eventsourcing_env  # noqa: E402
from shared.sealer import Sealer  # noqa: E402
from shared.signing import load_signer  # noqa: E402

INSTANCE = "nominations-bench-audit"


def _template_events(catalog, kind: int) -> list[tuple[str, bytes]]:
    """One exemplar's lifecycle as the service stores it: (topic, state) per event."""
    app = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the", env={})
    fields = ["household-economy", "new-rural-areas"]
    exemplar_id = app.detect(detect_data(name=f"Hộ mẫu {kind}", field=fields[kind % 2]))["id"]
    for step, data in STEPS.items():
        app.change(exemplar_id, step, data)
    for n in range(12 + kind):  # 20-27 events each
        app.change(exemplar_id, "record_progress", {"note": f"Tiến độ tháng {n + 1}", "business_date": "2018-11-01"})
    notifications = app.recorder.select_notifications(start=1, limit=1000)
    return [(n.topic, n.state) for n in notifications]


def generate(url: str, events: int, log) -> int:
    """Write at least ``events`` events with COPY; return how many were written."""
    catalog = load_catalog()
    templates = [_template_events(catalog, kind) for kind in range(8)]
    NominationsApplication(catalog=catalog, department="x", env=eventsourcing_env(url))  # creates the tables
    conn = psycopg2.connect(url)
    written, chunk, kind = 0, io.StringIO(), 0
    started = time.perf_counter()
    with conn, conn.cursor() as cur:
        while written < events:
            template = templates[kind % len(templates)]
            kind += 1
            exemplar_id = uuid.uuid4()
            for version, (topic, state) in enumerate(template, start=1):
                chunk.write(f"{exemplar_id}\t{version}\t{topic}\t\\\\x{state.hex()}\n")
            written += len(template)
            if chunk.tell() > 32_000_000 or written >= events:
                chunk.seek(0)
                cur.copy_expert("COPY nominations_events (originator_id, originator_version, topic, state) "
                                "FROM STDIN", chunk)
                chunk = io.StringIO()
                log(f"  generated {written:,} events ({written / (time.perf_counter() - started):,.0f}/s)")
    conn.close()
    return written


def child(task: str, url: str, keys: str) -> dict:
    """Run in a child process: one measured pass over the log; print figures as JSON."""
    from audit import toolkit as audit
    from nominations.projections import ExemplarListProjection
    from shared.signing import TrustedKeys
    from sqlalchemy import create_engine

    source = audit.LogSource("nominations", INSTANCE, url)
    app = audit.open_log(source)
    started = time.perf_counter()
    if task == "bare_read":
        count = 0
        start = 1
        while True:  # the library alone: read a page, decode every event
            page = app.recorder.select_notifications(start=start, limit=audit.PAGE)
            for notification in page:
                app.mapper.to_domain_event(notification)
            count += len(page)
            if len(page) < audit.PAGE:
                break
            start = page[-1].id + 1
        figures = {"events": count}
    elif task == "replay":
        with tempfile.TemporaryDirectory() as work:
            scratch = create_engine(f"sqlite:///{work}/replay.sqlite")
            count, table = audit.replay_into(app, ExemplarListProjection, scratch)
            with scratch.connect() as conn:
                rows = conn.exec_driver_sql(f"SELECT count(*) FROM {table.name}").scalar()
        figures = {"events": count, "rows": rows}
    else:
        report = audit.verify_source(source, TrustedKeys(keys))
        figures = {"events": report.events, "ok": report.ok, "proven_up_to": report.proven_up_to}
    seconds = time.perf_counter() - started
    return figures | {"seconds": seconds, "events_per_s": figures["events"] / seconds,
                      "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's own high-water mark (getrusage would count the parent's, kept across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measured(task: str, url: str, keys: str) -> dict:
    done = subprocess.run([sys.executable, __file__, task, url, keys], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"audit bench {task} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(events: int, log) -> dict:
    database = create_database()
    url = PG_URL_BASE + database
    try:
        with tempfile.TemporaryDirectory() as keys:
            written = generate(url, events, log)
            app = NominationsApplication(catalog=load_catalog(), department="x", env=eventsourcing_env(url))
            sealer = Sealer(app, load_signer(INSTANCE, keys_dir=keys), batch_size=5000, checkpoint_every=100_000)
            started = time.perf_counter()
            sealed = 0
            while True:  # checkpoints every 100,000 events, as a service catching up would sign them
                count = sealer.seal_pending()
                sealed += count
                if count == 0:
                    break
            sealer.seal_pending(checkpoint=True)
            seal_seconds = time.perf_counter() - started
            log(f"  sealed {sealed:,} events in {seal_seconds:.0f} s")
            app.recorder.datastore.engine.dispose()
            figures = {}
            for task in ("bare_read", "replay", "verify"):
                figures[task] = measured(task, url, keys)
                log(f"  {task}: {figures[task]['events']:,} events at {figures[task]['events_per_s']:,.0f}/s, "
                    f"peak {figures[task]['peak_rss_mb']:.0f} MB")
            if not figures["verify"]["ok"] or figures["verify"]["proven_up_to"] == 0:
                raise RuntimeError(f"the generated log did not verify: {figures['verify']}")
            bare = figures["bare_read"]["events_per_s"]
            return {
                "audit_log_events": written,
                "seal_events_per_s": round(sealed / seal_seconds),
                "bare_read_events_per_s": round(bare),
                "replay_events_per_s": round(figures["replay"]["events_per_s"]),
                "verify_events_per_s": round(figures["verify"]["events_per_s"]),
                "replay_vs_bare_read": round(figures["replay"]["events_per_s"] / bare, 2),
                "verify_vs_bare_read": round(figures["verify"]["events_per_s"] / bare, 2),
                "replay_peak_rss_mb": round(figures["replay"]["peak_rss_mb"]),
                "verify_peak_rss_mb": round(figures["verify"]["peak_rss_mb"]),
                "bare_read_peak_rss_mb": round(figures["bare_read"]["peak_rss_mb"]),
            }
    finally:
        drop_database(database)


if __name__ == "__main__":
    if len(sys.argv) == 4:
        print(json.dumps(child(*sys.argv[1:])))
    else:  # by hand: python tests/bench/audit_bench.py [events]
        print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, print)))
