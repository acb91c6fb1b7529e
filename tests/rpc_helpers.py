"""Driving running services over RPC and reading what the broker holds, for end-to-end tests.

RPC, not HTTP: these tests are about what services do with each other's events, and talk
to each department and council directly, as the gateway or CLI of each one would.
"""

from __future__ import annotations

import logging
import subprocess
import time
import uuid

import kombu
from nameko.standalone.rpc import ClusterRpcProxy

import shared.rpc  # noqa: F401 - domain errors arrive as themselves
from conftest import AMQP_URI, LIFECYCLE, STEPS, detect_data, gateway_signer, wait_for
from shared.callers import COMMANDS, OFFICER, SECRETARY, may_call, sign_caller
from shared.relay import events_exchange
from shared.reliable_events import parked_queue_name

DECISION = {"decision_number": "2156/QĐ-UBND", "signer": "Chủ tịch UBND huyện Yên Thế"}


def rpc_proxy(timeout: float = 30, amqp_uri: str = AMQP_URI):
    """A cluster proxy whose commands carry a caller signed by the test gateway (AsGateway)."""
    return AsGateway(ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=timeout))


def service_kind(name: str) -> str:
    """nominations-<instance>, awards_<council>, notifications: its kind in shared.callers.COMMANDS."""
    return next((kind for kind in COMMANDS if name.startswith(kind)), name)


def signed_caller(kind: str, method: str, **claims) -> dict:
    """A caller of ``kind``'s command ``method`` in its first permitted role, signed by the test gateway."""
    role = claims.pop("role", None) or may_call(kind, method)[0]
    scope = {OFFICER: {"department": "hoi-nong-dan-yen-the"}, SECRETARY: {"council": "test"}}.get(role, {})
    return sign_caller(gateway_signer(), {"sub": f"test-{role.replace('_', '-')}", "role": role} | scope | claims)


class AsGateway:
    """Drives services over RPC as a gateway would: each command (shared.callers.COMMANDS)
    called without ``caller=`` gets one, signed by the test gateway; the services' check is
    theirs as ever. ``raw`` is the proxy itself, for calls that must come unsigned."""

    def __init__(self, cluster: ClusterRpcProxy):
        self.cluster = cluster
        self.raw = None

    def __enter__(self):
        self.raw = self.cluster.__enter__()
        return self

    def __exit__(self, *exc):
        return self.cluster.__exit__(*exc)

    def __getattr__(self, service: str):
        return _SignedService(getattr(self.raw, service), service_kind(service))


class _SignedService:
    def __init__(self, proxy, kind: str):
        self._proxy, self._kind = proxy, kind

    def __getattr__(self, method: str):
        target = getattr(self._proxy, method)
        if method not in COMMANDS.get(self._kind, {}):
            return target

        def call(*args, **kwargs):
            kwargs.setdefault("caller", signed_caller(self._kind, method))
            return target(*args, **kwargs)
        return call


def wait_serving(rpc, service: str, method: str, processes: dict, timeout: float = 90) -> None:
    """Until ``service`` answers ``method`` (each unanswered call is UnknownService or a timeout)."""
    logging.getLogger("amqp").setLevel(logging.ERROR)  # confirms after an unroutable call: noise
    deadline = time.monotonic() + timeout
    while True:
        dead = [name for name, p in processes.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited while starting")
        try:
            return getattr(getattr(rpc, service), method)()
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def nominated_exemplar(rpc, department: str, award_form: str = "giay-khen",
                       name: str = "Hộ ông Hoàng Văn Thắng") -> str:
    """An exemplar of ``department`` (a nominations service) taken through review and nominated."""
    nominations = getattr(rpc, department)
    exemplar_id = nominations.detect(detect_data(name=name))["id"]
    for step in LIFECYCLE[:4]:
        nominations.change(exemplar_id, step, STEPS[step])
    nominations.change(exemplar_id, "nominate", STEPS["nominate"] | {"award_form": award_form})
    return exemplar_id


def case_of(rpc, council: str, exemplar_id: str, status: str | None = None) -> dict | None:
    cases = getattr(rpc, council).cases(status, 1000)["items"]
    return next((c for c in cases if c["exemplar_id"] == exemplar_id), None)


def decide(rpc, council: str, case_id: str, on: str = "2018-10-12") -> str:
    """Appraise, vote and decide: returns the award id."""
    awards = getattr(rpc, council)
    awards.change_case(case_id, "appraise", {"passed": True, "appraiser": "Phòng Nội vụ", "note": "Đủ hồ sơ",
                                             "business_date": on})
    awards.change_case(case_id, "record_session", {"session": "Phiên 10/2018", "members": 9, "present": 9,
                                                   "in_favour": 9, "against": 0, "business_date": on})
    return awards.change_case(case_id, "decide", DECISION | {"business_date": on})["result"]


def council_steps(history: list[dict]) -> list[tuple[str, str]]:
    return [(h["payload"]["step"], h["payload"]["council_level"]) for h in history
            if h["type"] == "exemplar.council_case_progressed"]


def publish(body: dict, source: str, routing_key: str, amqp_uri: str = AMQP_URI) -> None:
    """Straight onto ``<source>.events``, as anyone with access to the broker could."""
    exchange = events_exchange(source)
    with kombu.Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(body, exchange=exchange, routing_key=routing_key, serializer="json",
                                delivery_mode=2, declare=[exchange])


def take_parked(queue: str, wanted, expected: int, timeout: float = 30,
                amqp_uri: str = AMQP_URI) -> list[kombu.Message]:
    """Wait for ``expected`` messages satisfying ``wanted(body)`` in ``queue``'s parked queue; take them."""
    found: list = []

    def more():
        with kombu.Connection(amqp_uri) as conn:
            parked = kombu.Queue(parked_queue_name(queue), durable=True)(conn.channel())
            while (message := parked.get(no_ack=False)) is not None:
                if wanted(message.payload):
                    found.append(message)
                    message.ack()
                else:
                    message.requeue()
                    break
        return len(found) >= expected

    wait_for(more, timeout=timeout, what=f"{expected} parked message(s) in {parked_queue_name(queue)}")
    return found


class Spy:
    """A queue bound to everything on one exchange: what was published, and how often."""

    def __init__(self, source: str):
        self.queue = kombu.Queue(f"test-spy-{source}-{uuid.uuid4().hex[:8]}", exchange=events_exchange(source),
                                 routing_key="#", durable=True, queue_arguments={"x-expires": 300_000})
        with kombu.Connection(AMQP_URI) as conn:
            self.queue(conn.channel()).declare()

    def drain(self) -> list[tuple[dict, str]]:
        """Every message so far, as (body, routing key)."""
        taken = []
        with kombu.Connection(AMQP_URI) as conn:
            queue = self.queue(conn.channel())
            while (message := queue.get(no_ack=True)) is not None:
                taken.append((message.payload, message.delivery_info["routing_key"]))
        return taken


def queue_consumers(vhost: str) -> dict[str, tuple[int, int]]:
    """Each queue of the vhost: (consumers, messages waiting), from rabbitmqctl."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "consumers", "messages",
                             "--no-table-headers"], check=True, capture_output=True, text=True, timeout=120).stdout
    rows = (line.rsplit(None, 2) for line in listed.splitlines() if line.strip())
    return {name: (int(consumers), int(messages)) for name, consumers, messages in rows}
