"""The web pages' guards and the views' formatting, without a browser or services."""

from __future__ import annotations

import datetime as dt

from gateway import web
from gateway.access import ROLES
from gateway.http import GatewayService
from gateway.web import views


def test_every_page_is_public_by_choice_or_names_its_roles_and_every_post_checks_csrf():
    pages = web.pages()
    public = sorted(name for name, fn in pages.items() if getattr(fn, "public_page", False))
    assert public == ["login", "login_form", "stylesheet"]  # the sign-in form checks its own token
    for name, fn in pages.items():
        assert getattr(fn, "public_page", False) or set(fn.page_roles) <= set(ROLES), name
        assert getattr(GatewayService, name).nameko_entrypoints, f"{name} is not a route of the gateway"
    posts = {name for name, fn in pages.items() if fn.web_route[0] == "POST"}
    assert posts == {"login", "logout", "create_account_page", "disable_account_page"}


def test_dates_are_dd_mm_yyyy_in_hanoi_time():
    assert views.date_vn("2018-04-16") == "16/04/2018"
    assert views.date_vn("2026-12-07T18:30:00+00:00") == "08/12/2026 01:30"  # past midnight in Hà Nội
    assert views.today_in_hanoi(dt.datetime(2026, 12, 14, 17, 1, tzinfo=dt.timezone.utc)) == dt.date(2026, 12, 15)


def test_the_report_deadline_is_the_next_15_december():
    assert views.report_deadline(dt.date(2026, 12, 7)) == (dt.date(2026, 12, 15), 8)
    assert views.report_deadline(dt.date(2026, 12, 15)) == (dt.date(2026, 12, 15), 0)
    assert views.report_deadline(dt.date(2026, 12, 16)) == (dt.date(2027, 12, 15), 364)


def test_codes_are_shown_by_their_catalog_names(catalog):
    names = views.Names(catalog)
    assert names.field("household-economy") == catalog.fields["household-economy"].name != "household-economy"
    assert names.stage("nominated") == "Đề nghị khen thưởng" and names.case_status("open") == "Mới nhận"
    assert names.department("hoi-nong-dan-yen-the") == "Hội Nông dân huyện Yên Thế"
