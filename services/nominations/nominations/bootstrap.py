"""Build the nominations runtime from configuration: one place that wires everything."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import kombu
from nameko.rpc import RPC_QUEUE_TEMPLATE

from nominations.application import NominationsApplication
from nominations.projections import ExemplarListProjection
from shared.catalog import CatalogError, load_catalog
from shared.consumer import IdempotentConsumer
from shared.contracts.nominations import DEFAULT_INSTANCE, configured_instance, service_name  # noqa: F401
from shared.council_queues import every_consumer_queue
from shared.errors import ConcurrentChange
from shared.persistence import default_database_url, eventsourcing_env
from shared.relay import Relay
from shared.rpc import amqp_connection_options
from shared.sealer import Sealer
from shared.signing import signer_from_config
from shared.wire import WireEvent

SERVICE = "nominations"
log = logging.getLogger(__name__)


class CopiesWatch:
    """Whether this process is its instance's only copy: the only consumer of its RPC queue.

    Asked about once a second (with the read models' catch-up); an answer "alone" is
    trusted for 2.5 s. A copy started meanwhile is noticed at the next check; until then
    commands on its exemplars may be refused as concurrent changes (a retry succeeds),
    never stored on stale state: the store's version check still guards every save. Any
    doubt — the broker away, this process not yet consuming — means "not alone".
    """

    def __init__(self, amqp_uri: str, service: str, **connection_options):
        self.amqp_uri = amqp_uri
        # ssl and login as the service's own connections; a broker that stops answering
        # must not hold the caller (the read models' catch-up) for long
        self.connection_options = connection_options | {
            "connect_timeout": 2, "transport_options": connection_options.get("transport_options", {}) | {
                "read_timeout": 2, "write_timeout": 2}}
        self.queue = RPC_QUEUE_TEMPLATE.format(service)
        # Whether this process's own RPC consumer is registered (set by the service): a copy
        # starting up sees only the others' consumers, so one consumer is not yet "me".
        self.serving: Callable[[], bool] = lambda: False
        self.was_alone = False

    def alone(self) -> bool:
        if not self.serving():
            return False
        try:
            with kombu.Connection(self.amqp_uri, **self.connection_options) as conn:
                _, _, consumers = conn.default_channel.queue_declare(queue=self.queue, passive=True)
            return consumers == 1
        except Exception:  # noqa: BLE001 - not known to be alone
            return False


@dataclass
class NominationsRuntime:
    app: NominationsApplication
    exemplars: ExemplarListProjection
    relay: Relay
    sealer: Sealer
    instance: str
    consumer: IdempotentConsumer
    copies: CopiesWatch | None = None

    ordered: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, event: WireEvent) -> str:
        """Apply councils' events one at a time, in arrival order (the broker's order per source).

        Concurrent workers would race on one exemplar and a loser, retried later, would land
        out of order; a conflict with an officer's command is retried here, at once.
        """
        attempts_left = 3
        with self.ordered:
            while True:
                try:
                    handled, outcome = self.consumer.handle_once(event, lambda: self.app.record_council_outcome(event))
                    return outcome if handled else "duplicate"
                except ConcurrentChange:
                    attempts_left -= 1
                    if not attempts_left:
                        raise

    def background_catch_up(self) -> None:
        if self.copies is not None:
            alone = self.copies.alone()
            if alone != self.copies.was_alone:
                log.info("%s: %s", self.instance, "the only copy: commands start from its cache" if alone
                         else "not known to be the only copy: commands read the store first")
            self.copies.was_alone = alone
            # Trusted only a little past the next check: a check held up is no confirmation.
            self.app.writer.sole_writer_until = time.monotonic() + 2.5 if alone else 0.0
        self.exemplars.catch_up()
        self.sealer.seal_pending()


def aggregate_cache(config: dict) -> dict[str, str]:
    """Exemplars recently used stay in memory; a load then reads only the events stored since
    (by any copy of this instance: the library's "fast-forward"), not a snapshot and up to 49
    events. AGGREGATE_CACHE_SIZE exemplars (a few kilobytes each) are kept; 0 turns it off."""
    size = int(config.get("AGGREGATE_CACHE_SIZE") or 0)
    return {"AGGREGATE_CACHE_MAXSIZE": str(size), "AGGREGATE_CACHE_FASTFORWARD": "y",
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "y"} if size > 0 else {}


def build(config: dict) -> NominationsRuntime:
    catalog = load_catalog(config.get("CATALOG_DIR") or None)
    database_url = config.get("DATABASE_URL") or default_database_url(SERVICE)
    instance = config.get("INSTANCE_ID") or DEFAULT_INSTANCE
    department = config.get("DEPARTMENT") or "hoi-nong-dan-yen-the"
    if department not in catalog.topology.departments:  # else its nominations would have nowhere to go
        raise CatalogError(f"department {department!r} (NOMINATIONS_DEPARTMENT) is not in the council topology "
                           f"(councils.yaml in the catalog folder)")
    app = NominationsApplication(
        catalog=catalog,
        department=department,
        env=eventsourcing_env(database_url) | aggregate_cache(config),
        group_commit=True,
    )

    signer = signer_from_config(config, instance, service=SERVICE, department=department)  # checkpoints, events
    relay = Relay(app, SERVICE, instance, config["AMQP_URI"], signer, queues=every_consumer_queue(catalog.topology))
    log.info("nominations instance %s on %s", instance, database_url.split("@")[-1])
    sealer = Sealer(app, signer)
    copies = CopiesWatch(config["AMQP_URI"], service_name(instance), **amqp_connection_options(config))
    return NominationsRuntime(app, ExemplarListProjection(app), relay, sealer, instance, IdempotentConsumer(app), copies)
