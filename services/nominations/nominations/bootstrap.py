"""Build the nominations runtime from configuration: one place that wires everything."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nominations.application import NominationsApplication
from nominations.projections import ExemplarListProjection
from shared.catalog import load_catalog
from shared.consumer import IdempotentConsumer
from shared.persistence import default_database_url, eventsourcing_env
from shared.relay import Relay
from shared.wire import WireEvent, describe_event, wire_event

SERVICE = "nominations"
log = logging.getLogger(__name__)


@dataclass
class NominationsRuntime:
    app: NominationsApplication
    exemplars: ExemplarListProjection
    relay: Relay
    instance: str
    consumer: IdempotentConsumer

    def receive(self, event: WireEvent) -> str:
        handled, outcome = self.consumer.handle_once(event, lambda: self.app.record_council_outcome(event))
        return outcome if handled else "duplicate"

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

    def to_wire(notification):
        described = describe_event(app.mapper.to_domain_event(notification))
        return wire_event(described, SERVICE, instance, notification.id)

    relay = Relay(app, to_wire, SERVICE, instance, config["AMQP_URI"])
    log.info("nominations instance %s on %s", instance, database_url.split("@")[-1])
    return NominationsRuntime(app, ExemplarListProjection(app), relay, instance, IdempotentConsumer(app))
