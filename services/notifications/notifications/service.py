"""nameko entrypoints of the notifications service: subscriptions, fan-out, metrics, dead letters."""

from __future__ import annotations

import logging
import time

from nameko.timer import timer
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from notifications.bootstrap import build
from notifications.ledger import DELIVERY_QUEUE
from shared.errors import DomainError
from shared.nameko_support import CallerCheck, RuntimeProvider
from shared.observability import Observability
from shared.reliable_events import reliable_event_handler
from shared.rpc import rpc
from shared.validation import page
from shared.wire import WireEvent

log = logging.getLogger(__name__)


class DeliveryFigures(Collector):
    """The delivery ledger and work queue, read at scrape time: deliveries by channel and status,
    sent so far, jobs waiting, the oldest unsent delivery's age, failures."""

    def __init__(self, runtime):
        self.runtime = runtime

    def collect(self):
        ledger = self.runtime.app.ledger
        try:
            counts = ledger.counts()
            oldest = ledger.oldest_waiting()
        except Exception as error:  # noqa: BLE001 - the database away: the scrape goes on without it
            log.warning("delivery figures unavailable: %s", error)
            return
        now = GaugeMetricFamily("exemplars_deliveries", "Deliveries by channel and status, now.",
                                labels=["channel", "status"])
        for (channel, status), count in sorted(counts.items()):
            now.add_metric([channel, status], count)
        yield now
        # Ledger rows are never deleted, so sent rows only grow: rate() of this is deliveries/s.
        sent = CounterMetricFamily("exemplars_deliveries_sent", "Deliveries sent since the ledger began.",
                                   labels=["channel"])
        for channel in sorted({channel for channel, _ in counts}):
            sent.add_metric([channel], counts.get((channel, "sent"), 0))
        yield sent
        yield GaugeMetricFamily("exemplars_delivery_lag_seconds", "Age of the oldest delivery not yet sent.",
                                value=0.0 if oldest is None else max(0.0, time.time() - oldest.timestamp()))
        yield GaugeMetricFamily("exemplars_delivery_failures", "Deliveries failed (retrying) or parked.",
                                value=sum(c for (_, s), c in counts.items() if s in ("failed", "parked")))
        try:
            yield GaugeMetricFamily("exemplars_delivery_queue_depth", "Jobs waiting on the work queue.",
                                    value=self.runtime.jobs.depth())
        except Exception as error:  # noqa: BLE001 - the broker away
            log.warning("delivery queue depth unavailable: %s", error)
        yield InfoMetricFamily("exemplars_delivery_queue", "The work queue the delivery workers share.",
                               value={"queue": DELIVERY_QUEUE})


class NotificationsRuntimeProvider(RuntimeProvider):
    def collectors(self) -> list:
        return [*super().collectors(), DeliveryFigures(self.runtime)]


class NotificationsService:
    name = "notifications"
    runtime = NotificationsRuntimeProvider(build)
    observability = Observability()  # /metrics on METRICS_ADDRESS, the call's request id in its log lines
    callers = CallerCheck("notifications")  # commands take only a gateway-signed caller (shared.callers)

    @reliable_event_handler("nominations", "#")
    def on_nominations_event(self, event: WireEvent):
        self.runtime.receive(event)

    @reliable_event_handler("awards", "#")
    def on_awards_event(self, event: WireEvent):
        self.runtime.receive(event)

    @timer(interval=30)
    def release_waiting(self):
        """Quiet hours over, or the day's digest due: those deliveries go on the work queue."""
        app = self.runtime.app
        self.runtime.jobs.publish(app.due_held() + app.due_digests(hour=self.runtime.digest_hour))

    @rpc(expected_exceptions=DomainError)
    def subscribe(self, data, caller=None):
        """``caller``: who asks and their retry key, signed by the gateway (shared.callers)."""
        return self.runtime.app.subscribe(data, self.callers("subscribe", caller))

    @rpc(expected_exceptions=DomainError)
    def change_preferences(self, subscription_id, data, caller=None):
        return self.runtime.app.change_preferences(subscription_id, data, self.callers("change_preferences", caller))

    @rpc(expected_exceptions=DomainError)
    def cancel(self, subscription_id, data=None, caller=None):
        return self.runtime.app.cancel(subscription_id, data or {}, self.callers("cancel", caller))

    @rpc(expected_exceptions=DomainError)
    def rotate_secret(self, subscription_id, data=None, caller=None):
        """A new webhook secret for the subscription (``{"secret": "whsec_…"}``, or made here
        and answered once as ``webhook_secret``)."""
        self.callers("rotate_secret", caller)
        return self.runtime.app.rotate_secret(subscription_id, data or {})

    @rpc(expected_exceptions=DomainError)
    def reseal_secrets(self, caller=None):
        """After a new key was put first in the secrets key file: every webhook secret sealed
        under it (and any still in clear in old events), as new events."""
        self.callers("reseal_secrets", caller)
        return self.runtime.app.reseal_secrets()

    @rpc(expected_exceptions=DomainError)
    def inbox(self, recipient_id, limit=None, offset=None):
        """A page of the inbox: ``{"total": N, "unread": N, "items": [...]}``."""
        wanted = page(limit, offset)
        found = self.runtime.app.ledger.inbox_of(recipient_id, wanted.limit, wanted.offset)
        return found | {"items": [_jsonable(i) for i in found["items"]]}

    @rpc(expected_exceptions=DomainError)
    def mark_read(self, recipient_id, delivery_ids, caller=None):
        self.callers("mark_read", caller)
        return self.runtime.app.ledger.mark_read(recipient_id, delivery_ids)

    @rpc(expected_exceptions=DomainError)
    def deliveries(self, event_key, limit=None, offset=None):
        """Each delivery's status for one event ("<instance>/<notification id>"), a page of them."""
        wanted = page(limit, offset)
        return _jsonable_page(self.runtime.app.ledger.for_event(event_key, wanted.limit, wanted.offset))

    @rpc
    def ready(self):
        """Answers once the service is consuming: the gateway's readiness check."""
        return {"instance": self.runtime.instance}

    @rpc(expected_exceptions=DomainError)
    def parked(self, limit=None, offset=None):
        """A page of the parked deliveries: ``{"total": N, "items": [...]}``."""
        wanted = page(limit, offset)
        return _jsonable_page(self.runtime.app.ledger.parked(wanted.limit, wanted.offset))

    @rpc(expected_exceptions=DomainError)
    def replay(self, delivery_ids, caller=None):
        """Put parked deliveries back on the work queue."""
        self.callers("replay", caller)
        chosen = self.runtime.app.ledger.parked_among(delivery_ids)
        self.runtime.app.ledger.requeue(chosen)
        self.runtime.jobs.publish(chosen)
        return chosen


def _jsonable_page(found: dict) -> dict:
    return found | {"items": [_jsonable(d) for d in found["items"]]}


def _jsonable(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
