"""The notifications application: subscriptions in, one delivery per (event, recipient, channel) out."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import uuid
from typing import Any, Iterator
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, RecordConflictError
from sqlalchemy import select, update

from notifications import channels
from notifications.channels import CHANNELS, WITH_SECRET
from notifications.domainmodel import FILTER_KEYS, Subscription, in_quiet_hours, matches, quiet_hours_end
from notifications.ledger import Ledger, deliveries, exemplar_facts, notification_events, now
from notifications.outbound import AddressPolicy, RefusedAddress
from notifications.projections import SubscriptionsProjection
from notifications.sealing import SealingError, SecretBox, is_webhook_secret, load_secret_box, new_webhook_secret
from shared import requests
from shared.catalog import Catalog
from shared.contracts.notifications import ADDRESS_MAX, Cancel, Preferences, RotateSecret, Subscribe  # noqa: F401
from shared.consumer import IdempotentConsumer
from shared.errors import InvalidInput, NotFound, RuleViolation
from shared.schema import insert_ignoring_duplicates
from shared.validation import parse
from shared.wire import WireEvent
from shared.writer import Writer

log = logging.getLogger(__name__)
LOCAL_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
# Ledger rows committed, and their jobs queued, at a time: workers start on the first
# chunk instead of waiting for a whole fan-out to be recorded.
FAN_OUT_CHUNK = 500


def _check_codes(catalog: Catalog, known_event_types: set[str], cmd: Subscribe) -> None:
    for name, known, label in (("fields", catalog.fields, "Lĩnh vực"), ("movements", catalog.movements, "Phong trào"),
                               ("event_types", known_event_types, "Loại sự kiện")):
        for code in getattr(cmd, name):
            if code not in known:
                raise InvalidInput(f"{label} «{code}» không có trong danh mục.", f"unknown {name} code {code!r}", name)


class NotificationsApplication(Application):
    name = "Notifications"  # frozen: table names derive from it

    def __init__(self, catalog: Catalog, known_event_types: set[str], env: dict[str, str] | None = None,
                 secret_box: SecretBox | None = None, addresses: AddressPolicy | None = None):
        """``secret_box``: the service's key for webhook secrets (by default from
        NOTIFICATIONS_SECRETS_KEY_FILE, or the development key); ``addresses``: where webhooks
        may go (by default NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS, else public addresses only)."""
        self.catalog = catalog
        self.known_event_types = known_event_types
        self.secret_box = secret_box or load_secret_box(os.environ.get("NOTIFICATIONS_SECRETS_KEY_FILE") or None)
        self.addresses = addresses or AddressPolicy.from_environ()
        super().__init__(env=env)
        engine = self.recorder.datastore.engine
        self.ledger = Ledger(engine)
        self.subscriptions = SubscriptionsProjection(self)
        self.consumer = IdempotentConsumer(self)
        self.writer = Writer(self, load=self._get)  # subscribers' commands: load, change, save

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(self, data: dict, caller: dict | None = None) -> dict:
        """Record a subscription. A webhook without a secret gets one made here, answered
        once as ``webhook_secret`` (only its sealed form is kept). With the caller's
        idempotency key, a retry gets the subscription that key made (and its secret again)."""
        cmd = parse(Subscribe, data)
        # the fingerprint leaves the secrets out: it is stored in the clear
        request = requests.Request.of(caller, "subscribe",
                                      cmd.model_dump(mode="json", exclude={"channels": {"__all__": {"secret"}}}))
        made = None

        def make(subscription_id: uuid.UUID | None) -> tuple[Subscription, dict]:
            nonlocal made
            _check_codes(self.catalog, self.known_event_types, cmd)
            filters = {key: [str(v) for v in getattr(cmd, key)] for key in FILTER_KEYS}
            chosen = []
            for n, channel in enumerate(cmd.channels):
                stored, kind = {"channel": channel.channel, "address": channel.address}, CHANNELS[channel.channel]
                if kind.secret:
                    secret = self._new_secret(channel.secret, f"channels.{n}.secret")
                    made = None if channel.secret else secret
                    stored["secret_sealed"] = self.secret_box.seal(secret)
                elif channel.secret:
                    raise InvalidInput(f"Chỉ kênh {', '.join(WITH_SECRET)} có khóa ký (trường «channels.{n}.secret»).",
                                       f"a secret on the {channel.channel} channel", f"channels.{n}.secret")
                if kind.outbound:
                    self._check_outbound_address(kind, channel.address, f"channels.{n}.address")  # resolving its name
                chosen.append(stored)
            subscription = Subscription.subscribe(
                subscription_id=subscription_id,
                recipient_id=cmd.recipient_id, recipient_kind=cmd.recipient_kind, name=cmd.name, locale=cmd.locale,
                filters=filters, channels=chosen, preferences=cmd.preferences.model_dump(mode="json"))
            return subscription, {"id": str(subscription.id), "version": subscription.version} | (
                {"secret_made": True} if made else {})

        answer = self.writer.create(make, request, scope="subscriptions")
        if answer.get("replayed"):
            return self._with_made_secret(answer)
        return {k: v for k, v in answer.items() if k != "secret_made"} | ({"webhook_secret": made} if made else {})

    def _with_made_secret(self, answer: dict) -> dict:
        """A replayed answer: the secret this service made for it, unsealed again (the first
        reply, which carried it, was lost), or the one in force if it was rotated since."""
        if not answer.pop("secret_made", False):
            return answer
        signed = channels.with_secret(self._get(answer["id"]).channels)
        return answer | {"webhook_secret": self.secret_box.open(signed["secret_sealed"])} if signed else answer

    def _check_outbound_address(self, kind: channels.Channel, url: str, field: str) -> None:
        try:
            self.addresses.check_url(url)
        except RefusedAddress as refused:
            raise InvalidInput(f"Không được gửi {kind.label_vi} tới địa chỉ này (trường «{field}»): "
                               f"{refused.vietnamese()}. Nếu đây là máy chủ nội bộ được phép, nhờ quản trị viên "
                               "thêm nó vào danh sách cho phép.", str(refused), field) from None
        except (socket.gaierror, UnicodeError, ValueError) as exc:
            host = urlparse(url).hostname
            raise InvalidInput(f"Không tìm thấy máy chủ «{host}» của địa chỉ {kind.label_vi} (trường «{field}»).",
                               f"{kind.name} host {host!r} does not resolve: {exc}", field) from None

    @staticmethod
    def _new_secret(given: str, field: str) -> str:
        if not given:
            return new_webhook_secret()
        if not is_webhook_secret(given):
            raise InvalidInput(f"Khóa ký webhook (trường «{field}») phải có dạng «whsec_» và chuỗi base64 của 24 đến "
                               "64 byte ngẫu nhiên (chuẩn Standard Webhooks); để trống để hệ thống tự tạo.",
                               "webhook secret is not whsec_<base64 of 24-64 bytes>", field)
        return given

    def rotate_secret(self, subscription_id: Any, data: dict) -> dict:
        """A new webhook secret (given, or made here and answered once as ``webhook_secret``);
        deliveries from now on are signed with it."""
        cmd = parse(RotateSecret, data)

        def attempt(subscription: Subscription) -> dict:
            if not subscription.active:
                raise RuleViolation(f"Đăng ký «{subscription_id}» đã huỷ: không còn khóa ký để đổi.",
                                    f"subscription {subscription_id} is cancelled", "subscription-cancelled")
            signed = channels.with_secret(subscription.channels)
            if signed is None:
                raise InvalidInput(f"Đăng ký «{subscription_id}» không có kênh {', '.join(WITH_SECRET)} để đổi khóa ký.",
                                   f"subscription {subscription_id} has no channel with a secret", "secret")
            secret = self._new_secret(cmd.secret, "secret")
            subscription.rotate_secret(signed["channel"], self.secret_box.seal(secret))
            return {"id": str(subscription.id), "version": subscription.version} | (
                {} if cmd.secret else {"webhook_secret": secret})

        answer = self.writer.change(subscription_id, attempt)  # no caller: the answer's secret is never stamped
        self.subscriptions.catch_up()  # the workers sign with the new one from their next look
        return answer

    def reseal_secrets(self, legacy_only: bool = False) -> dict:
        """Seal again, as new events, each active subscription's webhook secret that is in clear
        in its log (recorded before sealing) or, unless ``legacy_only``, sealed under a key
        that no longer seals (after a key rotation: a new key first in the key file). The
        secrets do not change; receivers notice nothing."""
        resealed = {"legacy": 0, "rekeyed": 0}
        for row in self.subscriptions.active():
            webhook = channels.with_secret(row["channels"])
            if webhook is None or (webhook.get("secret_sealed") and
                                   (legacy_only or self.secret_box.is_current(webhook["secret_sealed"]))):
                continue
            subscription = self._get(row["id"])
            channel = channels.with_secret(subscription.channels)
            if not subscription.active or channel is None:
                continue
            try:
                if channel.get("secret_sealed"):
                    sealed, kind = self.secret_box.reseal(channel["secret_sealed"]), "rekeyed"
                else:
                    sealed, kind = self.secret_box.seal(channel["secret"]), "legacy"
            except SealingError:
                log.error("subscription %s: its sealed webhook secret opens with no key we hold", row["id"])
                continue
            subscription.seal_secret(channel["channel"], sealed)
            try:
                self.save(subscription)
            except (IntegrityError, RecordConflictError):  # another copy of the service sealed it first
                continue
            resealed[kind] += 1
        if any(resealed.values()):
            self.subscriptions.catch_up()
            log.info("webhook secrets sealed again: %d in clear before, %d under an old key",
                     resealed["legacy"], resealed["rekeyed"])
        return resealed

    def change_preferences(self, subscription_id: Any, data: dict, caller: dict | None = None) -> dict:
        preferences = parse(Preferences, data)

        def attempt(subscription: Subscription) -> dict:
            subscription.change_preferences(preferences.model_dump(mode="json"))
            return {"id": str(subscription.id), "version": subscription.version}

        return self.writer.change(subscription_id, attempt,
                                  requests.Request.of(caller, "change_preferences", preferences))

    def cancel(self, subscription_id: Any, data: dict, caller: dict | None = None) -> dict:
        """Cancel: nothing more is sent to it, not even what was already waiting, and its
        webhook secret is used no more (the read model and the workers drop it)."""
        cmd = parse(Cancel, data)

        def attempt(subscription: Subscription) -> dict:
            subscription.cancel(cmd.reason)  # cancelled already: no event, the same answer
            return {"id": str(subscription.id), "active": subscription.active}

        answer = self.writer.change(subscription_id, attempt, requests.Request.of(caller, "cancel", cmd))
        # Again on a retry: what waited may not have been cancelled after the first one's save.
        self.ledger.cancel_waiting(answer["id"])
        self.subscriptions.catch_up()
        return {"id": answer["id"], "active": answer["active"]}

    def _get(self, subscription_id: Any) -> Subscription:
        try:
            return self.repository.get(uuid.UUID(str(subscription_id)))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"Không tìm thấy đăng ký «{subscription_id}».", f"subscription {subscription_id} not found",
                           str(subscription_id)) from None

    # -- fan-out -------------------------------------------------------------------------

    def receive(self, event: WireEvent, at: dt.datetime | None = None,
                chunk: int = FAN_OUT_CHUNK) -> Iterator[list[str]]:
        """Record one ledger row per matching (recipient, channel), once per event, and yield
        the delivery ids to put on the work queue, a committed chunk at a time.

        Workers start on the first chunk while the rest are recorded, instead of waiting
        for all ten thousand rows. The event is marked handled only after the last chunk:
        if the caller fails between chunks (the broker down, the process killed), the event
        comes again, and since a delivery id derives from (event, subscription, channel)
        the rows recorded already are kept, not doubled, and queued again (workers skip
        what was sent). A duplicate of a handled event yields every row of it still queued,
        in case the jobs were lost between the commit and the publish.
        """
        self.subscriptions.catch_up()  # before any transaction: SQLite has one writer at a time
        if self.consumer.handled(event):
            with self.ledger.engine.connect() as conn:
                query = select(deliveries.c.delivery_id).where(
                    deliveries.c.event_key == event_key(event), deliveries.c.status == "queued")
                queued = list(conn.execute(query).scalars())
            for start in range(0, len(queued), chunk):
                yield queued[start:start + chunk]
            return
        self.consumer.check_source(event)  # only the instance whose log holds the aggregate speaks of it
        rows = self._deliveries_of(event, at or now())
        for start in range(0, len(rows), chunk):
            with self.recorder.transaction(commit=True) as session:
                if start == 0:  # the workers render from it: committed with the first rows
                    insert_ignoring_duplicates(session, notification_events, [{
                        "event_key": event_key(event), "event_type": event.type,
                        "wire": json.dumps(event.to_message())}])
                insert_ignoring_duplicates(session, deliveries, rows[start:start + chunk])
            yield [row["delivery_id"] for row in rows[start:start + chunk] if row["status"] == "queued"]
        self.consumer.handle_once(event, lambda: None)

    def _deliveries_of(self, event: WireEvent, at: dt.datetime) -> list[dict]:
        """The ledger rows this event makes: one per matching (subscription, channel), with
        its status decided by the recipient's preferences. A detection's facts are recorded
        first, so later events about the exemplar match by department, field and movement."""
        exemplar_id = str(event.aggregate_id) if event.type.startswith("exemplar.") else event.payload.get("exemplar_id")
        facts = None
        with self.recorder.transaction(commit=True) as session:
            if event.type == "exemplar.detected":
                p = event.payload
                insert_ignoring_duplicates(session, exemplar_facts, [{
                    "exemplar_id": exemplar_id, "department": p["department"], "field": p["field"],
                    "movement": p["movement"], "name": p["name"]}])
            if exemplar_id:
                row = session.execute(select(exemplar_facts).where(exemplar_facts.c.exemplar_id == exemplar_id))
                facts = row.mappings().first()
        rows = []
        local_now = at.astimezone(LOCAL_TIME)
        for sub in self.subscriptions.active(catch_up=False):
            preferences = sub["preferences"]
            if preferences.get("muted") or not matches(sub["filters"], event.type, exemplar_id, facts):
                continue
            for channel in sub["channels"]:
                status, not_before = "queued", None
                if preferences.get("digest"):
                    status = "digest"
                elif held_in_quiet_hours(channel["channel"]) and in_quiet_hours(preferences.get("quiet_hours"),
                                                                     local_now.time()):
                    held_until = quiet_hours_end(preferences["quiet_hours"], local_now)
                    status, not_before = "held", held_until.astimezone(dt.timezone.utc)  # stored as UTC
                rows.append({
                    "delivery_id": str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                  f"{event_key(event)}/{sub['id']}/{channel['channel']}")),
                    "event_key": event_key(event), "subscription_id": sub["id"],
                    "recipient_id": sub["recipient_id"], "channel": channel["channel"],
                    "address": channel["address"], "locale": sub["locale"], "status": status, "attempts": 0,
                    "not_before": not_before, "created_at": at})
        return rows

    def due_held(self, at: dt.datetime | None = None) -> list[str]:
        """Held deliveries whose quiet hours are over: queue them now."""
        with self.ledger.engine.begin() as conn:
            query = select(deliveries.c.delivery_id).where(deliveries.c.status == "held",
                                                           deliveries.c.not_before <= (at or now()))
            due = list(conn.execute(query).scalars())
            if due:
                conn.execute(update(deliveries).where(deliveries.c.delivery_id.in_(due)).values(status="queued"))
        return due

    def due_digests(self, at: dt.datetime | None = None, hour: int = 7) -> list[str]:
        """Once a day, from ``hour`` (Hà Nội time): one digest delivery per recipient and channel.

        The digest's id is derived from the subscription, channel and day, so a repeated
        timer tick changes nothing; items arriving later wait for the next day's digest.
        """
        local = (at or now()).astimezone(LOCAL_TIME)
        if local.hour < hour:
            return []
        day = local.date().isoformat()
        created = []
        with self.ledger.engine.begin() as conn:
            pending = conn.execute(select(deliveries).where(deliveries.c.status == "digest")
                                   .order_by(deliveries.c.created_at)).mappings().all()
            groups: dict[tuple[str, str], list] = {}
            for row in pending:
                groups.setdefault((row["subscription_id"], row["channel"]), []).append(row)
            for (subscription_id, channel), rows in groups.items():
                key = f"digest/{subscription_id}/{day}"
                digest_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}/{channel}"))
                insert_ignoring_duplicates(conn, notification_events, [{
                    "event_key": key, "event_type": "digest",
                    "wire": json.dumps({"type": "digest", "day": day, "items": [r["event_key"] for r in rows]})}])
                first = rows[0]
                insert_ignoring_duplicates(conn, deliveries, [{
                    "delivery_id": digest_id, "event_key": key, "subscription_id": subscription_id,
                    "recipient_id": first["recipient_id"], "channel": channel, "address": first["address"],
                    "locale": first["locale"], "status": "queued", "attempts": 0, "not_before": None,
                    "created_at": at or now()}])
                conn.execute(update(deliveries).where(deliveries.c.delivery_id.in_([r["delivery_id"] for r in rows]))
                             .values(status="digested", last_error=f"in digest {digest_id}"))
                created.append(digest_id)
        return created


def held_in_quiet_hours(name: str) -> bool:
    """A channel no longer known is not held: its delivery goes to the worker, which parks it."""
    return name in CHANNELS and CHANNELS[name].quiet_hours


def event_key(event: WireEvent) -> str:
    return f"{event.instance}/{event.notification_id}"
