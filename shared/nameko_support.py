"""Glue between an event-sourced runtime and nameko: one dependency per service.

It builds the runtime (application, read models, relay) from the container config,
runs the relay and the read-model catch-up in managed background threads, and wakes
them after every worker so a stored event leaves at once instead of at the next poll.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Protocol

from nameko.extensions import DependencyProvider

from shared.errors import DomainError
from shared.rpc import rpc_consuming  # also registers domain errors for RPC

log = logging.getLogger(__name__)

try:  # make psycopg2 cooperative under eventlet, or one slow query stalls every worker
    import eventlet.patcher

    if eventlet.patcher.is_monkey_patched("socket"):
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()
except ImportError:  # pragma: no cover - eventlet always comes with nameko
    pass


class Runtime(Protocol):
    relay: Any

    def background_catch_up(self) -> None: ...


class RuntimeProvider(DependencyProvider):
    def __init__(self, build: Callable[[dict], Runtime]):
        self.build = build
        self.runtime: Runtime | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    def setup(self) -> None:
        self.runtime = self.build(self.container.config)
        copies = getattr(self.runtime, "copies", None)
        if copies is not None:  # it counts its instance's RPC consumers: is one of them this process's?
            copies.serving = lambda: rpc_consuming(self.container)

    def start(self) -> None:
        self.container.spawn_managed_thread(self._relay_loop, identifier="relay")
        self.container.spawn_managed_thread(self._read_model_loop, identifier="read-models")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _relay_loop(self) -> None:
        self.runtime.relay.run(self._stop, self._wake)

    def _read_model_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.runtime.background_catch_up()
            except Exception:  # noqa: BLE001 - the next round retries; reads also catch up
                log.exception("read model catch-up failed")
                self._stop.wait(1.0)
            self._stop.wait(1.0)  # reads catch up first anyway: this only keeps the model warm

    def collectors(self) -> list:
        """What this runtime tells at scrape time (shared.observability): the log's figures and
        any the runtime adds of its own (``runtime.collectors()``)."""
        from shared.observability import RuntimeCollector

        own = getattr(self.runtime, "collectors", None)
        return [RuntimeCollector(self.runtime), *(own() if callable(own) else ())]

    def get_dependency(self, worker_ctx) -> Runtime:
        return self.runtime

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        if exc_info and isinstance(exc_info[1], DomainError):
            log.info("%s refused: %s", worker_ctx.entrypoint.method_name, exc_info[1].log_message)

    def worker_teardown(self, worker_ctx) -> None:
        self._wake.set()


class CallerCheck(DependencyProvider):
    """A service's check of who calls its commands (shared.callers): ``self.callers(method,
    caller)`` is the verified caller, or Unauthenticated/Forbidden, logged. The trusted keys
    are the service's TRUSTED_KEYS_DIR, re-read as it changes (shared.signing.TrustedKeys)."""

    def __init__(self, service: str):
        self.service = service  # its kind in shared.callers.COMMANDS: nominations, awards, notifications

    def setup(self):
        from shared.signing import trusted_from_config

        self.trusted = trusted_from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        from shared.callers import checked_caller

        return lambda method, caller: checked_caller(caller, self.trusted, self.service, method)
