"""Real servers on loopback that receive deliveries: SMTP (aiosmtpd) and an HTTP webhook sink."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from notifications.channels import ID_HEADER, refusal


class SmtpSink:
    def __init__(self, port: int):
        self.messages: list[email.message.EmailMessage] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class WebhookSink:
    """Verifies each request as a Standard Webhooks receiver does (signature with ``secret``,
    timestamp within 5 minutes) and refuses it with 401 otherwise; records every request,
    and each delivery id (webhook-id) once. ``secret`` may be changed while it runs."""

    def __init__(self, port: int, secret: str, delay: float = 0.0, fail_first: int = 0):
        self.secret = secret
        self.received: list[dict] = []  # every request, duplicates included
        self.unique: dict[str, dict] = {}  # delivery id -> first request
        self.headers: dict[str, dict] = {}  # delivery id -> the last request's headers
        self.bad_signatures = 0
        self.refusals: list[str] = []
        self.lock = threading.Lock()
        self.fail_left = fail_first
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                refused = refusal(sink.secret, self.headers, body)
                if refused:
                    with sink.lock:
                        sink.bad_signatures += 1
                        sink.refusals.append(refused)
                    self.send_response(401)
                    self.end_headers()
                    return
                with sink.lock:
                    failing = sink.fail_left > 0
                    sink.fail_left -= 1 if failing else 0
                if failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                if delay:
                    time.sleep(delay)
                payload = json.loads(body)
                with sink.lock:
                    sink.received.append(payload)
                    sink.unique.setdefault(self.headers[ID_HEADER], payload)
                    sink.headers[self.headers[ID_HEADER]] = dict(self.headers.items())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}/hook"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
