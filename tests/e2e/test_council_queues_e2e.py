"""Nothing sent to a council is lost because the council is not running.

Real processes, started as `make run` starts them, on a vhost of their own. A 2026
nomination is stored and published while its commune council has never run; the commune
starts afterwards and takes it; it forwards a Bằng khen to the merged province, which is
not running either: the case waits in the province's queue, where the operators' view
shows it, and the province opens it as soon as it starts.
"""

import uuid

import kombu
import pytest

from conftest import (PG_URL_BASE, STEPS, TEST_VHOST, TRUSTED_KEYS_DIR, create_database, detect_data, drop_database,
                      free_port, nameko_run, rabbitmqctl, wait_for)
from nominations.bootstrap import service_name as nominations_service
from rpc_helpers import case_of, council_steps, rpc_proxy, wait_serving
from shared.catalog import load_catalog
from shared.council_queues import waiting

pytestmark = pytest.mark.integration
ON = "2026-03-02"
INSTANCE = f"nominations-hnd-yen-the-{uuid.uuid4().hex[:6]}"
DEPARTMENT = nominations_service(INSTANCE)
COMMUNE, PROVINCE = "awards_xa_yen_the", "awards_tinh_bac_ninh"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    vhost = f"{TEST_VHOST}_q{uuid.uuid4().hex[:6]}"  # no queue of another test's councils
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    databases = {name: create_database() for name in ("department", "commune", "province", "notifications")}
    base = {"AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{vhost}", "TRUSTED_KEYS_DIR": str(TRUSTED_KEYS_DIR),
            "EVENT_RETRY_DELAYS_MS": "200,400"}
    logs = tmp_path_factory.mktemp("council-queue-logs")
    processes = {}

    def start(name: str, launcher_name: str, env: dict) -> None:
        processes[name] = nameko_run(launcher_name, base | env, logs / f"{name}.log")

    try:
        yield base["AMQP_URI"], start, databases, processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            process.wait(timeout=15)
        for database in databases.values():
            drop_database(database)
        rabbitmqctl("delete_vhost", vhost)


def queues(amqp_uri: str) -> dict[str, dict]:
    with kombu.Connection(amqp_uri) as connection:
        return {row["council"]: row for row in waiting(connection, load_catalog().topology.councils.values())}


def notifications_queue(amqp_uri: str) -> tuple[int, int]:
    """(messages waiting, consumers) of the queue notifications hears departments on."""
    with kombu.Connection(amqp_uri) as connection:
        _, count, consumers = connection.channel().queue_declare(
            queue="evt-nominations-#--notifications.on_nominations_event", passive=True)
    return count, consumers


def test_cases_wait_for_a_council_that_is_not_running_and_it_takes_them_when_it_starts(broker):
    amqp_uri, start, databases, processes = broker
    start("department", "nominations", {"NOMINATIONS_INSTANCE_ID": INSTANCE,
                                        "NOMINATIONS_DEPARTMENT": "hoi-nong-dan-yen-the",
                                        "NOMINATIONS_DATABASE_URL": PG_URL_BASE + databases["department"]})
    with rpc_proxy(amqp_uri=amqp_uri) as rpc:
        wait_serving(rpc, DEPARTMENT, "catalog", processes)
        department = getattr(rpc, DEPARTMENT)
        exemplar_id = department.detect(detect_data(business_date="2026-01-10"))["id"]
        for step in ("plan_nurture", "record_progress", "review", "endorse"):
            department.change(exemplar_id, step, STEPS[step] | {"business_date": "2026-02-10"})
        department.change(exemplar_id, "nominate", STEPS["nominate"] | {
            "award_form": "bang-khen-tinh", "achievement": "Hộ kinh tế giỏi 2025", "business_date": ON})

        # published to the commune, which has never run: kept in its queue, shown as not running
        commune = wait_for(lambda: (q := queues(amqp_uri)["xa-yen-the"])["waiting"] >= 1 and q,
                           what="the nomination waiting in the commune's queue")
        assert commune["running"] is False and commune["consumers"] == 0

        start("commune", "awards-xa-yen-the", {"AWARDS_DATABASE_URL": PG_URL_BASE + databases["commune"]})
        wait_serving(rpc, COMMUNE, "council", processes)
        case = wait_for(lambda: case_of(rpc, COMMUNE, exemplar_id, "forwarded"),
                        what="the commune taking the stored nomination")
        assert case["status"] == "forwarded"

        # forwarded to the merged province, not running: the case waits where operators see it
        province = wait_for(lambda: (q := queues(amqp_uri)["tinh-bac-ninh"])["waiting"] >= 1 and q,
                            what="the forwarded case waiting in the province's queue")
        assert province["running"] is False
        assert queues(amqp_uri)["xa-yen-the"]["running"] is True
        wait_for(lambda: ("forwarded", "commune") in council_steps(department.history(exemplar_id)),
                 what="the forward on the exemplar's history")

        start("province", "awards-tinh-bac-ninh", {"AWARDS_DATABASE_URL": PG_URL_BASE + databases["province"]})
        wait_serving(rpc, PROVINCE, "council", processes)
        opened = wait_for(lambda: case_of(rpc, PROVINCE, exemplar_id), what="the province opening the waiting case")
        assert opened["status"] == "open" and opened["award_form"] == "bang-khen-tinh"
        wait_for(lambda: queues(amqp_uri)["tinh-bac-ninh"]["waiting"] == 0, what="the province's queue emptied")
        wait_for(lambda: ("opened", "province") in council_steps(department.history(exemplar_id)),
                 what="the province on the exemplar's history")

        # notifications has never run either: everything the department said waits for it
        waiting_for_notifications, consumers = notifications_queue(amqp_uri)
        assert consumers == 0 and waiting_for_notifications >= 6  # detected, four steps, nominated
        start("notifications", "notifications", {
            "NOTIFICATIONS_DATABASE_URL": PG_URL_BASE + databases["notifications"],
            "NOTIFICATIONS_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"})
        wait_for(lambda: notifications_queue(amqp_uri) == (0, 1), timeout=60,
                 what="notifications taking what was published before it started")
