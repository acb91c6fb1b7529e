"""The CLI's one way to the system: the gateway's HTTP JSON API, as the web pages use it.

Where: ``EXEMPLARS_URL`` (or ``--url``), else the local gateway of ``make run``
(``http://`` + ``WEB_SERVER_ADDRESS``, default ``127.0.0.1:8000``). Who: a bearer token from
``EXEMPLARS_TOKEN`` or a token file (``--token-file`` / ``EXEMPLARS_TOKEN_FILE``). With neither,
on a machine where the gateway's signing secret is readable (``GATEWAY_TOKEN_SECRET_FILE``, or
the development one in ``var/keys/`` that ``make run`` made), a short-lived token is minted for
``cli.<os user>`` with the role the command needs — a developer's convenience, never a
production path (production keeps that secret away from officers' machines).

Answers that are problem details (``application/problem+json``) are printed as their
Vietnamese title, with the field, and end the command with the exit code of their kind; a
gateway that cannot be reached, or answers 502/503/504, is exit code 5 with one sentence.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
from rich.console import Console
from rich.markup import escape

from shared.callers import AUDITOR, OFFICER, OPERATOR, ROLES, SECRETARY

errors = Console(stderr=True, soft_wrap=True)  # sentences: the terminal wraps them, not rich

DEFAULT_ADDRESS = "127.0.0.1:8000"  # dev.launcher.gateway_url(): where `make run` serves
CONNECT_TIMEOUT_S = 5.0
# A little longer than the gateway waits for a service (GATEWAY_RPC_TIMEOUT_S, 60 s), so a slow
# service reaches the terminal as the gateway's own 504 answer rather than as a cut connection.
READ_TIMEOUT_S = float(os.environ.get("EXEMPLARS_TIMEOUT_S", "70"))
MINTED_LIFETIME = dt.timedelta(minutes=10)  # one command's worth

# Exit codes: 0 done, 2 invalid input, 3 not found, 4 refused (a rule, a concurrent change,
# a token or role that does not cover it), 5 the system cannot be reached or failed.
EXIT_CODES = {400: 2, 404: 3, 413: 2}
EXIT_REFUSED, EXIT_UNREACHABLE = 4, 5

# A POST answered again for a retried Idempotency-Key (header Idempotent-Replayed)
REPLAYED = "Lệnh này đã chạy với mã thử lại đó: đây là câu trả lời của lần chạy trước, không có thay đổi mới."

# The roles a token may carry: the access rules' own list (shared.callers), not a copy.
ROLES_OF_TOKENS = ROLES


@dataclass(frozen=True)
class Need:
    """The role a command needs, for a minted token (a given token is sent as it is)."""

    role: str | None  # None: a public route, no token
    council: str | None = None


PUBLIC = Need(None)


def default_url() -> str:
    return os.environ.get("EXEMPLARS_URL") or "http://" + os.environ.get("WEB_SERVER_ADDRESS", DEFAULT_ADDRESS)


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's user without a name
        return str(os.getuid())


def fail(message: str, code: int) -> None:
    errors.print(f"[bold red]Lỗi:[/] {escape(message)}")
    sys.exit(code)


class Client:
    def __init__(self, url: str | None = None, token_file: str | None = None):
        self.url = (url or default_url()).rstrip("/")
        self.token_file = token_file or os.environ.get("EXEMPLARS_TOKEN_FILE") or None
        self.session = requests.Session()

    # -- who ----------------------------------------------------------------------------

    def token(self, need: Need) -> str | None:
        if need.role is None:
            return None
        if os.environ.get("EXEMPLARS_TOKEN"):
            return os.environ["EXEMPLARS_TOKEN"].strip()
        if self.token_file:
            try:
                return Path(self.token_file).read_text(encoding="utf-8").strip()
            except OSError as error:
                fail(f"Không đọc được tệp mã truy cập {self.token_file} ({error.strerror}).", 2)
        return self.minted(need)

    def minted(self, need: Need) -> str | None:
        """A token signed here, when this machine holds the gateway's secret; else None (the
        gateway then answers 401, which says how to get one)."""
        configured = os.environ.get("GATEWAY_TOKEN_SECRET_FILE")
        from shared.persistence import VAR_DIR  # late: only a developer's machine goes this way

        path = Path(configured) if configured else VAR_DIR / "keys" / "gateway-token.secret"
        if not path.is_file():
            return None
        from gateway import access  # the gateway's own definition of a token, never a copy

        try:
            secret = access.load_secret(path)
        except (OSError, ValueError):
            return None
        department = None
        if need.role == OFFICER:  # the department the gateway records for (gateway.http.AccessSettings)
            department = os.environ.get("NOMINATIONS_DEPARTMENT") or "hoi-nong-dan-yen-the"
        return access.issue(secret, sub=f"cli.{os_user()}"[:100], role=need.role, department=department,
                            council=need.council, lifetime=MINTED_LIFETIME)

    # -- asking -------------------------------------------------------------------------

    def call(self, method: str, path: str, need: Need, *, body: dict | None = None, params: dict | None = None,
             idempotency_key: str | None = None, headers: dict | None = None):
        """The answer's JSON, or the command ends with the problem's title and its exit code.
        A POST carries an Idempotency-Key: the one given, or a fresh one per command."""
        sent = dict(headers or {})
        token = self.token(need)
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if method == "POST":
            sent["Idempotency-Key"] = idempotency_key or uuid.uuid4().hex
        query = {k: v for k, v in (params or {}).items() if v not in (None, "", ())}
        try:
            response = self.session.request(method, self.url + path, json=body if method == "POST" else None,
                                            params=query, headers=sent, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        except requests.Timeout:
            fail(f"Cổng dịch vụ {self.url} không trả lời trong {READ_TIMEOUT_S:.0f} giây; thao tác có thể đã được "
                 "lưu: hãy xem lại (vd. `exemplars history`) trước khi làm lại.", EXIT_UNREACHABLE)
        except requests.RequestException:
            fail(f"Không kết nối được tới cổng dịch vụ {self.url}; hệ thống đã chạy chưa (`make start`)?",
                 EXIT_UNREACHABLE)
        return self.answer(response)

    def answer(self, response: requests.Response):
        content_type = response.headers.get("Content-Type", "")
        if response.ok:
            if response.headers.get("Idempotent-Replayed") == "true":  # said aside: stdout is the API's answer
                errors.print(REPLAYED)
            return response.json() if "json" in content_type else response.text
        problem = None
        if "json" in content_type:
            try:
                problem = response.json()
            except ValueError:
                problem = None
        if not isinstance(problem, dict) or not problem.get("title"):
            if response.status_code in (502, 503, 504):
                fail(f"Cổng dịch vụ {self.url} tạm thời không phục vụ được (HTTP {response.status_code}); "
                     "hãy thử lại sau ít phút.", EXIT_UNREACHABLE)
            fail(f"Cổng dịch vụ trả lời bất thường (HTTP {response.status_code}).",
                 EXIT_UNREACHABLE if response.status_code >= 500 else EXIT_REFUSED)
        message = problem["title"]
        if problem.get("field"):
            message += f" (trường: {problem['field']})"
        if problem.get("request_id"):
            message += f" [mã yêu cầu {problem['request_id']}]"
        if response.status_code == 401 and not (os.environ.get("EXEMPLARS_TOKEN") or self.token_file):
            message += " Đặt EXEMPLARS_TOKEN hoặc --token-file (mã do `exemplars token issue` cấp)."
        status = response.status_code
        fail(message, EXIT_CODES.get(status, EXIT_UNREACHABLE if status >= 500 else EXIT_REFUSED))
