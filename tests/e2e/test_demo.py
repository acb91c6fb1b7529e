"""`make demo` still plays through against a running system, now that the API needs tokens."""

import pytest

from conftest import free_port, start_system
from dev import demo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smtp_port():
    return free_port()


@pytest.fixture(scope="module")
def demo_system(tmp_path_factory, smtp_port):
    yield from start_system(tmp_path_factory, extra_env={"SMTP_PORT": str(smtp_port), "SMTP_HOST": "127.0.0.1"})


def test_the_demo_issues_its_own_tokens_and_plays_the_yen_the_plan(demo_system, smtp_port, monkeypatch):
    # The demo reads the same settings `make demo` would: where the gateway is, its secret, SMTP.
    for name in ("WEB_SERVER_ADDRESS", "GATEWAY_TOKEN_SECRET_FILE"):
        monkeypatch.setenv(name, demo_system.env[name])
    monkeypatch.setenv("SMTP_PORT", str(smtp_port))
    demo.issue_tokens()
    with demo.Receivers() as receivers:
        demo.play(receivers)
    assert receivers.mails and receivers.hooks and receivers.hooks[-1]["signature_ok"]
