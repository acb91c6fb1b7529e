"""The in-app inbox: a row of the ledger's inbox table, written with the delivery's mark."""

from __future__ import annotations

from typing import Mapping

from notifications.channels.base import Channel, Outgoing, Sender
from notifications.ledger import now
from shared.contracts.notifications import ADDRESS_PROBLEMS




def connect(config: Mapping) -> Sender:
    def send(outgoing: Outgoing) -> dict:
        return {"delivery_id": outgoing.delivery_id, "recipient_id": outgoing.recipient_id,
                "subject": outgoing.message.subject, "body": outgoing.message.body, "created_at": now(), "read": False}
    return send


CHANNEL = Channel("inbox", "hộp thư trong ứng dụng", ADDRESS_PROBLEMS["inbox"], connect, quiet_hours=False)
