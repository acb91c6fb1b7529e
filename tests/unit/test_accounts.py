"""The accounts application on a SQLite file: create, sign in, lock-out, sessions, disable."""

from __future__ import annotations

import hashlib

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from accounts import tables
from accounts.application import AccountsApplication
from accounts.domainmodel import IDLE_MINUTES, LOCK_MINUTES, MAX_FAILURES, SESSION_HOURS, account_id
from gateway import access
from shared.contracts import accounts as contract
from shared.errors import InvalidInput, RuleViolation, SignInRefused

FAST = dict(time_cost=1, memory_cost=1024, parallelism=1)  # cheap hashes: the rules, not argon2, are tested
PASSWORD = "mật khẩu đủ dài 2026"


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(tmp_path, catalog, clock):
    return AccountsApplication(f"sqlite:///{tmp_path / 'accounts.sqlite'}", catalog, clock, PasswordHasher(**FAST))


def officer(**overrides) -> dict:
    return {"user_name": "lan.hnd", "display_name": "Nguyễn Thị Lan", "role": contract.OFFICER,
            "department": "hoi-nong-dan-yen-the", "password": PASSWORD} | overrides


def test_the_roles_are_the_gateways():
    assert contract.ROLES == access.ROLES and contract.ROLE_NAMES_VI == access.ROLE_NAMES_VI


def test_an_account_is_created_with_its_hash_in_the_log_and_never_the_password(app):
    created = app.create(officer(), by="admin")
    assert created["role"] == contract.OFFICER and created["department"] == "hoi-nong-dan-yen-the"
    assert "password" not in created and "password_hash" not in created
    events = list(app.events.get(account_id("lan.hnd")))
    assert events[0].password_hash.startswith("$argon2id$") and PASSWORD not in repr(events)
    assert app.list()["items"][0]["user_name"] == "lan.hnd"
    with pytest.raises(RuleViolation):
        app.create(officer(), by="admin")


@pytest.mark.parametrize("bad, field", [
    ({"department": None}, "department"),  # an officer without a department
    ({"role": contract.AUDITOR}, "department"),  # an auditor with one
    ({"department": "khong-co"}, "department"),
    ({"role": contract.SECRETARY, "department": None, "council": "khong-co"}, "council"),
    ({"password": "ngắn"}, "password"),
    ({"user_name": "A B"}, "user_name"),
])
def test_a_role_without_its_scope_or_a_short_password_is_refused(app, bad, field):
    with pytest.raises(InvalidInput) as refused:
        app.create(officer(**bad), by="admin")
    assert refused.value.detail == field


def test_sign_in_gives_a_256_bit_session_of_which_only_the_digest_is_kept(app):
    app.create(officer(), by="admin")
    signed = app.sign_in({"user_name": "LAN.HND", "password": PASSWORD})
    assert len(signed["session_id"]) >= 43 and signed["account"]["user_name"] == "lan.hnd"
    with app.engine.connect() as conn:
        stored = conn.execute(select(tables.sessions.c.id_sha256)).scalars().all()
    assert stored == [hashlib.sha256(signed["session_id"].encode()).hexdigest()]
    seen = app.session(signed["session_id"])
    assert seen["account"]["display_name"] == "Nguyễn Thị Lan" and seen["csrf_token"] == signed["csrf_token"]


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(app, clock):
    app.create(officer(), by="admin")
    for attempt in range(MAX_FAILURES):
        with pytest.raises(SignInRefused) as refused:
            app.sign_in({"user_name": "lan.hnd", "password": "sai mật khẩu"})
    assert refused.value.detail == "locked" and "5 lần" in refused.value.message
    with pytest.raises(SignInRefused) as refused:  # even the right password, while locked
        app.sign_in({"user_name": "lan.hnd", "password": PASSWORD})
    assert refused.value.detail == "locked" and "15 phút" in refused.value.message
    clock.now += LOCK_MINUTES * 60 + 1
    assert app.sign_in({"user_name": "lan.hnd", "password": PASSWORD})["session_id"]


def test_four_wrong_then_a_right_one_starts_the_count_again(app):
    app.create(officer(), by="admin")
    for _ in range(2):
        for _ in range(MAX_FAILURES - 1):
            with pytest.raises(SignInRefused) as refused:
                app.sign_in({"user_name": "lan.hnd", "password": "sai"})
            assert refused.value.detail == "wrong"
        app.sign_in({"user_name": "lan.hnd", "password": PASSWORD})


def test_an_unknown_name_is_refused_in_the_same_words(app):
    with pytest.raises(SignInRefused) as refused:
        app.sign_in({"user_name": "khong.ai", "password": PASSWORD})
    assert refused.value.message == "Tên đăng nhập hoặc mật khẩu không đúng."


def test_sessions_end_when_idle_and_at_their_absolute_limit(app, clock):
    app.create(officer(), by="admin")
    idle = app.sign_in({"user_name": "lan.hnd", "password": PASSWORD})["session_id"]
    clock.now += IDLE_MINUTES * 60 + 1
    with pytest.raises(SignInRefused):
        app.session(idle)
    busy, started = app.sign_in({"user_name": "lan.hnd", "password": PASSWORD})["session_id"], clock.now
    for _ in range(SESSION_HOURS * 3 + 2):  # a page every 20 minutes keeps it alive, until the limit
        clock.now += 20 * 60
        try:
            app.session(busy)
        except SignInRefused:
            break
    else:
        pytest.fail("the session outlived its absolute limit")
    assert clock.now - started > SESSION_HOURS * 3600 and clock.now - started <= SESSION_HOURS * 3600 + 20 * 60


def test_sign_out_everywhere_ends_every_session_of_the_account_only(app):
    app.create(officer(), by="admin")
    app.create(officer(user_name="binh.hnd", display_name="Trần Văn Bình"), by="admin")
    desk, phone = (app.sign_in({"user_name": "lan.hnd", "password": PASSWORD})["session_id"] for _ in range(2))
    other = app.sign_in({"user_name": "binh.hnd", "password": PASSWORD})["session_id"]
    assert app.sign_out(desk, everywhere=True) == 2
    for ended in (desk, phone):
        with pytest.raises(SignInRefused):
            app.session(ended)
    assert app.session(other)["account"]["user_name"] == "binh.hnd"
    assert app.sign_out(other) == 1
    with pytest.raises(SignInRefused):
        app.session(other)


def test_disabling_ends_the_sessions_and_refuses_sign_in(app):
    app.create(officer(), by="admin")
    session = app.sign_in({"user_name": "lan.hnd", "password": PASSWORD})["session_id"]
    assert app.disable("lan.hnd", {}, by="admin")["disabled"] is True
    with pytest.raises(SignInRefused):
        app.session(session)
    with pytest.raises(SignInRefused):
        app.sign_in({"user_name": "lan.hnd", "password": PASSWORD})
    assert app.list()["items"][0]["disabled"] is True


def test_a_hash_under_older_parameters_is_remade_at_the_next_sign_in(app, tmp_path, catalog, clock):
    app.create(officer(), by="admin")
    stronger = AccountsApplication(f"sqlite:///{tmp_path / 'accounts.sqlite'}", catalog, clock,
                                   PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    stronger.sign_in({"user_name": "lan.hnd", "password": PASSWORD})
    events = list(stronger.events.get(account_id("lan.hnd")))
    assert type(events[-1]).__name__ == "PasswordRehashed" and "t=2" in events[-1].password_hash
    assert not stronger.hasher.check_needs_rehash(events[-1].password_hash)
