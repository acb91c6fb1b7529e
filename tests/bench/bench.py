"""`make bench`: the nominations service measured against its bare limits, in one run.

On this machine's RabbitMQ (its own vhost) and PostgreSQL it starts the nominations
service as a real process, drives exemplars through their lifecycle over RPC from
several clients and counts the wire events a consumer receives. In the same run it
measures what the parts can do alone: the event store appending the same events, and
kombu publishing as many persistent, confirmed messages. Then it times loading an
exemplar with 10,000 events (snapshotted) against one with 10.

Last, the two hand-offs between services under a steady load: nominations and the
district council run as real processes, exemplars are nominated at a fixed rate
(50/s by default), then their cases decided at the same rate, and it times how long
a stored nomination takes to become an open case (eligibility computed) and a stored
decision to become an award on the exemplar's history.

Then the fan-out of one award to 10,000 webhook subscribers (tests/bench/fanout.py), and
the audit tools replaying and verifying a generated log of a million events beside the
library reading the same log (tests/bench/audit_bench.py).

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
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # printed on importing nameko

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the shared helpers

import kombu  # noqa: E402
from eventsourcing.persistence import StoredEvent  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from awards.bootstrap import service_name as council_service_name  # noqa: E402
from conftest import (  # noqa: E402
    LIFECYCLE,
    PG_URL_BASE,
    STEPS,
    TRUSTED_KEYS_DIR,
    create_database,
    detect_data,
    drop_database,
    nameko_run,
    rabbitmqctl,
)
from nominations.application import SNAPSHOT_INTERVAL, NominationsApplication  # noqa: E402
from rpc_helpers import AsGateway  # noqa: E402 - commands carry a caller signed as a gateway's
from nominations.bootstrap import service_name as nominations_service  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/bench/: the fan-out part
import audit_bench  # noqa: E402
import fanout  # noqa: E402
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

# The hand-offs: nominations for a Giấy khen go to the district council (the nominations
# service's default council), which may grant it and so decides the case itself.
COUNCIL = "awards-huyen-yen-the"  # its name in the launcher
COUNCIL_RPC = council_service_name("huyen-yen-the")
BEFORE_NOMINATION = LIFECYCLE[: LIFECYCLE.index("nominate")]
APPRAISAL = {"passed": True, "appraiser": "Phòng Nội vụ huyện", "note": "Hồ sơ đầy đủ", "business_date": "2018-10-08"}
SESSION = {"session": "Phiên họp 10/2018", "members": 9, "present": 8, "in_favour": 8, "against": 0, "blank": 0,
           "business_date": "2018-10-10"}
DECISION = {"signer": "Chủ tịch UBND huyện Yên Thế", "business_date": "2018-10-20"}  # under the 2017-10-01 policy
HANDOFF_P99_MS = 250
BREAKDOWN = {  # the parts of a hand-off, split where the bench's consumer saw the first event arrive
    "nominations_relay": "nominations relay: stored → wire",
    "council_handler": "council handler: wire → case stored",
    "council_relay": "council relay: stored → wire",
    "nominations_handler": "nominations handler: wire → history",
}

TARGETS = {  # key -> (description, passes)
    "published_vs_bare_append": ("≥ 0.5", lambda v: v >= 0.5),
    "relay_drain_ms": ("≤ 1000", lambda v: v <= 1000),
    "load_ratio": ("≤ 3", lambda v: v <= 3),
    "order_violations": ("0", lambda v: v == 0),
    "nomination_to_case_p99_ms": (f"≤ {HANDOFF_P99_MS}", lambda v: v <= HANDOFF_P99_MS),
    "decision_to_history_p99_ms": (f"≤ {HANDOFF_P99_MS}", lambda v: v <= HANDOFF_P99_MS),
    "fanout_seconds_2_workers": ("≤ 10", lambda v: v <= 10),
    "fanout_scaling_2_vs_1": ("≥ 1.3", lambda v: v >= 1.3),
    "replay_vs_bare_read": ("≥ 0.3", lambda v: v >= 0.3),
    "verify_vs_bare_read": ("≥ 0.5", lambda v: v >= 0.5),
    "replay_peak_rss_mb": ("≤ 300", lambda v: v <= 300),
    "worker_peak_rss_mb": ("< 200", lambda v: v < 200),
}

progress = Console(stderr=True)
os.environ.setdefault("TRUSTED_KEYS_DIR", str(TRUSTED_KEYS_DIR))  # the run's services sign and trust keys there


# -- the service -----------------------------------------------------------------------


def wait_until_serving(process: subprocess.Popen, amqp_uri: str, service: str, method: str = "catalog",
                       timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    # Until the service binds its queue, each call comes back at once as UnknownService and
    # py-amqp warns about the publisher confirm that follows: not worth a line each time.
    logging.getLogger("amqp").setLevel(logging.ERROR)
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=2) as rpc:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{service} exited with code {process.returncode}")
            try:
                getattr(getattr(rpc, service), method)()
                return
            except Exception:  # noqa: BLE001 - not up yet (unknown service, timeout)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} did not answer RPC within {timeout:.0f} s") from None
                time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- the consumers -----------------------------------------------------------------------


class WireConsumer(threading.Thread, ABC):
    """Receives wire events as any consumer would, from durable queues bound to every type."""

    def __init__(self, amqp_uri: str, name: str, exchanges: list[kombu.Exchange]):
        super().__init__(name=name, daemon=True)
        self.amqp_uri = amqp_uri
        self.queues = [kombu.Queue(f"{name}-{e.name}", e, routing_key="#", **QUEUE_OPTIONS) for e in exchanges]
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def start_consuming(self) -> None:
        """Start, and return once the queues are bound: from then on it sees every event."""
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
                with conn.Consumer(self.queues, callbacks=[self._on_message], no_ack=True, accept=["json"]):
                    self.ready.set()
                    while not self.stopping.is_set():
                        try:
                            conn.drain_events(timeout=0.2)
                        except socket.timeout:
                            pass
                for bound in self.queues:  # so later phases don't make the broker store events nobody reads
                    bound(conn.default_channel).delete()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
            self.ready.set()

    @abstractmethod
    def _on_message(self, body: dict, message: kombu.Message) -> None:
        """What a subclass records of one message."""


class EventCollector(WireConsumer):
    """Records order and arrival of one exchange's events; complete once ``expected`` arrived."""

    def __init__(self, amqp_uri: str, exchange: kombu.Exchange, expected: int):
        super().__init__(amqp_uri, "bench", [exchange])
        self.expected = expected
        self.complete = threading.Event()
        self.seen: set[int] = set()  # notification ids: the relay publishes at least once
        self.last_version: dict[str, int] = {}
        self.duplicates = 0
        self.order_violations = 0
        self.last_arrival: float | None = None
        self.sample: dict | None = None  # one real wire event, for the bare publish

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


@dataclass(frozen=True)
class Seen:
    recorded: float  # when the source stored the event (its recorded_at), epoch seconds
    arrived: float  # when it reached this consumer, epoch seconds (same machine clock)
    aggregate_id: str


class HandoffClock(WireConsumer):
    """The events that begin and end each hand-off, per exemplar, from both services' exchanges.

    recorded_at is the event's timestamp, taken by the service as it creates the event,
    just before the save that stores it; every timed event gets it the same way, so the
    cost of a save on one side offsets that on the other. The services and this bench run
    on one machine and read one clock, so differences between them are fair.
    """

    TIMED = ("exemplar.nominated", "case.opened", "case.decided", "award.granted", "exemplar.awarded")

    def __init__(self, amqp_uri: str):
        super().__init__(amqp_uri, "bench-handoffs", [events_exchange(SERVICE), events_exchange("awards")])
        self.seen: dict[str, dict[str, Seen]] = {kind: {} for kind in self.TIMED}  # type -> exemplar id -> first
        self.changed = threading.Condition()

    def _on_message(self, body: dict, message: kombu.Message) -> None:
        arrived = time.time()
        kind = body["type"]
        if kind not in self.seen:
            return
        exemplar_id = body["aggregate_id"] if kind.startswith("exemplar.") else body["payload"]["exemplar_id"]
        recorded = dt.datetime.fromisoformat(body["recorded_at"]).timestamp()
        with self.changed:
            self.seen[kind].setdefault(exemplar_id, Seen(recorded, arrived, body["aggregate_id"]))
            self.changed.notify_all()

    def wait_for(self, kind: str, exemplar_ids: list[str], timeout: float = DRAIN_TIMEOUT_S) -> dict[str, Seen]:
        """The ``kind`` event of every exemplar; raise if some have not arrived within ``timeout``."""
        with self.changed:
            if not self.changed.wait_for(lambda: all(e in self.seen[kind] for e in exemplar_ids), timeout):
                missing = sum(e not in self.seen[kind] for e in exemplar_ids)
                raise RuntimeError(f"{missing} of {len(exemplar_ids)} {kind} events missing {timeout:.0f} s "
                                   "after the last command")
            return {e: self.seen[kind][e] for e in exemplar_ids}


# -- the load ----------------------------------------------------------------------------


@dataclass
class Calls:
    results: list[Any]  # in call order
    sent: list[float]  # perf_counter when each call went out
    replied: list[float]  # perf_counter when each reply came back
    start: float  # every client connected: the clock's (and a schedule's) zero


def call_all(amqp_uri: str, calls: list[Callable[[Any], Any]], clients: int, rate: float | None = None) -> Calls:
    """Make each call (a function of an RPC proxy) once, in order, from ``clients`` threads.

    Without ``rate`` a client sends its next call as soon as it has a reply. With it,
    call n goes out at start + n / rate however long earlier replies take (open loop,
    like officers who do not wait for each other): a slow reply holds up one client, not
    the schedule. Only when every client is busy does a call go out late.
    """
    work: queue.Queue[int] = queue.Queue()
    for n in range(len(calls)):
        work.put(n)
    results: list[Any] = [None] * len(calls)
    sent, replied = [0.0] * len(calls), [0.0] * len(calls)
    start = 0.0
    errors: list[BaseException] = []

    def start_clock() -> None:
        nonlocal start
        start = time.perf_counter()

    barrier = threading.Barrier(clients + 1, action=start_clock)  # connections are set up before the clock starts

    def client() -> None:
        try:
            with AsGateway(ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60)) as rpc:
                barrier.wait()
                while not errors:
                    try:
                        n = work.get_nowait()
                    except queue.Empty:
                        break
                    if rate:
                        time.sleep(max(0.0, start + n / rate - time.perf_counter()))
                    sent[n] = time.perf_counter()
                    results[n] = calls[n](rpc)
                    replied[n] = time.perf_counter()
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
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed") from errors[0]
    return Calls(results, sent, replied, start)


def build_up(rpc, service: str, name: str, steps: list[str]) -> str:
    """Detect one exemplar in the nominations ``service`` and take it through ``steps``; return its id."""
    nominations = getattr(rpc, service)
    exemplar_id = nominations.detect(detect_data(name=name))["id"]
    for version, step in enumerate(steps, start=2):
        reply = nominations.change(exemplar_id, step, STEPS[step])
        if reply["version"] != version:
            raise RuntimeError(f"{step} on {exemplar_id}: version {reply['version']}, not {version}")
    return exemplar_id


def drive_load(amqp_uri: str, service: str, exemplars: int, clients: int) -> tuple[float, float]:
    """Every exemplar through its lifecycle over RPC; return (start, last reply) perf_counter times."""
    calls = [lambda rpc, n=n: build_up(rpc, service, f"Hộ đo tải số {n}", LIFECYCLE) for n in range(exemplars)]
    done = call_all(amqp_uri, calls, clients)
    return done.start, max(done.replied)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process, the bench, the servers and the whole machine (all cores)."""
    tick = os.sysconf("SC_CLK_TCK")

    def process(pid: int | str) -> tuple[str, float]:
        stat = Path(f"/proc/{pid}/stat").read_text()
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        # utime + stime, and cutime + cstime: PostgreSQL backends that exit are counted in the postmaster
        return comm, sum(int(f) for f in fields[11:15]) / tick

    used = {name: process(pid)[1] for name, pid in pids.items()} | {
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


def cpu_mark(pids: dict[str, int]) -> tuple[dict[str, float], float]:
    return cpu_seconds(pids), time.perf_counter()


def core_shares(before: tuple[dict[str, float], float], after: tuple[dict[str, float], float]) -> dict[str, float]:
    """CPU seconds per wall second between two marks (1.0 = one core busy)."""
    (used_before, clock_before), (used_after, clock_after) = before, after
    return {party: (used_after[party] - used_before[party]) / (clock_after - clock_before) for party in used_after}


# -- the bare limits -------------------------------------------------------------------


def open_app(catalog, url: str) -> NominationsApplication:
    return NominationsApplication(catalog=catalog, department=DEPARTMENT, env=eventsourcing_env(url))


def bare_append(catalog, source_url: str, target_url: str, count: int) -> float:
    """Events/s appending the service's own stored events with the library's recorder alone.

    This is the honest ceiling: the same bytes through the library's recorder (table lock,
    insert, NOTIFY, commit) as a command's save, one event per transaction as one
    command stores one event, on the same server. Going through Application.save would
    add the aggregate and mapper work that belongs to the command, not to appending;
    more threads would not raise it, since the recorder locks the table until commit.
    """
    source = open_app(catalog, source_url)
    # The library's own recorder, not the service's (shared.recorders sends the lock, the
    # notify and the insert in one round trip): this is the limit the service is held to.
    target = NominationsApplication(catalog=catalog, department=DEPARTMENT,
                                    env=eventsourcing_env(target_url) | {"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy"})
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


# -- the hand-offs between services ----------------------------------------------------


def wait_quiet(vhost: str, timeout: float = DRAIN_TIMEOUT_S) -> None:
    """Return once the broker holds no message in the run's vhost (queued or being handled), twice running.

    So a timed phase does not start behind work that the untimed one before it left queued.
    """
    deadline, quiet = time.monotonic() + timeout, 0
    while quiet < 2:
        listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name",
                                 "messages"], check=True, timeout=120, capture_output=True, text=True).stdout
        busy = {name: int(n) for name, n in (line.split() for line in listed.splitlines() if line.strip()) if int(n)}
        quiet = quiet + 1 if not busy else 0
        if quiet < 2 and time.monotonic() > deadline:
            raise RuntimeError(f"messages still queued in {vhost} after {timeout:.0f} s (a handler failing?): {busy}")


def remove_queues_of(amqp_uri: str, vhost: str, service: str) -> None:
    """Delete a stopped service's event queues: durable, they would fill with later phases' events."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name"],
                            check=True, timeout=120, capture_output=True, text=True).stdout.split()
    with kombu.Connection(amqp_uri) as conn:
        channel = conn.channel()
        for name in listed:
            if f"--{service}." in name:
                channel.queue_delete(name)


def spread(seconds: list[float]) -> dict[str, float]:
    """p50, p99 and max, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50": cuts[49], "p99": cuts[98], "max": max(ms)}


def paced_figures(calls: Calls, rate: float) -> dict[str, Any]:
    """What a paced run achieved: its rate, how late the latest call went out, the replies' times."""
    return {
        "per_s": (len(calls.sent) - 1) / (max(calls.sent) - min(calls.sent)),
        "schedule_lag_max_ms": max(s - (calls.start + n / rate) for n, s in enumerate(calls.sent)) * 1000,
        "reply": spread([r - s for s, r in zip(calls.sent, calls.replied)]),
    }


def handoffs(args: argparse.Namespace, amqp_uri: str, vhost: str, logdir: Path, databases: list[str]) -> dict:
    """Nominate exemplars at a steady rate, then decide their cases at it; time both hand-offs."""
    count, rate = args.handoff_exemplars, args.rate
    databases += [create_database(), create_database()]
    nominations_env = {"AMQP_URI": amqp_uri, "NOMINATIONS_DATABASE_URL": PG_URL_BASE + databases[-2],
                       "NOMINATIONS_INSTANCE_ID": f"bench-{uuid.uuid4().hex[:8]}",
                       "NOMINATIONS_MAX_WORKERS": str(args.max_workers)}
    progress.print(f"hand-offs: starting nominations on {databases[-2]} and {COUNCIL} on {databases[-1]}")
    processes: dict[str, subprocess.Popen] = {}
    clock = HandoffClock(amqp_uri)
    try:
        processes[SERVICE] = nameko_run(SERVICE, nominations_env, logdir / "handoff-nominations.log")
        council_env = {"AMQP_URI": amqp_uri, "AWARDS_DATABASE_URL": PG_URL_BASE + databases[-1]}
        processes[COUNCIL] = nameko_run(COUNCIL, council_env, logdir / f"handoff-{COUNCIL}.log")
        pids = {"nominations": processes[SERVICE].pid, "council": processes[COUNCIL].pid}
        nominations = nominations_service(nominations_env["NOMINATIONS_INSTANCE_ID"])
        wait_until_serving(processes[SERVICE], amqp_uri, nominations)
        wait_until_serving(processes[COUNCIL], amqp_uri, COUNCIL_RPC, "council")
        clock.start_consuming()  # bound before the first nomination, so it sees every hand-off

        progress.print(f"hand-offs: {count} exemplars up to endorsement (untimed), {args.clients} clients")
        exemplar_ids = call_all(amqp_uri, [
            lambda rpc, n=n: build_up(rpc, nominations, f"Hộ đo bàn giao số {n}", BEFORE_NOMINATION)
            for n in range(count)], args.clients).results
        wait_quiet(vhost)

        progress.print(f"hand-offs: nominating them at {rate:g}/s, {args.handoff_clients} clients")
        before = cpu_mark(pids)
        nominating = call_all(amqp_uri, [
            lambda rpc, e=e: getattr(rpc, nominations).change(e, "nominate", STEPS["nominate"])
            for e in exemplar_ids], args.handoff_clients, rate)
        opened = clock.wait_for("case.opened", exemplar_ids)
        cpu_nominating = core_shares(before, cpu_mark(pids))
        nominated = clock.wait_for("exemplar.nominated", exemplar_ids)

        progress.print(f"hand-offs: appraising the {count} cases and voting on them (untimed)")
        cases = [opened[e].aggregate_id for e in exemplar_ids]

        def appraise_and_vote(rpc, case_id: str) -> None:
            getattr(rpc, COUNCIL_RPC).change_case(case_id, "appraise", APPRAISAL)
            getattr(rpc, COUNCIL_RPC).change_case(case_id, "record_session", SESSION)

        call_all(amqp_uri, [lambda rpc, c=c: appraise_and_vote(rpc, c) for c in cases], args.clients)
        wait_quiet(vhost)

        progress.print(f"hand-offs: deciding them at {rate:g}/s")
        before = cpu_mark(pids)
        deciding = call_all(amqp_uri, [
            lambda rpc, n=n, c=c: getattr(rpc, COUNCIL_RPC).change_case(
                c, "decide", DECISION | {"decision_number": f"{n + 1}/QĐ-UBND"})
            for n, c in enumerate(cases)], args.handoff_clients, rate)
        awarded = clock.wait_for("exemplar.awarded", exemplar_ids)
        cpu_deciding = core_shares(before, cpu_mark(pids))
        decided, granted = clock.wait_for("case.decided", exemplar_ids), clock.wait_for("award.granted", exemplar_ids)
    finally:
        clock.close()
        for process in processes.values():
            stop(process)

    to_case = spread([opened[e].recorded - nominated[e].recorded for e in exemplar_ids])
    to_history = spread([awarded[e].recorded - decided[e].recorded for e in exemplar_ids])
    return {
        "handoff_exemplars": count,
        "handoff_rate_per_s": rate,
        "nomination_to_case_p50_ms": to_case["p50"],
        "nomination_to_case_p99_ms": to_case["p99"],
        "nomination_to_case_max_ms": to_case["max"],
        "decision_to_history_p50_ms": to_history["p50"],
        "decision_to_history_p99_ms": to_history["p99"],
        "decision_to_history_max_ms": to_history["max"],
        "nominating": paced_figures(nominating, rate),
        "deciding": paced_figures(deciding, rate),
        # Where each hand-off's time goes: the bench's queue is bound to the same exchange
        # as the other service's, so its arrival stands for the hand-over between them.
        "handoff_breakdown_ms": {  # parts as in BREAKDOWN
            "nomination_to_case": {
                "nominations_relay": spread([nominated[e].arrived - nominated[e].recorded for e in exemplar_ids]),
                "council_handler": spread([opened[e].recorded - nominated[e].arrived for e in exemplar_ids]),
            },
            "decision_to_history": {
                "council_relay": spread([granted[e].arrived - decided[e].recorded for e in exemplar_ids]),
                "nominations_handler": spread([awarded[e].recorded - granted[e].arrived for e in exemplar_ids]),
            },
        },
        "cpu_core_share_nominating": cpu_nominating,
        "cpu_core_share_deciding": cpu_deciding,
    }


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
        wait_until_serving(service, amqp_uri, nominations_service(instance))

        collector.start_consuming()  # bound before the first command, so it sees every event

        progress.print(f"driving {args.exemplars} exemplars × {EVENTS_PER_EXEMPLAR} commands, {args.clients} clients")
        before = cpu_mark({"service": service.pid})
        load_start, load_end = drive_load(amqp_uri, nominations_service(instance), args.exemplars, args.clients)
        if not collector.complete.wait(DRAIN_TIMEOUT_S):
            raise RuntimeError(
                f"only {len(collector.seen)} of {expected} events reached the consumer within {DRAIN_TIMEOUT_S} s "
                "after the load"
            )
        cpu_during_load = core_shares(before, cpu_mark({"service": service.pid}))
        collector.close()
        stop(service)  # the bare measurements get a quiet machine
        service = None
        remove_queues_of(amqp_uri, vhost, nominations_service(instance))  # no one reads them from now on

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
            "cpu_core_share_during_load": cpu_during_load,
        }

        databases.append(create_database())
        bare_url = PG_URL_BASE + databases[1]
        progress.print("bare limits: appending the same events, publishing as many messages")
        results["bare_append_events_per_s"] = bare_append(catalog, service_url, bare_url, expected)
        results["bare_publish_per_s"] = bare_publish(amqp_uri, collector.sample, expected)

        progress.print(f"load times: one exemplar with {LONG} events, one with {SHORT}")
        results |= load_times(catalog, bare_url)

        results |= handoffs(args, amqp_uri, vhost, logdir, databases)

        results["published_vs_bare_append"] = results["events_published_per_s"] / results["bare_append_events_per_s"]
        results["load_ratio"] = results["load_10000_ms"] / results["load_10_ms"]
        return results
    except BaseException:
        for log in sorted(logdir.glob("*.log")):
            tail = log.read_text(errors="replace")[-3000:]
            progress.print(f"--- {log.name} (last 3000 characters) ---\n{tail}")
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


def verdict(key: str, value: float) -> tuple[str, str]:
    if key not in TARGETS:
        return "", ""
    target, passes = TARGETS[key]
    return target, "[green]pass[/]" if passes(value) else "[red]FAIL[/]"


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
        table.add_row(key, form.format(results[key]), *verdict(key, results[key]))
    for party, share in results["cpu_core_share_during_load"].items():
        table.add_row(f"cpu during load: {party}", f"{share:.2f} cores", "", "")
    console.print(table)

    rate = results["handoff_rate_per_s"]
    table = Table(title=f"hand-offs: {results['handoff_exemplars']} exemplars nominated, then decided, at {rate:g}/s")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    table.add_column("")
    for phase in ("nominating", "deciding"):
        figures = results[phase]
        table.add_row(f"{phase}: achieved rate", f"{figures['per_s']:.1f}/s", f"{rate:g}/s", "")
        table.add_row(f"{phase}: most behind schedule", f"{figures['schedule_lag_max_ms']:.0f} ms", "", "")
        reply = figures["reply"]
        table.add_row(f"{phase}: RPC reply p50 / p99", f"{reply['p50']:.0f} / {reply['p99']:.0f} ms", "", "")
    for handoff in ("nomination_to_case", "decision_to_history"):
        table.add_section()
        for stat in ("p50", "p99", "max"):
            key = f"{handoff}_{stat}_ms"
            table.add_row(key, f"{results[key]:.0f}", *verdict(key, results[key]))
        for part, figures in results["handoff_breakdown_ms"][handoff].items():
            table.add_row(f"  {BREAKDOWN[part]}, p50/p99", f"{figures['p50']:.0f} / {figures['p99']:.0f}", "", "")
    table.add_section()
    for phase in ("nominating", "deciding"):
        for party, share in results[f"cpu_core_share_{phase}"].items():
            table.add_row(f"cpu {phase}: {party}", f"{share:.2f} cores", "", "")
    console.print(table)
    table = Table(title=f"fan-out: one award to {results['fanout_subscribers']} webhook subscribers "
                        f"(median of {results['fanout_rounds_each']} alternating rounds each)")
    for column in ("figure", "value", "target", ""):
        table.add_column(column, justify="right" if column == "value" else "left")
    for key, form in (("fanout_seconds_1_worker", "{:.2f} s"), ("fanout_seconds_2_workers", "{:.2f} s"),
                      ("fanout_deliveries_per_s_1_worker", "{:.0f}"), ("fanout_deliveries_per_s_2_workers", "{:.0f}"),
                      ("fanout_scaling_2_vs_1", "{:.2f}"), ("bare_consume_per_s", "{:.0f}"),
                      ("worker_peak_rss_mb", "{:.0f} MB")):
        table.add_row(key, form.format(results[key]), *verdict(key, results[key]))
    console.print(table)
    table = Table(title=f"audit: replay and verify of a generated log of {results['audit_log_events']:,} events")
    for column in ("figure", "value", "target", ""):
        table.add_column(column, justify="right" if column == "value" else "left")
    for key, form in (("bare_read_events_per_s", "{:.0f}"), ("replay_events_per_s", "{:.0f}"),
                      ("verify_events_per_s", "{:.0f}"), ("replay_vs_bare_read", "{:.2f}"),
                      ("verify_vs_bare_read", "{:.2f}"), ("replay_peak_rss_mb", "{:.0f} MB"),
                      ("verify_peak_rss_mb", "{:.0f} MB"), ("bare_read_peak_rss_mb", "{:.0f} MB"),
                      ("seal_events_per_s", "{:.0f}")):
        table.add_row(key, form.format(results[key]), *verdict(key, results[key]))
    console.print(table)
    print(json.dumps(results), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exemplars", type=int, default=200, help="exemplars driven through their lifecycle")
    parser.add_argument("--clients", type=int, default=16, help="concurrent RPC clients (officers at work at once)")
    parser.add_argument("--max-workers", type=int, default=20, help="the nominations service's nameko max_workers")
    parser.add_argument("--handoff-exemplars", type=int, default=500, help="exemplars nominated, then decided")
    parser.add_argument("--rate", type=float, default=50, help="nominations, then decisions, per second")
    parser.add_argument("--handoff-clients", type=int, default=8, help="RPC clients sharing the paced calls")
    parser.add_argument("--fanout-subscribers", type=int, default=10_000, help="webhook subscribers of one award")
    parser.add_argument("--fanout-rounds", type=int, default=5, help="fan-out rounds with each worker count")
    parser.add_argument("--audit-events", type=int, default=1_000_000, help="events in the log replayed and verified")
    args = parser.parse_args()
    logdir = Path(tempfile.mkdtemp(prefix="exemplars-bench-"))
    try:
        results = measure(args, logdir)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    progress.print(f"fan-out: one award to {args.fanout_subscribers} webhook subscribers, "
                   f"{args.fanout_rounds} rounds each with 1 and 2 workers, alternating")
    results |= fanout.run(args.fanout_subscribers, log=progress.print, repeats=args.fanout_rounds)
    progress.print(f"audit: a log of {args.audit_events:,} events generated, sealed, replayed and verified")
    results |= audit_bench.run(args.audit_events, log=progress.print)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
