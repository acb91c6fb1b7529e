"""Fan-out bench: one award announced to N webhook subscribers, with 1 worker and with 2.

Measured in the same run, on the same broker: kombu consuming and acking N messages
(the bare limit of the work queue), and each worker's peak memory (VmHWM).
Used by bench.py; runs on its own vhost and database, cleaned up afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import kombu

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import (PG_URL_BASE, TRUSTED_KEYS_DIR, create_database, drop_database, free_port,  # noqa: E402
                      nameko_run, rabbitmqctl, signed)

from notifications.application import NotificationsApplication  # noqa: E402
from notifications.bootstrap import known_event_types  # noqa: E402
from notifications.domainmodel import Subscription  # noqa: E402
from notifications.outbound import AddressPolicy  # noqa: E402
from notifications.sealing import load_secret_box  # noqa: E402
from shared.catalog import load_catalog  # noqa: E402
from shared.persistence import eventsourcing_env  # noqa: E402
from shared.relay import events_exchange  # noqa: E402
from shared.wire import WireEvent  # noqa: E402

SECRET = "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ=="  # the sink checks every delivery with it


class WebhookSink:
    """The loopback webhook receiver (webhook_sink.py) as a process of its own."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("webhook_sink.py")), SECRET],
                                        stdout=subprocess.PIPE, text=True)
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"the webhook sink did not start (printed {port!r})")
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/hook"

    def expect(self, count: int) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.base}/expect?count={count}", method="POST"),
                               timeout=10).read()

    def wait(self, timeout: float) -> tuple[float | None, int]:
        """(time.monotonic() when the expected count arrived, or None; distinct ids seen)."""
        with urllib.request.urlopen(f"{self.base}/wait?timeout={timeout}", timeout=timeout + 10) as response:
            answer = json.load(response)
        return answer["done_at"], answer["seen"]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each process still running."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a process started meanwhile counts whole (PostgreSQL
    forks a backend for each new connection), one that ended is left out."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_busy() -> float:
    """CPU seconds all cores spent on anything but idle and iowait."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if name in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bare_consume_per_s(amqp_uri: str, count: int) -> float:
    """kombu consuming and acking ``count`` persistent messages from a durable queue."""
    queue = kombu.Queue(f"bench-bare-consume-{uuid.uuid4().hex[:8]}", durable=True, auto_delete=True)
    with kombu.Connection(amqp_uri) as conn:
        producer = conn.Producer()
        for n in range(count):
            producer.publish({"delivery_id": str(n)}, routing_key=queue.name, declare=[queue], delivery_mode=2,
                             serializer="json")
        received = 0

        def on_message(body, message):
            nonlocal received
            received += 1
            message.ack()

        start = time.perf_counter()
        with conn.Consumer(queue, callbacks=[on_message], accept=["json"], prefetch_count=100):
            while received < count:
                conn.drain_events(timeout=10)
        return count / (time.perf_counter() - start)


def subscribe_many(app: NotificationsApplication, count: int, url: str) -> None:
    """Subscriptions saved in batches straight through the application (setup, not measured).
    One secret, sealed once, for all: the workers open it once (as they would open each of
    10,000 different ones once, before the first round)."""
    sealed = app.secret_box.seal(SECRET)
    batch = []
    for n in range(count):
        batch.append(Subscription.subscribe(
            recipient_id=f"don-vi-{n:05d}", recipient_kind="unit", name=f"Đơn vị {n}", locale="vi",
            filters={"departments": [], "fields": [], "movements": [], "event_types": ["exemplar.awarded"],
                     "exemplar_ids": []},
            channels=[{"channel": "webhook", "address": url, "secret_sealed": sealed}],
            preferences={"muted": False, "digest": False, "quiet_hours": None}))
        if len(batch) == 500:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)


def announce(amqp_uri: str, n: int) -> None:
    event = WireEvent(type="exemplar.awarded", source="nominations", instance="bench-fanout", notification_id=n,
                      aggregate_id=uuid.uuid4(), aggregate_version=9, business_date=dt.date(2018, 10, 12),
                      payload={"award_id": str(uuid.uuid4()), "award_form": "giay-khen",
                               "decision_number": "2156/QĐ-UBND", "signer": "Chủ tịch UBND huyện Yên Thế",
                               "council_level": "district", "jurisdiction": "huyen-yen-the"})
    with kombu.Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(signed(event).to_message(), exchange=events_exchange("nominations"),
                                routing_key=event.type,
                                serializer="json", delivery_mode=2, declare=[events_exchange("nominations")])


def run(subscribers: int = 10_000, log=print, repeats: int = 5) -> dict:
    vhost = f"exemplars_bench_fanout_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    amqp_uri = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    database = create_database()
    logs = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    env = {"AMQP_URI": amqp_uri, "NOTIFICATIONS_DATABASE_URL": PG_URL_BASE + database,
           "NOTIFICATIONS_METRICS_ADDRESS": f"127.0.0.1:{free_port()}", "TRUSTED_KEYS_DIR": str(TRUSTED_KEYS_DIR),
           "NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}  # the sink listens there
    processes: list[subprocess.Popen] = []
    sink = WebhookSink()
    try:
        app = NotificationsApplication(load_catalog(), known_event_types(),
                                       env=eventsourcing_env(PG_URL_BASE + database),
                                       secret_box=load_secret_box(keys_dir=TRUSTED_KEYS_DIR),  # the services' key
                                       addresses=AddressPolicy.parse("127.0.0.1"))
        log(f"fan-out: subscribing {subscribers} webhook recipients …")
        subscribe_many(app, subscribers, sink.url)
        service = nameko_run("notifications", env, logs / "notifications.log")
        processes.append(service)
        time.sleep(4)  # the service declares its queues and catches up its subscriptions
        # This machine's speed drifts from minute to minute: rounds alternate 1, 2, 1, 2, …
        # workers and each figure is the median of its rounds, so drift hits both alike.
        rounds: dict[int, list[float]] = {1: [], 2: []}
        peak_rss = 0.0
        first = nameko_run("notifications-worker-1", env, logs / "worker-1.log")
        processes.append(first)
        for round_number, workers in enumerate([1, 2] * repeats, start=1):
            second = None
            if workers == 2:
                second = nameko_run("notifications-worker-2", env, logs / f"worker-2-{round_number}.log")
                processes.append(second)
            time.sleep(4)  # workers connected and consuming
            running = [first] + ([second] if second else [])
            sink.expect(subscribers)
            groups = {"service": lambda: [service.pid], "workers": lambda: [p.pid for p in running],
                      "sink": lambda: [sink.process.pid], "postgres": lambda: pids_named("postgres"),
                      "rabbitmq": lambda: pids_named("beam.smp")}
            cpu_before = {name: cpu_seconds(pids()) for name, pids in groups.items()}
            busy_before = machine_busy()
            begin = time.monotonic()  # the sink's clock too: one machine, CLOCK_MONOTONIC
            announce(amqp_uri, round_number)
            done_at, seen = sink.wait(timeout=180)
            if done_at is None:
                raise RuntimeError(f"fan-out with {workers} worker(s): {seen}/{subscribers} delivered")
            elapsed = done_at - begin
            shares = {name: cpu_used(cpu_before[name], cpu_seconds(pids())) / elapsed for name, pids in groups.items()}
            shares["whole machine"] = (machine_busy() - busy_before) / elapsed
            rounds[workers].append(elapsed)
            peak_rss = max(peak_rss, *(peak_rss_mb(p.pid) for p in running))
            log(f"fan-out round {round_number}: {workers} worker(s), {subscribers} deliveries in {elapsed:.2f} s; "
                "CPU cores busy: " + ", ".join(f"{name} {share:.2f}" for name, share in shares.items()))
            for line in (logs / "notifications.log").read_text(errors="replace").splitlines():
                if f"bench-fanout/{round_number}:" in line and "recorded and queued" in line:
                    log("fan-out: service: " + line.split(": ", 1)[-1])
            if second:
                second.send_signal(signal.SIGTERM)
                second.wait(timeout=30)
        seconds = {workers: statistics.median(times) for workers, times in rounds.items()}
        log(f"fan-out: median of {repeats} rounds: 1 worker {seconds[1]:.2f} s, 2 workers {seconds[2]:.2f} s")
        bare = bare_consume_per_s(amqp_uri, subscribers)
        return {
            "fanout_subscribers": subscribers,
            "fanout_rounds_each": repeats,
            "fanout_seconds_1_worker": seconds[1],
            "fanout_seconds_2_workers": seconds[2],
            "fanout_deliveries_per_s_1_worker": subscribers / seconds[1],
            "fanout_deliveries_per_s_2_workers": subscribers / seconds[2],
            "fanout_scaling_2_vs_1": seconds[1] / seconds[2],
            "bare_consume_per_s": bare,
            "worker_peak_rss_mb": peak_rss,
        }
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        sink.close()
        shutil.rmtree(logs, ignore_errors=True)
        drop_database(database)
        rabbitmqctl("delete_vhost", vhost)


if __name__ == "__main__":
    count = int(os.environ.get("FANOUT_SUBSCRIBERS", "10000"))
    print(run(count, log=lambda m: print(m, file=sys.stderr)))
