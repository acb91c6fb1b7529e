"""`exemplars accounts create|disable|list`: the administrator's account commands, as a client
of the gateway's HTTP routes (/accounts), like the web page.

The bearer token is EXEMPLARS_TOKEN, or one minted here for an administrator with the gateway's
own secret (GATEWAY_TOKEN_SECRET_FILE, or on a dev machine the one in var/keys/): that is how the
first administrator account is made, before anyone can sign in.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sys

import click
import requests

from gateway import access
from shared.contracts.accounts import ROLES

EXIT_CODES = {400: 2, 404: 3, 401: 4, 403: 4, 409: 4}


def base_url() -> str:
    return os.environ.get("EXEMPLARS_URL") or "http://" + os.environ.get("WEB_SERVER_ADDRESS", "127.0.0.1:8000")


def bearer() -> str:
    if os.environ.get("EXEMPLARS_TOKEN"):
        return os.environ["EXEMPLARS_TOKEN"]
    try:
        secret = access.load_secret(os.environ.get("GATEWAY_TOKEN_SECRET_FILE") or None)
    except (OSError, ValueError) as error:
        fail(f"Không đọc được khóa ký mã truy cập ({error}); hãy đặt EXEMPLARS_TOKEN.", 2)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return access.issue(secret, sub=f"cli.{user}"[:100], role=access.ADMIN, lifetime=dt.timedelta(minutes=5))


def fail(message: str, code: int):
    click.echo(f"Lỗi: {message}", err=True)
    sys.exit(code)


def call(method: str, path: str, **kwargs):
    try:
        answer = requests.request(method, base_url() + path, timeout=30,
                                  headers={"Authorization": f"Bearer {bearer()}"}, **kwargs)
    except requests.RequestException as error:
        fail(f"Không kết nối được cổng HTTP {base_url()} ({type(error).__name__}). Hãy chạy `make run`.", 5)
    if answer.status_code >= 400:
        try:
            title = answer.json().get("title") or answer.reason
        except ValueError:
            title = answer.reason
        fail(title, EXIT_CODES.get(answer.status_code, 5 if answer.status_code >= 500 else 4))
    return answer.json()


def emit(result, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@click.group(help="Tài khoản đăng nhập trang web (quản trị viên).")
def accounts() -> None:
    pass


@accounts.command(name="create", help="Tạo tài khoản; mật khẩu được hỏi (hoặc lấy từ EXEMPLARS_ACCOUNT_PASSWORD).")
@click.option("--user", "user_name", required=True, help="Tên đăng nhập: chữ thường không dấu, số, . _ -")
@click.option("--name", "display_name", required=True, help="Họ và tên hiện trên trang.")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Vai trò.")
@click.option("--department", default=None, help="Mã đơn vị (bắt buộc với department_officer).")
@click.option("--council", default=None, help="Mã hội đồng (bắt buộc với council_secretary).")
@click.option("--password", envvar="EXEMPLARS_ACCOUNT_PASSWORD", prompt="Mật khẩu", hide_input=True,
              confirmation_prompt="Nhập lại mật khẩu", help="Ít nhất 12 ký tự.")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
def create(user_name, display_name, role, department, council, password, as_json) -> None:
    body = {"user_name": user_name, "display_name": display_name, "role": role, "password": password}
    body |= {k: v for k, v in (("department", department), ("council", council)) if v}
    created = call("POST", "/accounts", json=body)
    emit(created, as_json)
    if not as_json:
        click.echo(f"Đã tạo tài khoản {created['user_name']} ({access.ROLE_NAMES_VI[created['role']]}).")


@accounts.command(name="disable", help="Vô hiệu hoá một tài khoản và đóng mọi phiên đăng nhập của nó.")
@click.argument("user_name")
@click.option("--reason", default="Quản trị viên vô hiệu hoá", show_default=True, help="Lý do (ghi vào lịch sử).")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
def disable(user_name, reason, as_json) -> None:
    done = call("POST", f"/accounts/{user_name}/disabled", json={"reason": reason})
    emit(done, as_json)
    if not as_json:
        click.echo(f"Đã vô hiệu hoá tài khoản {done['user_name']}.")


@accounts.command(name="list", help="Liệt kê các tài khoản.")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
def list_accounts(as_json) -> None:
    found = call("GET", "/accounts", params={"limit": 500})
    emit(found, as_json)
    if not as_json:
        for row in found["items"]:
            scope = row.get("department") or row.get("council") or ""
            state = "đã vô hiệu hoá" if row["disabled"] else "đang dùng"
            click.echo(f"{row['user_name']:<24} {access.ROLE_NAMES_VI[row['role']]:<16} {scope:<28} {state}")
        click.echo(f"{found['total']} tài khoản")
