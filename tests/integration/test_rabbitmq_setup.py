"""deploy/rabbitmq-setup.sh against this machine's real RabbitMQ, on a throw-away vhost and user
(deleted afterwards): the user it makes can do what the services do -- the whole system runs as
that user -- and nothing else."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import uuid

import amqp.exceptions
import kombu
import pytest
import requests
from nameko.rpc import RPC_QUEUE_TEMPLATE, RPC_REPLY_QUEUE_TEMPLATE, get_rpc_exchange

from conftest import ROOT, detect_data, rabbitmqctl, start_system, wait_for
from notifications.ledger import DELIVERY_QUEUE
from shared.contracts.nominations import service_name as nominations_service
from shared.relay import events_exchange
from shared.reliable_events import parked_queue_name, retry_queue_name

pytestmark = pytest.mark.integration
SCRIPT = ROOT / "deploy" / "rabbitmq-setup.sh"
ADMIN = "guest:guest"  # this machine's broker administrator, as in conftest


def run_setup(vhost: str, user: str, password: str, worker_password: str | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {"RABBITMQ_VHOST": vhost, "RABBITMQ_USER": user, "RABBITMQ_PASSWORD": password}
    if worker_password is not None:
        env["RABBITMQ_WORKER_PASSWORD"] = worker_password
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def can_authenticate(user: str, password: str) -> bool:
    done = subprocess.run(["rabbitmqctl", "-q", "authenticate_user", user, password], capture_output=True, timeout=60)
    return done.returncode == 0


@pytest.fixture(scope="module")
def deployment():
    """A vhost and user made by the script; the administrator may look into the vhost."""
    name = f"exemplars_setup_{uuid.uuid4().hex[:10]}"
    password, worker_password = secrets.token_hex(16), secrets.token_hex(16)
    try:
        done = run_setup(name, name, password, worker_password)
        assert done.returncode == 0, done.stderr
        rabbitmqctl("set_permissions", "-p", name, ADMIN.split(":")[0], ".*", ".*", ".*")
        yield {"vhost": name, "user": name, "password": password,
               "uri": f"amqp://{name}:{password}@127.0.0.1:5672/{name}",
               "worker_uri": f"amqp://{name}-worker:{worker_password}@127.0.0.1:5672/{name}",
               "admin_uri": f"amqp://{ADMIN}@127.0.0.1:5672/{name}"}
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_user", f"{name}-worker"], capture_output=True, timeout=60)
        subprocess.run(["rabbitmqctl", "-q", "delete_user", name], capture_output=True, timeout=60)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=120)


def wait_get(queue: kombu.Queue, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = queue.get(no_ack=True)
        if message is not None:
            return message
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived on {queue.name}")


def test_the_user_can_declare_bind_publish_and_consume_what_the_services_do(deployment):
    service = "awards_probe_council"
    with kombu.Connection(deployment["uri"], transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        rpc = get_rpc_exchange({})  # nameko's, as every service declares it
        reply_id = str(uuid.uuid4())
        events = events_exchange("nominations")  # as the relay declares it
        evt_name = f"evt-nominations-council--{service}.on_nominations_event"
        queues = {
            "rpc": kombu.Queue(RPC_QUEUE_TEMPLATE.format(service), exchange=rpc, routing_key=f"{service}.*",
                               durable=True),
            "reply": kombu.Queue(RPC_REPLY_QUEUE_TEMPLATE.format("gateway", reply_id), exchange=rpc,
                                 routing_key=reply_id, auto_delete=True),
            "evt": kombu.Queue(evt_name, exchange=events, routing_key="case.opened.district.huyen-yen-the",
                               durable=True, queue_arguments={"x-single-active-consumer": True}),
            "evt_parked": kombu.Queue(parked_queue_name(evt_name), durable=True),
            "jobs": kombu.Queue(DELIVERY_QUEUE, durable=True),
            "jobs_parked": kombu.Queue(parked_queue_name(DELIVERY_QUEUE), durable=True),
        }
        for queue in queues.values():
            queue(channel).declare()
        for target in (evt_name, DELIVERY_QUEUE):  # as RetryThenPark declares them
            kombu.Queue(retry_queue_name(target, 200), durable=True, queue_arguments={
                "x-message-ttl": 200, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": target,
            })(channel).declare()

        producer = kombu.Producer(channel)
        producer.publish({"call": 1}, exchange=rpc, routing_key=f"{service}.cases", reply_to=reply_id)
        producer.publish({"reply": 1}, exchange=rpc, routing_key=reply_id)
        producer.publish({"event": 1}, exchange=events, routing_key="case.opened.district.huyen-yen-the")
        producer.publish({"job": 1}, exchange="", routing_key=DELIVERY_QUEUE)
        producer.publish({"parked": 1}, exchange="", routing_key=parked_queue_name(evt_name))
        producer.publish({"parked": 2}, exchange="", routing_key=parked_queue_name(DELIVERY_QUEUE))
        producer.publish({"retried": 1}, exchange="", routing_key=retry_queue_name(evt_name, 200))

        bound = {key: queue(channel) for key, queue in queues.items()}
        assert wait_get(bound["rpc"]).payload == {"call": 1}
        assert wait_get(bound["reply"]).payload == {"reply": 1}
        assert wait_get(bound["evt"]).payload == {"event": 1}
        assert wait_get(bound["jobs"]).payload == {"job": 1}
        assert wait_get(bound["evt_parked"]).payload == {"parked": 1}
        assert wait_get(bound["jobs_parked"]).payload == {"parked": 2}
        assert wait_get(bound["evt"]).payload == {"retried": 1}  # back from the delay queue


@pytest.mark.parametrize("attempt", [
    pytest.param(lambda c: kombu.Queue("unrelated", durable=True)(c.channel()).declare(), id="declare-other-queue"),
    pytest.param(lambda c: kombu.Exchange("reports.events", "topic", durable=True)(c.channel()).declare(),
                 id="declare-other-exchange"),
    pytest.param(lambda c: kombu.Queue("evt-reports-x--notifications.on_x", durable=True)(c.channel()).declare(),
                 id="declare-event-queue-of-unknown-source"),
    pytest.param(lambda c: kombu.Producer(c.default_channel).publish({}, exchange="amq.topic", routing_key="x"),
                 id="publish-to-amq.topic"),
    pytest.param(lambda c: c.channel().basic_get("admin-only"), id="consume-other-queue"),
    pytest.param(lambda c: c.channel().queue_bind(DELIVERY_QUEUE, "amq.fanout", ""), id="bind-to-amq.fanout"),
])
def test_the_user_can_do_nothing_else(deployment, attempt):
    with kombu.Connection(deployment["admin_uri"]) as admin:
        channel = admin.channel()
        kombu.Queue("admin-only", durable=True)(channel).declare()
        kombu.Queue(DELIVERY_QUEUE, durable=True)(channel).declare()
    with kombu.Connection(deployment["uri"], transport_options={"confirm_publish": True}) as conn:
        with pytest.raises(amqp.exceptions.AccessRefused):
            attempt(conn)


def test_the_delivery_workers_user_takes_retries_and_parks_jobs(deployment):
    with kombu.Connection(deployment["worker_uri"], transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        jobs = kombu.Queue(DELIVERY_QUEUE, durable=True)(channel)
        jobs.declare()
        parked = kombu.Queue(parked_queue_name(DELIVERY_QUEUE), durable=True)(channel)
        parked.declare()
        kombu.Queue(retry_queue_name(DELIVERY_QUEUE, 200), durable=True, queue_arguments={
            "x-message-ttl": 200, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": DELIVERY_QUEUE,
        })(channel).declare()
        producer = kombu.Producer(channel)
        producer.publish({"retried": 1}, exchange="", routing_key=retry_queue_name(DELIVERY_QUEUE, 200))
        producer.publish({"parked": 1}, exchange="", routing_key=parked_queue_name(DELIVERY_QUEUE))
        assert wait_get(jobs).payload == {"retried": 1}  # back from the delay queue
        assert wait_get(parked).payload == {"parked": 1}


@pytest.mark.parametrize("attempt", [
    pytest.param(lambda c: kombu.Producer(c.default_channel).publish(
        {"args": ["case", "decide", {}], "kwargs": {}}, exchange=get_rpc_exchange({}),
        routing_key="awards_huyen_yen_the.change_case", reply_to=str(uuid.uuid4())), id="send-an-rpc-command"),
    pytest.param(lambda c: kombu.Queue(RPC_QUEUE_TEMPLATE.format("awards_huyen_yen_the"), durable=True)(
        c.channel()).declare(), id="declare-an-rpc-queue"),
    pytest.param(lambda c: c.channel().basic_get(RPC_QUEUE_TEMPLATE.format("awards_huyen_yen_the")),
                 id="take-another-services-commands"),
    pytest.param(lambda c: kombu.Producer(c.default_channel).publish(
        {}, exchange=events_exchange("awards"), routing_key="award.granted.district.huyen-yen-the"),
        id="publish-an-event"),
])
def test_the_delivery_workers_user_can_send_no_command_nor_event(deployment, attempt):
    """A worker's credentials (it holds webhook secrets and talks to the outside) reach no service."""
    with kombu.Connection(deployment["admin_uri"]) as admin:  # the targets exist, as in a running system
        channel = admin.channel()
        kombu.Queue(RPC_QUEUE_TEMPLATE.format("awards_huyen_yen_the"), exchange=get_rpc_exchange({}),
                    routing_key="awards_huyen_yen_the.*", durable=True)(channel).declare()
        kombu.Exchange(events_exchange("awards").name, "topic", durable=True)(channel).declare()
    with kombu.Connection(deployment["worker_uri"], transport_options={"confirm_publish": True}) as conn:
        with pytest.raises(amqp.exceptions.AccessRefused):
            attempt(conn)


def test_the_user_has_no_other_vhost_and_no_management_access(deployment):
    with pytest.raises(amqp.exceptions.NotAllowed):
        with kombu.Connection(f"amqp://{deployment['user']}:{deployment['password']}@127.0.0.1:5672/") as conn:
            conn.connect()
    users = subprocess.run(["rabbitmqctl", "-q", "list_users", "--no-table-headers"], capture_output=True,
                           text=True, timeout=60, check=True).stdout.splitlines()
    assert f"{deployment['user']}\t[]" in users  # no tags: no management UI or HTTP API
    permissions = subprocess.run(["rabbitmqctl", "-q", "list_user_permissions", "--no-table-headers",
                                  deployment["user"]], capture_output=True, text=True, timeout=60, check=True)
    assert [line.split("\t")[0] for line in permissions.stdout.splitlines()] == [deployment["vhost"]]


def test_rerunning_rotates_the_password_and_refuses_an_unsafe_one(deployment):
    user, old = deployment["user"], deployment["password"]
    printed = subprocess.run(["sh", str(SCRIPT), "--print-permissions"], capture_output=True, text=True,
                             check=True, timeout=30).stdout.splitlines()
    new = secrets.token_hex(16)
    try:
        assert run_setup(deployment["vhost"], user, new).returncode == 0
        assert can_authenticate(user, new) and not can_authenticate(user, old)
        permissions = subprocess.run(["rabbitmqctl", "-q", "list_user_permissions", "--no-table-headers", user],
                                     capture_output=True, text=True, timeout=60, check=True).stdout
        assert permissions.strip().split("\t")[1:] == printed  # reset to exactly what the script prints

        refused = run_setup(deployment["vhost"], user, "with space@and/slash")
        assert refused.returncode == 2 and "URL-safe" in refused.stderr
        assert can_authenticate(user, new)  # nothing changed
    finally:
        assert run_setup(deployment["vhost"], user, old).returncode == 0  # as the other tests expect


@pytest.fixture(scope="module")
def system_as_setup_user(tmp_path_factory, deployment):
    """Every service of `make run`, connected as the script's user instead of the administrator."""
    yield from start_system(tmp_path_factory, extra_env={"AMQP_URI": deployment["uri"]},
                            worker_env={"AMQP_URI": deployment["worker_uri"]})


def test_the_whole_system_runs_as_that_user(deployment, system_as_setup_user):
    system = system_as_setup_user  # started, and every council answered the gateway over RPC
    recipient = f"setup-{uuid.uuid4().hex[:8]}"
    subscribed = requests.post(system.url("/subscriptions"), timeout=30, headers=system.auth_for("/subscriptions"),
                               json={"recipient_id": recipient, "recipient_kind": "unit", "name": "Phòng thử",
                                     "event_types": ["exemplar.detected"], "channels": [{"channel": "inbox"}]})
    assert subscribed.status_code == 201, subscribed.text
    time.sleep(1.5)  # the subscription reaches the read model before the event
    with kombu.Connection(deployment["admin_uri"]) as admin:
        watch = kombu.Queue(f"watch-{uuid.uuid4().hex[:8]}", exchange=events_exchange("nominations"),
                            routing_key="#", exclusive=True)(admin.channel())
        watch.declare()
        created = requests.post(system.url("/exemplars"), json=detect_data(), timeout=30,
                                headers=system.auth_for("/exemplars"))
        assert created.status_code == 201, created.text
        published = wait_get(watch, timeout=30)  # the relay published it as that user
        event = json.loads(published.body) if isinstance(published.body, (str, bytes)) else published.payload
        assert event["type"] == "exemplar.detected" and event["aggregate_id"] == created.json()["id"]
    # the delivery worker, connected as the workers' user (no RPC), delivered it
    inbox = wait_for(lambda: requests.get(system.url(f"/inbox/{recipient}"), timeout=30,
                                          headers=system.auth_for(f"/inbox/{recipient}")).json()["items"],
                     what="the delivery to the inbox")
    assert len(inbox) == 1


def test_a_command_the_workers_user_slips_onto_an_rpc_queue_names_no_method(deployment, system_as_setup_user):
    """The default exchange, which a worker needs to retry and park, reaches any queue; but a
    message through it carries the queue's name as its routing key, and nameko finds the method
    by ``<service>.<method>``: the service takes it off its queue and runs nothing."""
    system = system_as_setup_user
    service = nominations_service(system.env["NOMINATIONS_INSTANCE_ID"])
    listed = requests.get(system.url("/exemplars"), headers=system.auth_for("/exemplars"), timeout=30).json()
    with kombu.Connection(deployment["worker_uri"], transport_options={"confirm_publish": True}) as conn:
        kombu.Producer(conn.default_channel).publish(
            {"args": [detect_data()], "kwargs": {}}, exchange="", routing_key=RPC_QUEUE_TEMPLATE.format(service),
            reply_to=str(uuid.uuid4()), correlation_id=str(uuid.uuid4()), serializer="json")
    with kombu.Connection(deployment["admin_uri"]) as admin:
        wait_for(lambda: admin.channel().queue_declare(RPC_QUEUE_TEMPLATE.format(service), passive=True
                                                       ).message_count == 0, what="the service taking it")
    time.sleep(1)  # a worker it might have started would have stored by now
    after = requests.get(system.url("/exemplars"), headers=system.auth_for("/exemplars"), timeout=30).json()
    assert after["total"] == listed["total"]
