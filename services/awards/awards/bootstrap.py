"""Build one council's awards runtime from configuration."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from awards.application import AwardsApplication
from awards.policy import load_policy
from awards.projections import CaseListProjection
from shared.catalog import CatalogError, load_catalog
from shared.council_queues import every_consumer_queue, service_name
from shared.persistence import default_database_url, eventsourcing_env
from shared.relay import Relay
from shared.sealer import Sealer
from shared.signing import signer_from_config
from shared.topology import Council, Topology

SERVICE = "awards"
DEFAULT_JURISDICTION = "huyen-yen-the"
log = logging.getLogger(__name__)


def configured_jurisdiction(config: dict) -> str:
    return config.get("JURISDICTION") or DEFAULT_JURISDICTION


@dataclass
class AwardsRuntime:
    app: AwardsApplication
    cases: CaseListProjection
    relay: Relay
    sealer: Sealer
    instance: str

    def background_catch_up(self) -> None:
        self.cases.catch_up()
        self.sealer.seal_pending()


def council_from_config(config: dict, topology: Topology) -> Council:
    """The council this process is: its code from AWARDS_JURISDICTION, the rest from the topology."""
    code = configured_jurisdiction(config)
    try:
        return topology.council(code)
    except LookupError:
        raise CatalogError(f"council {code!r} (AWARDS_JURISDICTION) is not in the council topology "
                           f"(councils.yaml in the catalog folder)") from None


def build(config: dict) -> AwardsRuntime:
    catalog = load_catalog(config.get("CATALOG_DIR") or None)
    policy = load_policy(config.get("POLICY_FILE") or None, catalog)
    council = council_from_config(config, catalog.topology)
    instance = service_name(council.code)
    database_url = config.get("DATABASE_URL") or default_database_url(instance)
    app = AwardsApplication(catalog=catalog, policy=policy, council=council, env=eventsourcing_env(database_url))

    signer = signer_from_config(config, instance, service=SERVICE, council=council.code)  # checkpoints, wire events
    relay = Relay(app, SERVICE, instance, config["AMQP_URI"], signer, queues=every_consumer_queue(catalog.topology))
    log.info("awards council %s (%s) on %s", council.jurisdiction, council.level, database_url.split("@")[-1])
    sealer = Sealer(app, signer)
    return AwardsRuntime(app, CaseListProjection(app), relay, sealer, instance)
