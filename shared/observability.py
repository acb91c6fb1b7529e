"""What operators see of a running process: its metrics, its JSON log lines, its request id.

Metrics: every service process serves ``/metrics`` (Prometheus text format, made by
prometheus-client) on its own address, the ``METRICS_ADDRESS`` of its config (each
service's ``<SERVICE>_METRICS_ADDRESS``; the launcher gives every process a free port).
Each container has a registry of its own, so several services in one test process never
mix their figures. Figures read from the store or the broker are read at scrape time by
collectors (``RuntimeCollector``), so a scrape costs a few queries and nothing else does.

Request id: the gateway names each HTTP request (``X-Request-Id``, kept from the caller if
well formed); nameko carries it in the RPC headers as context data (``nameko.request_id``),
the relay puts it on the published event's headers the same way, so the service that handles
the call and every consumer of the events it stored log it. A header is nobody's signature:
the id is only ever a label in log lines, checked against ``REQUEST_ID`` before use.

Logs: ``ContextFilter`` adds service, instance and the current request id to every record;
``JsonFormatter`` writes one JSON object a line (time, level, logger, message, service,
instance, request_id when there is one), ``PlainFormatter`` the same for a terminal.
Each config.yml chooses with ``LOG_FORMAT`` (json unless said otherwise).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import inspect
import logging
import time
import uuid
from typing import Any, Iterable

import eventlet
import eventlet.wsgi
import kombu
from nameko.extensions import DependencyProvider, SharedExtension
from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from shared.errors import DomainError
from shared.requests import current_request_id, reset_request_id, set_request_id, valid_request_id  # noqa: F401
from shared.reliable_events import RetryThenPark, parked_queue_name

log = logging.getLogger(__name__)

REQUEST_ID_KEY = "request_id"  # the context data key, so the header ``nameko.request_id``
HEADER = f"nameko.{REQUEST_ID_KEY}"
METRICS_ADDRESS_KEY = "METRICS_ADDRESS"


def new_request_id() -> str:
    return uuid.uuid4().hex


# -- logs -----------------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Adds ``service``, ``instance`` and, inside a call that has one, ``request_id``."""

    def __init__(self, service: str = "", instance: str = "", name: str = ""):
        super().__init__(name)
        self.service = service
        self.instance = instance or service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.instance = self.instance
        request_id = current_request_id()
        if request_id is not None:
            record.request_id = request_id
        return True


def _utc_time(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds")


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: time, level, logger, message, service, instance, request_id, and
    anything a call passed in ``extra``. Non-ASCII text (Vietnamese) stays readable."""

    FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(instance)s"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", self.FIELDS)
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return _utc_time(record)


class PlainFormatter(logging.Formatter):
    """For a terminal (`make run`): the same record as one readable line."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: str = "%", **kwargs):
        super().__init__(fmt or "%(asctime)s %(levelname)s %(instance)s %(name)s: %(message)s", datefmt, style)

    def format(self, record: logging.LogRecord) -> str:
        for name in ("service", "instance"):  # a handler configured without the filter
            if not hasattr(record, name):
                setattr(record, name, "-")
        line = super().format(record)
        request_id = getattr(record, REQUEST_ID_KEY, None)
        return f"{line} [request_id={request_id}]" if request_id else line


# -- metrics --------------------------------------------------------------------------------


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return (host.strip("[]") or "0.0.0.0"), int(port)


class _QuietLog:
    def write(self, *_):  # eventlet.wsgi's access log: one line per scrape is noise
        pass


class MetricsServer(SharedExtension):
    """The container's registry, served at ``/metrics`` on METRICS_ADDRESS (off when empty).
    ``address_key``: another config key, for a second kind of process sharing one config file."""

    def __init__(self, address_key: str = METRICS_ADDRESS_KEY, **kwargs):
        self.address_key = address_key
        # made here, not in setup(): other extensions' setup() may define their metrics first
        self.registry = CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        super().__init__(**kwargs)

    def setup(self) -> None:
        self._socket = None
        self._thread = None
        self.address = str(self.container.config.get(self.address_key) or "")

    def start(self) -> None:
        if not self.address:
            return
        try:
            self._socket = eventlet.listen(parse_address(self.address))
        except (OSError, ValueError) as error:
            raise RuntimeError(f"cannot serve /metrics on {self.address!r} ({self.address_key}): {error}; "
                               f"give each process its own address") from error
        app = make_wsgi_app(self.registry)
        self._thread = self.container.spawn_managed_thread(
            lambda: eventlet.wsgi.server(self._socket, app, log=_QuietLog(), log_output=False),
            identifier="metrics")
        log.info("metrics on http://%s/metrics", self.address)

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.kill()
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    kill = stop

    def metric(self, kind, name: str, documentation: str, labels: Iterable[str] = (), **options):
        """One metric of this container, made on first use (kind: prometheus_client's Counter, …)."""
        if name not in self._metrics:
            self._metrics[name] = kind(name, documentation, list(labels), registry=self.registry, **options)
        return self._metrics[name]

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)


class Observability(DependencyProvider):
    """In every service: its request id for the call's log lines, calls counted by command and
    outcome, and the collectors of the service's other dependencies (``collectors()``)."""

    def __init__(self, address_key: str = METRICS_ADDRESS_KEY, **kwargs):
        self.server = MetricsServer(address_key)
        super().__init__(**kwargs)

    def setup(self) -> None:
        self.calls = self.server.metric(
            Counter, "exemplars_calls", "Calls handled by this process: by entrypoint, command and outcome "
            "(handled, refused by a rule, failed).", ["entrypoint", "command", "outcome"])
        self._signatures: dict[str, inspect.Signature] = {}
        self._tokens: dict[str, contextvars.Token] = {}  # call id -> how to undo its request id

    def start(self) -> None:
        # every dependency is set up by now: ask each for what it can tell at scrape time
        for dependency in self.container.dependencies:
            collectors = getattr(dependency, "collectors", None)
            if callable(collectors) and dependency is not self:
                for collector in collectors():
                    self.server.register(collector)
        queues = [parked_queue_name(e.queue.name) for e in self.container.entrypoints if isinstance(e, RetryThenPark)]
        if queues:
            self.server.register(ParkedMessages(self.container.config["AMQP_URI"], queues))

    def worker_setup(self, worker_ctx) -> None:
        self._tokens[worker_ctx.call_id] = set_request_id(worker_ctx.context_data.get(REQUEST_ID_KEY))

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        if exc_info is None:
            outcome = "handled"
        else:
            outcome = "refused" if isinstance(exc_info[1], DomainError) else "failed"
        method = worker_ctx.entrypoint.method_name
        self.calls.labels(method, self._command(worker_ctx), outcome).inc()

    def worker_teardown(self, worker_ctx) -> None:
        token = self._tokens.pop(worker_ctx.call_id, None)
        if token is not None:
            try:
                reset_request_id(token)
            except ValueError:  # set in another context: this greenthread ends anyway
                pass

    def _command(self, worker_ctx) -> str:
        """The ``command`` argument of a call that takes one (``change(id, "nominate", …)``)."""
        method = worker_ctx.entrypoint.method_name
        if method not in self._signatures:
            self._signatures[method] = inspect.signature(getattr(worker_ctx.service, method))
        try:
            bound = self._signatures[method].bind_partial(*worker_ctx.args, **worker_ctx.kwargs)
        except TypeError:
            return ""
        command = bound.arguments.get("command")
        return command if isinstance(command, str) and len(command) <= 64 else ""


class ParkedMessages(Collector):
    """Messages parked after their last retry (or refused as unverified), per queue: the broker's count."""

    def __init__(self, amqp_uri: str, queues: list[str]):
        self.amqp_uri = amqp_uri
        self.queues = queues

    def collect(self):
        family = GaugeMetricFamily("exemplars_parked_messages", "Messages parked for an operator, by queue.",
                                   labels=["queue"])
        try:
            with kombu.Connection(self.amqp_uri, connect_timeout=2) as connection:
                channel = connection.default_channel
                for queue in self.queues:
                    _, count, _ = channel.queue_declare(queue=queue, passive=True)
                    family.add_metric([queue], count)
        except Exception as error:  # noqa: BLE001 - the broker away: the scrape goes on without it
            log.warning("parked message counts unavailable: %s", error)
            return
        yield family


class RuntimeCollector(Collector):
    """An event-sourced runtime's figures, read at scrape time: events stored, events not yet
    published (the relay's backlog), each read model's lag and its parked events."""

    def __init__(self, runtime):
        self.runtime = runtime

    def projections(self) -> list:
        from shared.projection import Projection  # the persistence stack, only for services that have one

        found = {}
        for holder in (self.runtime, getattr(self.runtime, "app", None)):
            for value in vars(holder).values() if holder is not None else ():
                if isinstance(value, Projection):
                    found[value.name] = value
        return list(found.values())

    def collect(self):
        started = time.perf_counter()
        try:
            head = self.runtime.app.recorder.max_notification_id() or 0
        except Exception as error:  # noqa: BLE001 - the database away: nothing to tell
            log.warning("stored event count unavailable: %s", error)
            return
        yield CounterMetricFamily("exemplars_events_stored", "Events stored in this instance's log.", value=head)
        relay = getattr(self.runtime, "relay", None)
        if relay is not None:
            yield GaugeMetricFamily("exemplars_relay_backlog_events", "Events stored but not yet published.",
                                    value=max(0, head - relay.follower.position()))
        lag = GaugeMetricFamily("exemplars_read_model_lag_events", "Events stored that a read model has not "
                                "applied yet.", labels=["read_model"])
        parked = GaugeMetricFamily("exemplars_read_model_parked_events", "Events a read model refused and "
                                   "parked.", labels=["read_model"])
        for projection in self.projections():
            lag.add_metric([projection.name], max(0, head - projection.follower.position()))
            parked.add_metric([projection.name], projection.parked(limit=0)["total"])
        yield lag
        yield parked
        yield GaugeMetricFamily("exemplars_scrape_read_seconds", "Time this scrape spent reading the store.",
                                value=time.perf_counter() - started)


def http_metrics(server: MetricsServer) -> tuple[Counter, Histogram]:
    """The gateway's: requests by method, route and status, and how long they took."""
    return (server.metric(Counter, "exemplars_http_requests", "HTTP requests answered, by method, route "
                          "(the route's pattern) and status.", ["method", "route", "status"]),
            server.metric(Histogram, "exemplars_http_request_duration_seconds", "Time to answer an HTTP request, "
                          "by method and route.", ["method", "route"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)))
