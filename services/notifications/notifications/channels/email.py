"""Email: one address, sent as UTF-8 plain text through the configured SMTP relay."""

from __future__ import annotations

import email.message
import smtplib
from typing import Mapping

from notifications.channels.base import Channel, DeliveryFailed, Outgoing, Sender
from shared.contracts.notifications import ADDRESS_PROBLEMS

# The defaults of the settings (config.yml leaves them empty unless set): `make run` and the
# demo's SMTP server on this machine. Deployments name their relay (deploy/).
SMTP_HOST, SMTP_PORT, EMAIL_FROM = "127.0.0.1", 2525, "thongbao@thidua.example.vn"




def send_email(*, host: str, port: int, sender: str, to: str, subject: str, body: str, delivery_id: str) -> None:
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = f"<{delivery_id}@exemplars>"  # the same id on a re-send: mail clients dedupe
    message.set_content(body)  # UTF-8: diacritics survive
    try:
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP {host}:{port} refused {to}: {exc}") from exc


class EmailSender:
    """The worker's email sender: the relay and sender address from its config, else the defaults."""

    def __init__(self, config: Mapping):
        self.host, self.port = config.get("SMTP_HOST") or SMTP_HOST, int(config.get("SMTP_PORT") or SMTP_PORT)
        self.sender = config.get("EMAIL_FROM") or EMAIL_FROM

    def __call__(self, outgoing: Outgoing) -> None:
        send_email(host=self.host, port=self.port, sender=self.sender, to=outgoing.address,
                   subject=outgoing.message.subject, body=outgoing.message.body, delivery_id=outgoing.delivery_id)


def connect(config: Mapping) -> Sender:
    return EmailSender(config)


CHANNEL = Channel("email", "thư điện tử", ADDRESS_PROBLEMS["email"], connect)
