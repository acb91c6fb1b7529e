"""Build the nominations runtime from configuration: one place that wires everything."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nominations.application import NominationsApplication
from nominations.projections import ExemplarListProjection
from shared.catalog import load_catalog
from shared.persistence import default_database_url, eventsourcing_env
from shared.relay import Relay
from shared.wire import describe_event, wire_event

SERVICE = "nominations"
log = logging.getLogger(__name__)


@dataclass
class NominationsRuntime:
    app: NominationsApplication
    exemplars: ExemplarListProjection
    relay: Relay
    instance: str

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
    )

    def to_wire(notification):
        described = describe_event(app.mapper.to_domain_event(notification))
        return wire_event(described, SERVICE, instance, notification.id)

    relay = Relay(app, to_wire, SERVICE, instance, config["AMQP_URI"])
    log.info("nominations instance %s on %s", instance, database_url.split("@")[-1])
    return NominationsRuntime(app, ExemplarListProjection(app), relay, instance)
