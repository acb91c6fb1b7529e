"""The `exemplars` command line as a client of the HTTP API: the routes it calls are the published
ones, every command takes --json and every option says what it is, dates read dd/mm/yyyy, and a
gateway that is not there is exit code 5 with one sentence. (Against a running system:
tests/integration/test_cli_http.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from cli import commands
from cli.client import ROLES_OF_TOKENS
from cli.render import iso_date, vi_dates
from conftest import free_port
from gateway import access, openapi

EXE = str(Path(sys.executable).with_name("exemplars"))


def every_command(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from every_command(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_route_the_cli_calls_is_in_the_published_document():
    document = openapi.document()["paths"]
    assert commands.ROUTES, "the commands declare their routes"
    missing = {(m, p) for m, p in commands.ROUTES if m.lower() not in document.get(p, {})}
    assert missing == set()
    # the operators' secrets have routes of their own now: no RPC left behind
    assert {("POST", "/subscriptions/{subscription_id}/secret"), ("POST", "/operator/reseal-secrets")} <= commands.ROUTES


def test_the_cli_names_the_gateways_roles():
    assert set(ROLES_OF_TOKENS) == set(access.ROLES)


def test_every_command_takes_json_and_every_option_has_help():
    found = dict(every_command(commands.main))
    assert {"detect", "history", "council cases", "rotate-secret", "token issue"} <= set(found)
    without_json = [name for name, command in found.items()
                    if "--json" not in {o for p in command.params for o in getattr(p, "opts", [])}]
    without_help = [f"{name} {param.opts[0]}" for name, command in found.items() for param in command.params
                    if isinstance(param, click.Option) and not param.help]
    assert without_json == [] and without_help == []
    group_options = [p.opts[0] for p in commands.main.params if not p.help]
    assert group_options == []


def test_dates_are_read_as_dd_mm_yyyy_or_iso_and_shown_dd_mm_yyyy():
    assert iso_date("03/05/2018") == "2018-05-03"
    assert iso_date("3/5/2018") == "2018-05-03"
    assert iso_date("2018-05-03") == "2018-05-03"
    assert iso_date("30/02/2018") == "2018-02-30"  # passed on: the gateway refuses it, naming the field
    assert vi_dates("2018-05-03") == "03/05/2018"
    assert vi_dates("2018-05-03T07:41:12.345+00:00") == "03/05/2018 07:41"
    assert vi_dates("2018-01-01 – 2025-06-30") == "01/01/2018 – 30/06/2025"


def test_a_gateway_that_is_not_there_is_exit_code_5_with_a_sentence():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for args in (["history", "7d1c0a52-1d43-4a55-9d1c-3a2b8c1e0f00"], ["progress", "x", "--note", "y"],
                 ["council", "cases", "--json"]):
        done = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=30,
                              env=os.environ | {"EXEMPLARS_URL": url, "COLUMNS": "200"})
        assert done.returncode == 5, done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
        assert done.stderr.strip() == (f"Lỗi: Không kết nối được tới cổng dịch vụ {url}; hệ thống đã chạy chưa "
                                       "(`make start`)?")


def test_the_url_option_overrides_the_environment():
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run([EXE, "--url", url, "catalog"], capture_output=True, text=True, timeout=30,
                          env=os.environ | {"EXEMPLARS_URL": "http://127.0.0.1:1", "COLUMNS": "200"})
    assert done.returncode == 5 and url in done.stderr
