"""Start and stop the whole system: every service as its own `nameko run` process.

    python -m dev.launcher run     # foreground; Ctrl-C stops everything
    python -m dev.launcher start   # background, logs in var/log/, waits until ready
    python -m dev.launcher stop

Every process serves its own /metrics: the launcher gives each a free port on this machine
(its ``*_METRICS_ADDRESS``), says them when the system is up and writes them to
var/run/metrics.txt. Logs are plain lines here (LOG_FORMAT=plain, for people at a terminal);
deployments keep the configs' default, one JSON object a line.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from shared.persistence import PROJECT_ROOT, VAR_DIR, default_database_url

RUN_DIR = VAR_DIR / "run"
LOG_DIR = VAR_DIR / "log"
METRICS_FILE = RUN_DIR / "metrics.txt"  # each process's /metrics, while the system runs
NAMEKO = str(Path(sys.executable).with_name("nameko"))

# The councils `make run` runs, each named by its code alone (level, name and parent are
# topology data, shared/catalogs/councils.yaml): the 2018 district and province, and since
# 2025-07-01 the commune that took over Yên Thế's area and the merged province of Bắc Ninh.
COUNCILS = ("huyen-yen-the", "tinh-bac-giang", "xa-yen-the", "tinh-bac-ninh")
# name -> (module to run, config file, environment). The gateway last: it needs the others' RPC.
SERVICES = {
    "nominations": ("nominations.service", PROJECT_ROOT / "services/nominations/config.yml", {}),
    **{f"awards-{code}": ("awards.service", PROJECT_ROOT / "services/awards/config.yml", {"AWARDS_JURISDICTION": code})
       for code in COUNCILS},
    "notifications": ("notifications.service", PROJECT_ROOT / "services/notifications/config.yml", {}),
    # Read-only: the logs named in its AUDIT_SOURCES (environment_for gives it those of `make run`).
    "audit": ("audit.service", PROJECT_ROOT / "services/audit/config.yml", {}),
    # Who may sign in to the web pages: accounts, sessions, sign-in failures (its own database).
    "accounts": ("accounts.service", PROJECT_ROOT / "services/accounts/config.yml", {}),
    "gateway": ("gateway.http", PROJECT_ROOT / "services/gateway/config.yml", {}),
}
# Delivery workers share one durable work queue: `make run WORKERS=3` starts three.
WORKER = ("notifications.worker", PROJECT_ROOT / "services/notifications/config.yml", {})
# Deliveries one worker runs at once (its nameko max_workers, and so its prefetch): they mostly
# wait on the receivers, and their ledger statements are shared, so more at once is cheaper each.
WORKER_CONCURRENCY = "128"
LOOPBACK_RECEIVERS = "127.0.0.1,localhost"  # where `make run`'s webhooks may go (notifications/outbound.py)


def with_workers(count: int) -> dict:
    """The services of `make run`, with ``count`` delivery workers before the gateway."""
    services = {name: spec for name, spec in SERVICES.items() if name != "gateway"}
    services |= {f"notifications-worker-{n}": WORKER for n in range(1, count + 1)}
    return services | {"gateway": SERVICES["gateway"]}


def gateway_url() -> str:
    return "http://" + os.environ.get("WEB_SERVER_ADDRESS", "127.0.0.1:8000")


def database_variable(name: str) -> str:
    """Which setting holds a service's database URL (workers use their service's database)."""
    if name.startswith("notifications"):
        return "NOTIFICATIONS_DATABASE_URL"
    if name == "accounts":
        return "ACCOUNTS_DATABASE_URL"
    return "NOMINATIONS_DATABASE_URL" if name == "nominations" else "AWARDS_DATABASE_URL"


def metrics_variable(name: str) -> str:
    """Which setting holds a process's metrics address (shared.observability)."""
    if name.startswith("notifications-worker-"):
        return "NOTIFICATIONS_WORKER_METRICS_ADDRESS"
    return f"{name.split('-')[0].upper()}_METRICS_ADDRESS"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def audit_sources(base: dict | None = None) -> str:
    """AUDIT_SOURCES naming the log of every instance `make run` starts, in the database its
    own settings give it (``service:instance=url,…``, as audit.toolkit.parse_sources reads)."""
    from shared.contracts.nominations import DEFAULT_INSTANCE
    from shared.council_queues import service_name

    sources = []
    for name in SERVICES:
        if name in ("gateway", "audit", "accounts"):  # accounts keep no exemplar's log
            continue
        env = environment_for(name, base)
        service = name.split("-")[0]
        if service == "awards":
            instance = service_name(env["AWARDS_JURISDICTION"])
        else:
            instance = env.get(f"{service.upper()}_INSTANCE_ID") or (
                DEFAULT_INSTANCE if service == "nominations" else service)
        database = service if service != "awards" else instance
        url = env.get(database_variable(name)) or default_database_url(database)
        sources.append(f"{service}:{instance}={url}")
    return ",".join(sources)


def spec_of(name: str) -> tuple:
    return WORKER if name.startswith("notifications-worker-") else SERVICES[name]


def command_for(name: str) -> list[str]:
    module, config, _ = spec_of(name)
    return [NAMEKO, "run", module, "--config", str(config)]


def environment_for(name: str, base: dict | None = None) -> dict:
    """The caller's environment under the instance's own identity (which always wins: two
    councils must never share one). ``{jurisdiction}`` in AWARDS_DATABASE_URL gives each
    council its own database, e.g. postgresql://…/exemplars_{jurisdiction}."""
    env = {"PYTHONWARNINGS": "ignore::DeprecationWarning"} | dict(os.environ if base is None else base)
    env |= spec_of(name)[2]
    # Several processes of one service run here (councils, workers): each its own metrics port.
    env[metrics_variable(name)] = f"127.0.0.1:{free_port()}"
    env.setdefault("LOG_FORMAT", "plain")
    if name.startswith("notifications"):
        # The receivers of `make run` (the demo's) listen on this machine: loopback is allowed
        # here by name; a deployment allows no private address unless its operator says so.
        env.setdefault("NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS", LOOPBACK_RECEIVERS)
    if name.startswith("notifications-worker-"):
        env["NOTIFICATIONS_MAX_WORKERS"] = env.get("NOTIFICATIONS_WORKER_CONCURRENCY", WORKER_CONCURRENCY)
    if name == "audit" and not env.get("AUDIT_SOURCES"):
        env["AUDIT_SOURCES"] = audit_sources(env)
    if "AWARDS_JURISDICTION" in spec_of(name)[2] and "{jurisdiction}" in env.get("AWARDS_DATABASE_URL", ""):
        env["AWARDS_DATABASE_URL"] = env["AWARDS_DATABASE_URL"].replace(
            "{jurisdiction}", env["AWARDS_JURISDICTION"].replace("-", "_"))
    return env


def is_ready(timeout: float = 0.5, url: str | None = None) -> bool:
    """The gateway answers, and nominations, every council and notifications answer it over RPC."""
    try:
        return requests.get((url or gateway_url()) + "/ready", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def wait_ready(processes: dict[str, subprocess.Popen], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with {process.returncode} while starting; see {LOG_DIR / name}.log")
        if is_ready(timeout=2.0):
            return
        time.sleep(0.3)
    raise SystemExit(f"the system did not become ready within {timeout:.0f} s; logs are in {LOG_DIR}")


def spawn(detached: bool) -> dict[str, subprocess.Popen]:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    processes, metrics = {}, []
    for name in with_workers(int(os.environ.get("WORKERS", "1"))):
        output = open(LOG_DIR / f"{name}.log", "ab") if detached else None
        env = environment_for(name)
        processes[name] = subprocess.Popen(
            command_for(name),
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT if detached else None,
            start_new_session=detached,
            env=env,
        )
        (RUN_DIR / f"{name}.pid").write_text(str(processes[name].pid))
        metrics.append(f"{name} http://{env[metrics_variable(name)]}/metrics")
    METRICS_FILE.write_text("\n".join(metrics) + "\n")
    return processes


def say_metrics() -> None:
    print("metrics:\n  " + "\n  ".join(METRICS_FILE.read_text().split("\n")).rstrip(), flush=True)


def stop() -> None:
    for pid_file in sorted(RUN_DIR.glob("*.pid")):
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid_file.unlink(missing_ok=True)
        print(f"stopped {pid_file.stem}")
    METRICS_FILE.unlink(missing_ok=True)


def main(argv: list[str]) -> None:
    action = argv[0] if argv else "run"
    if action == "stop":
        stop()
    elif action == "start":
        if is_ready():
            print(f"already running at {gateway_url()}")
            return
        wait_ready(spawn(detached=True))
        say_metrics()
        print(f"system running at {gateway_url()} (logs in {LOG_DIR}); `make stop` stops it")
    elif action == "run":
        processes = spawn(detached=False)
        try:
            wait_ready(processes)
            say_metrics()
            print(f"system running at {gateway_url()}; Ctrl-C stops it", flush=True)
            while all(p.poll() is None for p in processes.values()):
                time.sleep(0.5)
            raise SystemExit("a service exited; stopping the others")
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes.values():
                process.wait(timeout=15)
            for name in processes:
                (RUN_DIR / f"{name}.pid").unlink(missing_ok=True)
            METRICS_FILE.unlink(missing_ok=True)
    else:
        raise SystemExit("usage: python -m dev.launcher run|start|stop")


if __name__ == "__main__":
    main(sys.argv[1:])
