"""Instances on one broker: two departments (one of them run as two copies), a district
council and a province council, each a real process started as `make run` starts it.

- a department acts only on its own exemplars, yet receives every council event on a
  queue of its own (the other department takes none of them);
- a council receives only the cases addressed to its level and jurisdiction: the province
  sees a case only once the district forwards it;
- two copies of one department share its queues and its relay: each event is published
  once and applied once; when one copy stops, the other carries on with both.
"""

import collections
import uuid
from pathlib import Path

import psycopg2
import pytest

from conftest import (AMQP_URI, PG_URL_BASE, TEST_VHOST, TRUSTED_KEYS_DIR, create_database, drop_database, nameko_run,
                      wait_for)
from nominations.bootstrap import service_name as nominations_service
from rpc_helpers import (Spy, case_of, council_steps, decide, nominated_exemplar, queue_consumers, rpc_proxy,
                         wait_serving)
from shared.errors import NotFound
from shared.reliable_events import parked_queue_name

pytestmark = pytest.mark.integration
DISTRICT, PROVINCE = "awards_huyen_yen_the", "awards_tinh_bac_giang"
RUN = uuid.uuid4().hex[:6]
A, B = f"nominations-hnd-yen-the-{RUN}", f"nominations-phu-nu-yen-the-{RUN}"  # instance ids
NOM_A, NOM_B = nominations_service(A), nominations_service(B)  # their nameko services


class Instances:
    def __init__(self, rpc, databases: dict[str, str], spy: Spy, processes: dict):
        self.rpc = rpc
        self.databases = databases
        self.spy = spy
        self.processes = processes

    def stop(self, name: str) -> None:
        self.processes[name].terminate()
        assert self.processes[name].wait(timeout=30) is not None

    def query(self, database: str, sql: str, *args) -> list[tuple]:
        with psycopg2.connect(PG_URL_BASE + self.databases[database]) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def handled(self, database: str, source_instance: str) -> list[tuple[int, str]]:
        """(notification id, event type) of what ``database``'s instance recorded as handled from one source."""
        return self.query(database, "SELECT notification_id, event_type FROM handled_messages "
                                    "WHERE source_instance = %s ORDER BY notification_id", source_instance)

    def log_ids(self, database: str, table: str) -> list[int]:
        return [row[0] for row in self.query(database, f"SELECT id FROM {table} ORDER BY id")]


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    names = ("a", "b", "district", "province")
    databases = {name: create_database() for name in names}
    logs = tmp_path_factory.mktemp("instance-logs")
    base = {"AMQP_URI": AMQP_URI, "TRUSTED_KEYS_DIR": str(TRUSTED_KEYS_DIR), "EVENT_RETRY_DELAYS_MS": "200,400"}

    def department(instance: str, code: str, database: str) -> dict:
        return base | {"NOMINATIONS_INSTANCE_ID": instance, "NOMINATIONS_DEPARTMENT": code,
                       "NOMINATIONS_DATABASE_URL": PG_URL_BASE + databases[database]}

    processes = {}
    spy = Spy("nominations")  # bound before anything is published
    try:
        processes["district"] = nameko_run("awards-huyen-yen-the", base | {
            "AWARDS_DATABASE_URL": PG_URL_BASE + databases["district"]}, logs / "district.log")
        processes["province"] = nameko_run("awards-tinh-bac-giang", base | {
            "AWARDS_DATABASE_URL": PG_URL_BASE + databases["province"]}, logs / "province.log")
        processes["a1"] = nameko_run("nominations", department(A, "hoi-nong-dan-yen-the", "a"), logs / "a1.log")
        processes["b"] = nameko_run("nominations", department(B, "hoi-lien-hiep-phu-nu-yen-the", "b"), logs / "b.log")
        with rpc_proxy() as rpc:
            for service, method in ((DISTRICT, "council"), (PROVINCE, "council"), (NOM_A, "catalog"),
                                    (NOM_B, "catalog")):
                wait_serving(rpc, service, method, processes)
            # a second copy of department A: the same instance, database and key, started later (scaling out)
            processes["a2"] = nameko_run("nominations", department(A, "hoi-nong-dan-yen-the", "a"), logs / "a2.log")
            wait_for(lambda: queue_consumers(TEST_VHOST).get(f"rpc-{NOM_A}", (0, 0))[0] == 2, timeout=90,
                     what="the second copy of department A serving")
            wait_for(lambda: a1_knows_it_has_company(logs / "a1.log"), timeout=10,
                     what="the first copy noticing the second (it stops starting commands from its cache)")
            yield Instances(rpc, databases, spy, processes)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            process.wait(timeout=15)
        for database in databases.values():
            drop_database(database)


def a1_knows_it_has_company(log: Path) -> bool:
    """The copy's last word on being alone (it speaks only when that changes) is not "alone"."""
    said = [line for line in log.read_text(errors="replace").splitlines() if "copy: " in line]
    return not said or "not known to be the only copy" in said[-1]


def test_departments_councils_and_copies_each_do_their_own_work_once(instances):
    rpc = instances.rpc
    a1 = nominated_exemplar(rpc, NOM_A, "giay-khen", "Hộ ông Hoàng Văn Thắng")  # within the district's authority
    a2 = nominated_exemplar(rpc, NOM_A, "bang-khen-tinh", "Hộ bà Lý Thị Mai")  # above it: forwarded
    b1 = nominated_exemplar(rpc, NOM_B, "giay-khen", "Chi hội phụ nữ thôn Mỏ Sắt")

    case = wait_for(lambda: case_of(rpc, DISTRICT, a1), what="the district case of A's exemplar")
    wait_for(lambda: case_of(rpc, DISTRICT, b1), what="the district case of B's exemplar")
    wait_for(lambda: case_of(rpc, PROVINCE, a2), what="the province case, once forwarded")

    # Both copies of A are attached to A's queues (RPC shared, events one at a time); the first
    # stops and the second carries on alone: A's events still leave, the council's still land.
    events_a, events_b = f"evt-awards-#--{NOM_A}.on_awards_event", f"evt-awards-#--{NOM_B}.on_awards_event"
    queues = queue_consumers(TEST_VHOST)
    assert queues[f"rpc-{NOM_A}"][0] == queues[events_a][0] == 2
    assert queues[f"rpc-{NOM_B}"][0] == queues[events_b][0] == 1
    instances.stop("a1")
    decide(rpc, DISTRICT, case["id"])

    nominations_a, nominations_b = getattr(rpc, NOM_A), getattr(rpc, NOM_B)
    wait_for(lambda: "exemplar.awarded" in [h["type"] for h in nominations_a.history(a1)], what="A's award")
    wait_for(lambda: len(council_steps(nominations_a.history(a2))) == 3, what="both councils on A's history")
    wait_for(lambda: council_steps(nominations_b.history(b1)), what="the district on B's history")
    councils = {DISTRICT: instances.log_ids("district", "awards_events"),
                PROVINCE: instances.log_ids("province", "awards_events")}

    def every_council_event_handled_by_both_departments():
        return all([n for n, _ in instances.handled(database, council)] == ids
                   for council, ids in councils.items() for database in ("a", "b"))

    wait_for(every_council_event_handled_by_both_departments, what="both departments through every council event")

    # Department A's exemplars carry each council step once, though two copies consumed A's queue.
    history_a1 = nominations_a.history(a1)
    assert council_steps(history_a1) == [("opened", "district")]
    assert [h["type"] for h in history_a1].count("exemplar.awarded") == 1
    assert council_steps(nominations_a.history(a2)) == [("opened", "district"), ("forwarded", "district"),
                                                        ("opened", "province")]
    assert council_steps(nominations_b.history(b1)) == [("opened", "district")]

    # Department B received every council event (above) but recorded nothing of A's exemplars.
    for exemplar_id in (a1, a2):
        with pytest.raises(NotFound):
            nominations_b.history(exemplar_id)
    assert {str(row[0]) for row in instances.query("b", "SELECT DISTINCT originator_id FROM nominations_events")} \
        == {b1}
    assert [e["id"] for e in nominations_b.list()["items"]] == [b1]

    # Councils: the district got the nominations addressed to it; the province none of them and
    # none of the district's case steps: only the case it forwarded, and the award (eligibility).
    assert [t for _, t in instances.handled("district", A)].count("exemplar.nominated") == 2
    assert [t for _, t in instances.handled("district", B)].count("exemplar.nominated") == 1
    assert instances.query("province", "SELECT count(*) FROM handled_messages "
                                       "WHERE event_type = 'exemplar.nominated'") == [(0,)]
    assert [t for _, t in instances.handled("province", DISTRICT)] == ["case.forwarded", "award.granted"]
    assert [c["exemplar_id"] for c in rpc.awards_tinh_bac_giang.cases()["items"]] == [a2]
    assert case_of(rpc, DISTRICT, a2, status="forwarded") is not None

    # Two copies of A, one after the other: each of A's events was published exactly once ...
    nominations_a.history(a1)  # served by the remaining copy
    published = collections.Counter(body["notification_id"] for body, _ in instances.spy.drain()
                                    if body["instance"] == A)
    assert set(published.values()) == {1}
    assert sorted(published) == instances.log_ids("a", "nominations_events")
    # ... and the copy left took over A's queues, with nothing failed or parked.
    queues = queue_consumers(TEST_VHOST)
    assert queues[f"rpc-{NOM_A}"][0] == queues[events_a][0] == 1
    assert queues[parked_queue_name(events_a)][1] == 0 and queues[parked_queue_name(events_b)][1] == 0
