"""Build one council's awards runtime from configuration."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from awards.application import AwardsApplication, Council
from awards.policy import load_policy
from awards.projections import CaseListProjection
from shared.catalog import load_catalog
from shared.persistence import default_database_url, eventsourcing_env
from shared.relay import Relay
from shared.sealer import Sealer
from shared.signing import signer_from_config

SERVICE = "awards"
log = logging.getLogger(__name__)


def service_name(jurisdiction: str) -> str:
    """Each council is its own nameko service (own RPC and event queues); copies share it."""
    return "awards_" + jurisdiction.replace("-", "_")


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


def council_from_config(config: dict) -> Council:
    return Council(
        level=config.get("COUNCIL_LEVEL") or "district",
        jurisdiction=config.get("JURISDICTION") or "huyen-yen-the",
        parent_jurisdiction=config.get("PARENT_JURISDICTION") or "tinh-bac-giang",
        name=config.get("COUNCIL_NAME") or "Hội đồng Thi đua – Khen thưởng",
    )


def build(config: dict) -> AwardsRuntime:
    catalog = load_catalog(config.get("CATALOG_DIR") or None)
    policy = load_policy(config.get("POLICY_FILE") or None, catalog)
    council = council_from_config(config)
    instance = service_name(council.jurisdiction)
    database_url = config.get("DATABASE_URL") or default_database_url(instance)
    app = AwardsApplication(catalog=catalog, policy=policy, council=council, env=eventsourcing_env(database_url))

    signer = signer_from_config(config, instance)  # signs checkpoints (and wire events)
    relay = Relay(app, SERVICE, instance, config["AMQP_URI"], signer)
    log.info("awards council %s (%s) on %s", council.jurisdiction, council.level, database_url.split("@")[-1])
    sealer = Sealer(app, signer)
    return AwardsRuntime(app, CaseListProjection(app), relay, sealer, instance)
