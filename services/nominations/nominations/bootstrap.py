"""Build the nominations runtime from configuration: one place that wires everything."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from nominations.application import NominationsApplication
from nominations.projections import ExemplarListProjection
from shared.catalog import load_catalog
from shared.consumer import IdempotentConsumer
from shared.errors import ConcurrentChange
from shared.persistence import default_database_url, eventsourcing_env
from shared.relay import Relay
from shared.wire import WireEvent

SERVICE = "nominations"
log = logging.getLogger(__name__)


@dataclass
class NominationsRuntime:
    app: NominationsApplication
    exemplars: ExemplarListProjection
    relay: Relay
    instance: str
    consumer: IdempotentConsumer

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
        self.exemplars.catch_up()


def build(config: dict) -> NominationsRuntime:
    catalog = load_catalog(config.get("CATALOG_DIR") or None)
    database_url = config.get("DATABASE_URL") or default_database_url(SERVICE)
    instance = config.get("INSTANCE_ID") or SERVICE
    app = NominationsApplication(
        catalog=catalog,
        department=config.get("DEPARTMENT") or "hoi-nong-dan-yen-the",
        env=eventsourcing_env(database_url),
        council_level=config.get("COUNCIL_LEVEL") or "district",
        jurisdiction=config.get("JURISDICTION") or "huyen-yen-the",
    )

    relay = Relay(app, SERVICE, instance, config["AMQP_URI"])
    log.info("nominations instance %s on %s", instance, database_url.split("@")[-1])
    return NominationsRuntime(app, ExemplarListProjection(app), relay, instance, IdempotentConsumer(app))
