"""Each council's event queues, declared by anyone who sends it something.

A council's awards service consumes two durable queues: what departments send it
(nominations, holds) and what other councils send it (forwarded cases, awards). nameko
would declare them only when that council first starts, and a message addressed to a
council whose queue does not exist yet is routed nowhere: the publisher's confirm says
"done", and the case is gone. So every relay declares the queues of every council in the
topology before it publishes (same name, bindings and arguments as the council's own
handler), and a case sent to a council that is not running waits in its queue — where
``waiting`` shows it to operators — until that council starts and takes it.
"""

from __future__ import annotations

from typing import Iterable

import kombu

from shared.contracts.wire_events import council_hears
from shared.topology import Council, Topology
from shared.wire import addressed_to, exchange_name

EVENT_TYPE = "council"  # the handlers' nameko event type: only names the queues
# source service -> (the event type addressed to one council, what every council hears, handler method)
SOURCES = {source: (*council_hears(source), f"on_{source}_event") for source in ("nominations", "awards")}
QUEUE_ARGUMENTS = {"x-single-active-consumer": True}  # one copy at a time applies them, in order


def service_name(jurisdiction: str) -> str:
    """Each council is its own nameko service (own RPC and event queues); copies share it."""
    return "awards_" + jurisdiction.replace("-", "_")


def routing_keys(source: str, level: str, jurisdiction: str) -> list[str]:
    addressed, everyone, _ = SOURCES[source]
    return [addressed_to(addressed, level, jurisdiction), *everyone]


def queue_name(source: str, jurisdiction: str) -> str:
    """nameko's name for an event handler's queue: evt-<source>-<type>--<service>.<method>."""
    return f"evt-{source}-{EVENT_TYPE}--{service_name(jurisdiction)}.{SOURCES[source][2]}"


def _exchange(source: str) -> kombu.Exchange:
    return kombu.Exchange(exchange_name(source), type="topic", durable=True, auto_delete=False)


def council_queues(council: Council) -> list[kombu.Queue]:
    return [
        kombu.Queue(queue_name(source, council.code), durable=True, queue_arguments=QUEUE_ARGUMENTS,
                    bindings=[kombu.binding(_exchange(source), routing_key=key)
                              for key in routing_keys(source, council.level, council.code)])
        for source in SOURCES
    ]


def every_council_queue(topology: Topology) -> list[kombu.Queue]:
    return [queue for council in topology.councils.values() for queue in council_queues(council)]


# The notifications service hears everything departments and councils say. Its queues too are
# declared by every relay, so what a department stores before notifications first starts is
# told when it does, not confirmed into nothing. Same name and flags as nameko's own declare
# for ``@reliable_event_handler(source, "#")`` (a durable, shared, non-exclusive queue).
NOTIFICATIONS_HANDLERS = {"nominations": "on_nominations_event", "awards": "on_awards_event"}


def notifications_queues() -> list[kombu.Queue]:
    return [kombu.Queue(f"evt-{source}-#--notifications.{method}", exchange=_exchange(source), routing_key="#",
                        durable=True, auto_delete=False, exclusive=False)
            for source, method in NOTIFICATIONS_HANDLERS.items()]


def every_consumer_queue(topology: Topology) -> list[kombu.Queue]:
    """What every relay declares before it publishes: each council's queues and notifications'."""
    return every_council_queue(topology) + notifications_queues()


def waiting(connection: kombu.Connection, councils: Iterable[Council]) -> list[dict]:
    """Each council's queues as the broker has them: messages waiting and consumers taking them.

    A council with messages waiting and no consumer is not running: what was sent to it is
    kept there, not lost, and an operator decides (start it, or hand the cases over)."""
    rows = []
    for council in councils:
        waiting_total, consumers = 0, []
        for source in SOURCES:
            channel = connection.channel()  # a passive declare of a missing queue closes its channel
            try:
                _, count, taking = channel.queue_declare(queue=queue_name(source, council.code), passive=True)
            except connection.channel_errors:  # never declared: nothing was ever sent to it
                count, taking = 0, 0
            finally:
                try:
                    channel.close()
                except Exception:  # noqa: BLE001 - already closed by the broker
                    pass
            waiting_total += count
            consumers.append(taking)
        rows.append({"council": council.code, "name": council.name, "level": council.level,
                     "in_force": council.span(), "waiting": waiting_total, "consumers": min(consumers),
                     "running": min(consumers) > 0})
    return rows
