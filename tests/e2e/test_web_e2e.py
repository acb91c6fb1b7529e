"""The officers' web pages in a real Chromium, against the whole system (as `make run` starts it).

Signing in (with the keyboard only), each role's "Việc cần làm", lock-out, signing out (here and
everywhere), CSRF refusals, the administrator's accounts page, and axe-core on every page.
`make screens` runs the screenshot test with EXEMPLARS_SCREENS_DIR=docs/screens.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from playwright.sync_api import sync_playwright

from browser import launch, screenshot, serious_violations
from conftest import STEPS, detect_data, free_port, wait_for
from gateway import access
from gateway.http import ACTIONS

pytestmark = pytest.mark.integration
PASSWORD = "Mật-khẩu-thử-2026!"
ACTION_OF = {command: action for action, command in ACTIONS.items()}
PEOPLE = {
    "lan.hnd": ("Nguyễn Thị Lan", access.OFFICER, {"department": "hoi-nong-dan-yen-the"}),
    "hoa.ldld": ("Phạm Thị Hoa", access.OFFICER, {"department": "lien-doan-lao-dong-yen-the"}),
    "minh.tk": ("Trần Văn Minh", access.SECRETARY, {"council": "huyen-yen-the"}),
    "thu.kt": ("Lê Thị Thu", access.AUDITOR, {}),
    "quang.vh": ("Đỗ Văn Quang", access.OPERATOR, {}),
    "admin": ("Quản trị hệ thống", access.ADMIN, {}),
}


@pytest.fixture(scope="module")
def web(system):
    """The system with one account per role and two exemplars, one of them before a council."""
    admin = system.auth(access.ADMIN, sub="setup")
    for user, (name, role, scope) in PEOPLE.items():
        made = requests.post(system.url("/accounts"), headers=admin, timeout=30,
                             json={"user_name": user, "display_name": name, "role": role, "password": PASSWORD}
                             | scope)
        assert made.status_code == 201, made.text
    officer = system.auth(access.OFFICER)
    first = requests.post(system.url("/exemplars"), json=detect_data(), headers=officer, timeout=30).json()["id"]
    second = requests.post(system.url("/exemplars"), headers=officer, timeout=30, json=detect_data(
        name="Hộ bà Lương Thị Hiền", field="new-rural-areas",
        unit="xã Tam Tiến, huyện Yên Thế", achievements=["Vườn chè 3 ha"])).json()["id"]
    for step in ("plan_nurture", "record_progress", "review", "endorse", "nominate"):
        answer = requests.post(system.url(f"/exemplars/{first}/{ACTION_OF[step]}"), json=STEPS[step],
                               headers=officer, timeout=30)
        assert answer.status_code == 200, answer.text
    council = system.auth(access.SECRETARY, council="huyen-yen-the")
    wait_for(lambda: requests.get(system.url("/councils/huyen-yen-the/cases"), headers=council,
                                  timeout=30).json()["total"], what="the nomination reaching the council")
    system.exemplars = (first, second)
    return system


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="vi-VN", viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def sign_in(page, web, user: str, password: str = PASSWORD):
    page.goto(web.url("/login"))
    page.get_by_label("Tên đăng nhập").fill(user)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def assert_accessible(page):
    assert serious_violations(page) == [], page.url


def test_an_officer_signs_in_with_the_keyboard_alone_and_sees_their_departments_work(web, page):
    page.goto(web.url("/"))
    assert page.url.endswith("/login")  # not signed in: the sign-in form
    assert_accessible(page)
    assert page.evaluate("document.activeElement.id") == "user_name"  # the cursor is already in the first field
    page.keyboard.type("lan.hnd")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(web.url("/"))
    header = page.locator("header").inner_text()
    assert "Nguyễn Thị Lan" in header and "cán bộ đơn vị" in header and "Hội Nông dân huyện Yên Thế" in header
    rows = page.locator("main table tbody tr")
    assert rows.count() == 2
    text = page.locator("main").inner_text()
    assert "Hộ ông Hoàng Văn Thắng" in text and "Hộ bà Lương Thị Hiền" in text
    assert "Đề nghị khen thưởng" in text and "Lập kế hoạch bồi dưỡng" in text  # stages and next steps by name
    assert "16/04/2018" in text or "02/10/2018" in text  # dates as dd/mm/yyyy
    for code in ("household-economy", "new-rural-areas", "nominated", "detected", "2018-"):
        assert code not in text
    cookie = next(c for c in page.context.cookies() if c["name"] == "exemplars_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # http here
    assert_accessible(page)


def test_an_officer_of_another_department_sees_none_of_these_exemplars(web, page):
    sign_in(page, web, "hoa.ldld")
    page.wait_for_url(web.url("/"))
    text = page.locator("main").inner_text()
    assert "Liên đoàn Lao động huyện Yên Thế" in page.locator("header").inner_text()
    assert "Hoàng Văn Thắng" not in text and "Lương Thị Hiền" not in text and page.locator("main table").count() == 0


def test_five_wrong_passwords_lock_the_account_and_say_so(web, page):
    requests.post(web.url("/accounts"), headers=web.auth(access.ADMIN, sub="setup"), timeout=30, json={
        "user_name": "khoa.hnd", "display_name": "Vũ Văn Khoa", "role": access.OFFICER,
        "department": "hoi-nong-dan-yen-the", "password": PASSWORD}).raise_for_status()
    for attempt in range(4):
        sign_in(page, web, "khoa.hnd", "sai-mật-khẩu")
        assert "Tên đăng nhập hoặc mật khẩu không đúng." in page.get_by_role("alert").inner_text()
        assert page.get_by_label("Tên đăng nhập").input_value() == "khoa.hnd"  # what was typed is kept
    assert_accessible(page)
    sign_in(page, web, "khoa.hnd", "sai-mật-khẩu")
    alert = page.get_by_role("alert").inner_text()
    assert "tạm khoá" in alert and "5 lần" in alert and "15 phút" in alert
    sign_in(page, web, "khoa.hnd")  # the right password, while locked
    assert "tạm khoá" in page.get_by_role("alert").inner_text() and page.url.endswith("/login")
    assert not [c for c in page.context.cookies() if c["name"] == "exemplars_session"]


def test_signing_out_here_and_everywhere(web, browser):
    desk, laptop = (browser.new_context(locale="vi-VN").new_page() for _ in range(2))
    try:
        for tab in (desk, laptop):
            sign_in(tab, web, "minh.tk")
            tab.wait_for_url(web.url("/"))
        desk.get_by_role("button", name="Đăng xuất", exact=True).click()
        desk.wait_for_url("**/login?signed_out")
        assert "Bạn đã đăng xuất." in desk.locator("main").inner_text()
        desk.goto(web.url("/"))
        assert desk.url.endswith("/login")
        laptop.reload()
        assert laptop.url == web.url("/")  # signing out at one desk leaves the other session alone
        sign_in(desk, web, "minh.tk")
        desk.wait_for_url(web.url("/"))
        desk.get_by_role("button", name="Đăng xuất khỏi mọi nơi").click()
        desk.wait_for_url("**/login?signed_out")
        laptop.reload()
        assert laptop.url.endswith("/login")  # the other session ended too
    finally:
        desk.context.close()
        laptop.context.close()


def cross_site_page(target: str) -> str:
    """Another site's page: a form that posts to the gateway, with no CSRF token."""
    return (f'<!doctype html><html lang="vi"><meta charset="utf-8"><title>x</title><form method="post" action="{target}/admin/accounts">'
            '<input name="user_name" value="ke.gian"><input name="display_name" value="K">'
            '<input name="role" value="administrator"><input name="password" value="mat-khau-ke-gian-dai">'
            '<button>Gửi</button></form>')


def test_a_form_without_the_csrf_token_changes_nothing(web, page, tmp_path):
    sign_in(page, web, "admin")
    page.wait_for_url(web.url("/"))
    port = free_port()
    (tmp_path / "index.html").write_text(cross_site_page(web.base_url), encoding="utf-8")
    # a process of its own: this test process's threads are eventlet's, and the browser call blocks them
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: port_open(port), what="the other site's server")
    try:
        page.goto(f"http://127.0.0.1:{port}/")  # same site (host), another origin (port): the cookie goes along
        with page.expect_response(lambda r: r.url.endswith("/admin/accounts")) as answered:
            page.get_by_role("button", name="Gửi").click()
        assert answered.value.status == 403
        assert "Không có gì bị thay đổi" in page.locator("main").inner_text()
    finally:
        server.terminate()
        server.wait(timeout=10)
    # from this site but without the token (a script's POST with the session cookie): refused too
    refused = page.context.request.post(web.url("/admin/accounts"), form={
        "user_name": "ke.gian", "display_name": "K", "role": "administrator", "password": "mat-khau-ke-gian-dai"})
    assert refused.status == 403 and "mã bảo vệ" in refused.text()
    signed_out = page.context.request.post(web.url("/logout"), form={"everywhere": "1"}, max_redirects=0)
    assert signed_out.status == 403
    listed = requests.get(web.url("/accounts"), headers=web.auth(access.ADMIN, sub="check"), timeout=30).json()
    assert "ke.gian" not in {a["user_name"] for a in listed["items"]}
    page.goto(web.url("/"))
    assert page.url == web.url("/")  # still signed in: the refused sign-out changed nothing


def test_the_administrator_creates_and_disables_an_account_on_the_page(web, page, browser):
    sign_in(page, web, "admin")
    page.goto(web.url("/admin/accounts"))
    assert_accessible(page)
    form = page.locator("form[action='/admin/accounts']")
    form.get_by_label("Tên đăng nhập").fill("tuan.hnd")
    form.get_by_label("Họ và tên").fill("Bùi Anh Tuấn")
    form.get_by_label("Vai trò").select_option(label="cán bộ đơn vị")
    form.get_by_label("Mật khẩu ban đầu").fill(PASSWORD)
    form.get_by_role("button", name="Tạo tài khoản").click()
    # the officer's department is missing: said beside that field, and what was typed is kept
    assert "phải có, đơn vị" in page.locator("#loi-department").inner_text()
    assert page.get_by_label("Họ và tên").input_value() == "Bùi Anh Tuấn"
    assert page.get_by_label("Mật khẩu ban đầu").input_value() == ""  # a password is never sent back
    assert_accessible(page)
    page.get_by_label("Đơn vị (cho cán bộ đơn vị)").select_option(label="Hội Nông dân huyện Yên Thế")
    page.get_by_label("Mật khẩu ban đầu").fill(PASSWORD)
    page.get_by_role("button", name="Tạo tài khoản").click()
    assert "Đã tạo tài khoản «tuan.hnd»" in page.get_by_role("status").inner_text()
    other = browser.new_context().new_page()
    try:
        sign_in(other, web, "tuan.hnd")
        other.wait_for_url(web.url("/"))
        page.get_by_role("button", name="Vô hiệu hoá tuan.hnd").click()
        assert "Đã vô hiệu hoá tài khoản «tuan.hnd»" in page.get_by_role("status").inner_text()
        other.reload()
        assert other.url.endswith("/login")  # disabling ended the session
    finally:
        other.context.close()


def test_the_session_reads_the_json_routes_its_role_may_but_changes_nothing(web, page):
    sign_in(page, web, "lan.hnd")
    page.wait_for_url(web.url("/"))
    listed = page.context.request.get(web.url("/exemplars"))
    assert listed.status == 200 and listed.json()["total"] == 2  # the pages' links to JSON work signed in
    made = page.context.request.post(web.url("/exemplars"), data=detect_data())
    assert made.status == 401  # a change always needs a bearer token
    assert page.context.request.get(web.url("/accounts")).status == 403


def test_an_officer_may_not_open_the_accounts_page(web, page):
    sign_in(page, web, "lan.hnd")
    page.wait_for_url(web.url("/"))
    response = page.goto(web.url("/admin/accounts"))
    assert response.status == 403 and "không được mở trang này" in page.locator("main").inner_text()


def test_screens_each_roles_home_page_is_readable_and_accessible(web, browser, tmp_path):
    """Every page made so far, for every role; kept in EXEMPLARS_SCREENS_DIR when set (`make screens`)."""
    folder = Path(os.environ.get("EXEMPLARS_SCREENS_DIR") or tmp_path)
    expected = {
        "lan.hnd": ["Điển hình chờ bước tiếp theo", "Hộ ông Hoàng Văn Thắng"],
        "minh.tk": ["Hồ sơ chờ hội đồng", "Hộ ông Hoàng Văn Thắng", "Giấy khen", "Mới nhận"],
        "thu.kt": ["Hạn nộp báo cáo", "15/12/", "ngày"],
        "quang.vh": ["Thông báo bị giữ lại"],
        "admin": ["Tài khoản", "Tạo hoặc vô hiệu hoá tài khoản"],
    }
    context = browser.new_context(locale="vi-VN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(web.url("/login"))
        assert_accessible(page)
        screenshot(page, folder, "01-dang-nhap")
        page.get_by_label("Tên đăng nhập").fill("lan.hnd")
        page.get_by_label("Mật khẩu").fill("sai")
        page.get_by_role("button", name="Đăng nhập").click()
        screenshot(page, folder, "02-dang-nhap-sai")
        for number, (user, words) in enumerate(expected.items(), start=3):
            context.clear_cookies()
            sign_in(page, web, user)
            page.wait_for_url(web.url("/"))
            text = page.locator("main").inner_text()
            assert all(word in text for word in words), (user, text)
            assert_accessible(page)
            screenshot(page, folder, f"{number:02d}-viec-can-lam-{PEOPLE[user][1].replace('_', '-')}")
        page.goto(web.url("/admin/accounts"))
        assert_accessible(page)
        shot = screenshot(page, folder, "08-tai-khoan")
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        context.close()


def test_exemplars_accounts_create_list_and_disable_over_http(web):
    env = {"EXEMPLARS_URL": web.base_url, "EXEMPLARS_ACCOUNT_PASSWORD": PASSWORD}
    made = web.cli("accounts", "create", "--user", "an.tk", "--name", "Hà Văn An", "--role", access.SECRETARY,
                   "--council", "xa-yen-the", env=env)
    assert made.returncode == 0 and "Đã tạo tài khoản an.tk (thư ký hội đồng)" in made.stdout, made.stderr
    again = web.cli("accounts", "create", "--user", "an.tk", "--name", "X", "--role", access.AUDITOR, env=env)
    assert again.returncode == 4 and "đã có người dùng" in again.stderr
    listed = web.cli("accounts", "list", "--json", env=env)
    assert {"an.tk", "lan.hnd"} <= {row["user_name"] for row in json.loads(listed.stdout)["items"]}
    gone = web.cli("accounts", "disable", "an.tk", env=env)
    assert gone.returncode == 0 and "Đã vô hiệu hoá tài khoản an.tk" in gone.stdout
    away = web.cli("accounts", "list", env={"EXEMPLARS_URL": f"http://127.0.0.1:{free_port()}"})
    assert away.returncode == 5 and "Không kết nối được" in away.stderr
