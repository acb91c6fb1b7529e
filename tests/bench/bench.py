"""`make bench`: the nominations service measured against its bare limits, in one run.

On this machine's RabbitMQ (its own vhost) and PostgreSQL it starts the nominations
service as a real process, drives exemplars through their lifecycle over RPC from
several clients and counts the wire events a consumer receives. In the same run it
measures what the parts can do alone: the event store appending the same events, and
kombu publishing as many persistent, confirmed messages. Last, it times loading an
exemplar with 10,000 events (snapshotted) against one with 10.

Progress goes to stderr; stdout is a table and, as its last line, one JSON object.
Exit code 0 even when a target is missed (this is a measurement); non-zero when
something broke (the service did not start, events went missing, ...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # printed on importing nameko

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the shared helpers

import kombu  # noqa: E402
from eventsourcing.persistence import StoredEvent  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from conftest import (  # noqa: E402
    LIFECYCLE,
    PG_URL_BASE,
    STEPS,
    create_database,
    detect_data,
    drop_database,
    nameko_run,
    rabbitmqctl,
)
from nominations.application import SNAPSHOT_INTERVAL, NominationsApplication  # noqa: E402
from shared.catalog import load_catalog  # noqa: E402
from shared.persistence import eventsourcing_env  # noqa: E402
from shared.relay import events_exchange  # noqa: E402

SERVICE = "nominations"
DEPARTMENT = "hoi-nong-dan-yen-the"
EVENTS_PER_EXEMPLAR = 1 + len(LIFECYCLE)  # detect, then one event per lifecycle step
DRAIN_TIMEOUT_S = 60
# Durable like a real consumer's (nameko event handler) queue, so persistent messages
# are written to disk as they are in production. The run's vhost goes with everything.
QUEUE_OPTIONS = {"durable": True, "auto_delete": False}
LONG, SHORT = 10_000, 10  # events of the two exemplars whose load times are compared
SAVE_CHUNK = 500
LOADS = 20

TARGETS = {  # key -> (description, passes)
    "published_vs_bare_append": ("≥ 0.5", lambda v: v >= 0.5),
    "relay_drain_ms": ("≤ 1000", lambda v: v <= 1000),
    "load_ratio": ("≤ 3", lambda v: v <= 3),
    "order_violations": ("0", lambda v: v == 0),
}

progress = Console(stderr=True)


# -- the service -----------------------------------------------------------------------


def wait_until_serving(process: subprocess.Popen, amqp_uri: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    # Until the service binds its queue, each call comes back at once as UnknownService and
    # py-amqp warns about the publisher confirm that follows: not worth a line each time.
    logging.getLogger("amqp").setLevel(logging.ERROR)
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=2) as rpc:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited with code {process.returncode}")
            try:
                rpc.nominations.catalog()
                return
            except Exception:  # noqa: BLE001 - not up yet (unknown service, timeout)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the service did not answer RPC within {timeout:.0f} s") from None
                time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- the consumer ------------------------------------------------------------------------


class EventCollector(threading.Thread):
    """Receives wire events as any consumer would; records order and arrival."""

    def __init__(self, amqp_uri: str, exchange: kombu.Exchange, expected: int):
        super().__init__(name=f"collector-{exchange.name}", daemon=True)
        self.amqp_uri = amqp_uri
        self.expected = expected
        self.queue = kombu.Queue(f"bench-{exchange.name}", exchange, routing_key="#", **QUEUE_OPTIONS)
        self.ready = threading.Event()
        self.complete = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.seen: set[int] = set()  # notification ids: the relay publishes at least once
        self.last_version: dict[str, int] = {}
        self.duplicates = 0
        self.order_violations = 0
        self.last_arrival: float | None = None
        self.sample: dict | None = None  # one real wire event, for the bare publish

    def start_consuming(self) -> None:
        """Start, and return once the queue is bound: from then on it sees every event."""
        self.start()
        if not self.ready.wait(10) or self.error:
            raise RuntimeError("the event consumer could not start") from self.error

    def close(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=10)

    def run(self) -> None:
        try:
            with kombu.Connection(self.amqp_uri) as conn:
                with conn.Consumer(self.queue, callbacks=[self._on_message], no_ack=True, accept=["json"]):
                    self.ready.set()
                    while not self.stopping.is_set():
                        try:
                            conn.drain_events(timeout=0.2)
                        except socket.timeout:
                            pass
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
            self.ready.set()

    def _on_message(self, body: dict, message: kombu.Message) -> None:
        arrival = time.perf_counter()
        if body["notification_id"] in self.seen:
            self.duplicates += 1
            return
        self.seen.add(body["notification_id"])
        aggregate, version = body["aggregate_id"], body["aggregate_version"]
        previous = self.last_version.get(aggregate, 0)
        if version <= previous:
            self.order_violations += 1
        self.last_version[aggregate] = max(version, previous)
        self.last_arrival = arrival
        self.sample = body
        if len(self.seen) == self.expected:
            self.complete.set()


# -- the load ----------------------------------------------------------------------------


def drive_load(amqp_uri: str, exemplars: int, clients: int) -> tuple[float, float]:
    """Every exemplar through its lifecycle over RPC; return (start, last reply) perf_counter times."""
    work: queue.Queue[int] = queue.Queue()
    for n in range(exemplars):
        work.put(n)
    barrier = threading.Barrier(clients + 1)  # connections are set up before the clock starts
    finished: list[float] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60) as rpc:
                barrier.wait()
                while True:
                    try:
                        n = work.get_nowait()
                    except queue.Empty:
                        break
                    exemplar_id = rpc.nominations.detect(detect_data(name=f"Hộ đo tải số {n}"))["id"]
                    for version, step in enumerate(LIFECYCLE, start=2):
                        reply = rpc.nominations.change(exemplar_id, step, STEPS[step])
                        if reply["version"] != version:
                            raise RuntimeError(f"{step} on {exemplar_id}: version {reply['version']}, not {version}")
                finished.append(time.perf_counter())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=client, name=f"client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed") from errors[0]
    return start, max(finished)


def cpu_seconds(service_pid: int) -> dict[str, float]:
    """CPU seconds used so far by each party, and by the whole machine (busy, all cores)."""
    tick = os.sysconf("SC_CLK_TCK")

    def process(pid: int | str) -> tuple[str, float]:
        stat = Path(f"/proc/{pid}/stat").read_text()
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        # utime + stime, and cutime + cstime: PostgreSQL backends that exit are counted in the postmaster
        return comm, sum(int(f) for f in fields[11:15]) / tick

    used = {
        "service": process(service_pid)[1],
        "bench clients": process(os.getpid())[1],
        "postgres (server)": 0.0,
        "rabbitmq (broker)": 0.0,
    }
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm, seconds = process(entry.name)
            except (FileNotFoundError, ProcessLookupError):
                continue
            party = {"postgres": "postgres (server)", "beam.smp": "rabbitmq (broker)"}.get(comm)
            if party:
                used[party] += seconds
    cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    used["whole machine"] = (sum(cpu) - cpu[3] - cpu[4]) / tick  # all but idle and iowait
    return used


# -- the bare limits -------------------------------------------------------------------


def open_app(catalog, url: str) -> NominationsApplication:
    return NominationsApplication(catalog=catalog, department=DEPARTMENT, env=eventsourcing_env(url))


def bare_append(catalog, source_url: str, target_url: str, count: int) -> float:
    """Events/s appending the service's own stored events with the library's recorder alone.

    This is the honest ceiling: the same bytes through the same recorder (table lock,
    insert, NOTIFY, commit) as a command's save, one event per transaction as one
    command stores one event, on the same server. Going through Application.save would
    add the aggregate and mapper work that belongs to the command, not to appending;
    more threads would not raise it, since the recorder locks the table until commit.
    """
    source, target = open_app(catalog, source_url), open_app(catalog, target_url)
    try:
        stored = [
            StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
            for n in source.recorder.select_notifications(start=1, limit=count)
        ]
        if len(stored) != count:
            raise RuntimeError(f"the service stored {len(stored)} events, expected {count}")
        start = time.perf_counter()
        for event in stored:
            target.recorder.insert_events([event])
        return count / (time.perf_counter() - start)
    finally:
        source.recorder.datastore.engine.dispose()
        target.recorder.datastore.engine.dispose()


def bare_publish(amqp_uri: str, sample: dict, count: int) -> float:
    """Messages/s publishing like the relay (persistent, confirmed, one at a time) with nothing else.

    Into a queue drained by the same kind of consumer as the service's events: the broker
    confirms a message a consumer already took without waiting for the disk (about twice
    as fast here as into a queue nobody reads), so anything else would not compare.
    """
    exchange = kombu.Exchange("bench-publish", type="topic", durable=True)
    collector = EventCollector(amqp_uri, exchange, count)
    collector.start_consuming()
    try:
        with kombu.Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
            producer = kombu.Producer(conn.channel(), exchange=exchange)
            start = time.perf_counter()
            for n in range(1, count + 1):
                producer.publish(
                    sample | {"notification_id": n, "aggregate_version": n},
                    routing_key=sample["type"],
                    serializer="json",
                    delivery_mode=2,
                    retry=False,
                    headers={"instance": sample["instance"], "notification_id": n},
                )
            elapsed = time.perf_counter() - start
        if not collector.complete.wait(DRAIN_TIMEOUT_S):
            raise RuntimeError(f"only {len(collector.seen)} of {count} bare messages arrived")
        return count / elapsed
    finally:
        collector.close()


# -- load times ------------------------------------------------------------------------


def build_exemplar(app: NominationsApplication, events: int) -> uuid.UUID:
    """Detect, the whole lifecycle, then progress notes up to ``events`` events."""
    exemplar_id = app.detect(detect_data())["id"]
    for step in LIFECYCLE:
        app.change(exemplar_id, step, STEPS[step])
    exemplar = app.repository.get(uuid.UUID(exemplar_id))
    on = dt.date.fromisoformat(STEPS["record_progress"]["business_date"])
    while exemplar.version < events:
        for _ in range(min(SAVE_CHUNK, events - exemplar.version)):
            exemplar.record_progress(note=f"Tiến độ lần {exemplar.version}", milestone="", business_date=on)
        app.save(exemplar)  # each multiple of SNAPSHOT_INTERVAL crossed here stores a snapshot
    return exemplar.id


def median_load_ms(app: NominationsApplication, exemplar_id: uuid.UUID, events: int) -> float:
    for _ in range(3):  # warm up connections and caches
        app.repository.get(exemplar_id)
    times = []
    for _ in range(LOADS):
        start = time.perf_counter()
        exemplar = app.repository.get(exemplar_id)
        times.append((time.perf_counter() - start) * 1000)
        if exemplar.version != events:
            raise RuntimeError(f"loaded version {exemplar.version}, expected {events}")
    return statistics.median(times)


def load_times(catalog, url: str) -> dict[str, float]:
    app = open_app(catalog, url)
    try:
        long_id, short_id = build_exemplar(app, LONG), build_exemplar(app, SHORT)
        snapshot = app.snapshots.get(long_id, desc=True, limit=1)
        snapshot_version = next(iter(snapshot)).originator_version
        if LONG - snapshot_version >= SNAPSHOT_INTERVAL:
            raise RuntimeError(f"latest snapshot at version {snapshot_version}, {LONG} events stored")
        return {
            "load_10000_ms": median_load_ms(app, long_id, LONG),
            "load_10_ms": median_load_ms(app, short_id, SHORT),
            "long_snapshot_version": snapshot_version,
        }
    finally:
        app.recorder.datastore.engine.dispose()


# -- the run ---------------------------------------------------------------------------


def measure(args: argparse.Namespace, logdir: Path) -> dict:
    catalog = load_catalog()
    expected = args.exemplars * EVENTS_PER_EXEMPLAR
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    databases: list[str] = []
    service: subprocess.Popen | None = None
    # A vhost of the run's own, as the test sessions have: nameko balances RPC over every
    # nominations in a vhost, and other services' durable queues would keep our events.
    vhost = f"exemplars_bench_{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    amqp_uri = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    collector = EventCollector(amqp_uri, events_exchange(SERVICE), expected)
    log_path = logdir / "nominations.log"
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        databases.append(create_database())
        service_url = PG_URL_BASE + databases[0]
        env = {
            "AMQP_URI": amqp_uri,
            "NOMINATIONS_DATABASE_URL": service_url,
            "NOMINATIONS_INSTANCE_ID": instance,
            "NOMINATIONS_MAX_WORKERS": str(args.max_workers),
        }
        progress.print(f"starting nominations {instance} (max_workers {args.max_workers}) on {databases[0]}, {vhost}")
        service = nameko_run(SERVICE, env, log_path)
        wait_until_serving(service, amqp_uri)

        collector.start_consuming()  # bound before the first command, so it sees every event

        progress.print(f"driving {args.exemplars} exemplars × {EVENTS_PER_EXEMPLAR} commands, {args.clients} clients")
        cpu_before, clock_before = cpu_seconds(service.pid), time.perf_counter()
        load_start, load_end = drive_load(amqp_uri, args.exemplars, args.clients)
        if not collector.complete.wait(DRAIN_TIMEOUT_S):
            raise RuntimeError(
                f"only {len(collector.seen)} of {expected} events reached the consumer within {DRAIN_TIMEOUT_S} s "
                "after the load"
            )
        cpu_after, clock_after = cpu_seconds(service.pid), time.perf_counter()
        stop(service)  # the bare measurements get a quiet machine
        service = None

        commands = expected  # one command per event
        results = {
            "exemplars": args.exemplars,
            "clients": args.clients,
            "max_workers": args.max_workers,
            "commands": commands,
            "commands_per_s": commands / (load_end - load_start),
            "events_received": len(collector.seen),
            "events_published_per_s": len(collector.seen) / (collector.last_arrival - load_start),
            "relay_drain_ms": max(0.0, collector.last_arrival - load_end) * 1000,
            "order_violations": collector.order_violations,
            "duplicates": collector.duplicates,
            "cpu_core_share_during_load": {  # CPU seconds per wall second (1.0 = one core busy)
                party: (cpu_after[party] - cpu_before[party]) / (clock_after - clock_before) for party in cpu_after
            },
        }

        databases.append(create_database())
        bare_url = PG_URL_BASE + databases[1]
        progress.print("bare limits: appending the same events, publishing as many messages")
        results["bare_append_events_per_s"] = bare_append(catalog, service_url, bare_url, expected)
        results["bare_publish_per_s"] = bare_publish(amqp_uri, collector.sample, expected)

        progress.print(f"load times: one exemplar with {LONG} events, one with {SHORT}")
        results |= load_times(catalog, bare_url)

        results["published_vs_bare_append"] = results["events_published_per_s"] / results["bare_append_events_per_s"]
        results["load_ratio"] = results["load_10000_ms"] / results["load_10_ms"]
        return results
    except BaseException:
        if log_path.exists():
            tail = log_path.read_text(errors="replace")[-3000:]
            progress.print(f"--- service log (last 3000 characters) ---\n{tail}")
        raise
    finally:
        collector.close()
        if service is not None:
            stop(service)
        try:
            for name in databases:
                drop_database(name)
        finally:
            rabbitmqctl("delete_vhost", vhost)


def report(results: dict) -> None:
    console = Console()
    table = Table(
        title=f"nominations bench: {results['exemplars']} exemplars, {results['clients']} clients, "
        f"max_workers {results['max_workers']}"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    table.add_column("")
    rows = [
        ("commands_per_s", "{:.0f}"),
        ("events_published_per_s", "{:.0f}"),
        ("bare_append_events_per_s", "{:.0f}"),
        ("bare_publish_per_s", "{:.0f}"),
        ("published_vs_bare_append", "{:.2f}"),
        ("relay_drain_ms", "{:.0f}"),
        ("load_10000_ms", "{:.2f}"),
        ("load_10_ms", "{:.2f}"),
        ("load_ratio", "{:.2f}"),
        ("long_snapshot_version", "{}"),
        ("order_violations", "{}"),
        ("duplicates", "{}"),
    ]
    for key, form in rows:
        target, verdict = "", ""
        if key in TARGETS:
            target, passes = TARGETS[key]
            verdict = "[green]pass[/]" if passes(results[key]) else "[red]FAIL[/]"
        table.add_row(key, form.format(results[key]), target, verdict)
    for party, share in results["cpu_core_share_during_load"].items():
        table.add_row(f"cpu during load: {party}", f"{share:.2f} cores", "", "")
    console.print(table)
    print(json.dumps(results), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exemplars", type=int, default=200, help="exemplars driven through their lifecycle")
    parser.add_argument("--clients", type=int, default=8, help="concurrent RPC clients")
    parser.add_argument("--max-workers", type=int, default=20, help="the service's nameko max_workers")
    args = parser.parse_args()
    logdir = Path(tempfile.mkdtemp(prefix="exemplars-bench-"))
    try:
        results = measure(args, logdir)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
