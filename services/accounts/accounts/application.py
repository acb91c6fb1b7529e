"""The accounts use cases: create, disable, list, sign in, check a session, sign out.

Passwords: argon2id through argon2-cffi's PasswordHasher (its defaults, RFC 9106's second
recommended profile); a hash made under older parameters is re-made at the next right sign-in.
A wrong user name costs the same hash as a wrong password, so timing does not tell which.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError, Application
from sqlalchemy import create_engine, delete, insert, select, update

from accounts import tables
from accounts.domainmodel import (IDLE_MINUTES, LOCK_MINUTES, MAX_FAILURES, SESSION_HOURS, Account, account_id,
                                  hanoi_clock, locked_until, scope_problem)
from shared.catalog import Catalog
from shared.contracts.accounts import ADMIN, Disable, NewAccount, SignIn
from shared.errors import InvalidInput, NotFound, RuleViolation, SignInRefused
from shared.persistence import eventsourcing_env, sqlalchemy_url
from shared.migrations import migrate
from shared.validation import parse

log = logging.getLogger(__name__)

MSG_WRONG = "Tên đăng nhập hoặc mật khẩu không đúng."
MSG_LOCKED = ("Tài khoản tạm khoá vì nhập sai mật khẩu {max} lần liên tiếp. "
              "Vui lòng thử lại sau {minutes} phút (sau {until}), hoặc nhờ quản trị viên hỗ trợ.")
MSG_ENDED = "Phiên làm việc đã hết hạn hoặc đã đăng xuất; vui lòng đăng nhập lại."
TOUCH_EVERY_S = 60  # a session's last_seen_at is written at most once a minute, not at every page


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class AccountsApplication(Application):
    def __init__(self, database_url: str, catalog: Catalog, clock: Callable[[], float] = time.time,
                 hasher: PasswordHasher | None = None):
        super().__init__(env=eventsourcing_env(database_url))
        self.catalog = catalog
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))  # verified for names that have no account
        self.engine = create_engine(sqlalchemy_url(database_url), pool_pre_ping=True)
        migrate(self.engine, "accounts")

    # -- the administrator's -------------------------------------------------------------

    def create(self, data: dict, by: str) -> dict:
        new = parse(NewAccount, data)
        problem = scope_problem(new.role, new.department, new.council)
        if problem:
            raise InvalidInput(problem, f"role {new.role} with department={new.department} council={new.council}",
                               "department" if "đơn vị" in problem else "council")
        if new.department is not None and new.department not in self.catalog.topology.departments:
            raise InvalidInput(f"Không có đơn vị «{new.department}».", f"unknown department {new.department}",
                               "department")
        if new.council is not None and new.council not in self.catalog.topology.councils:
            raise InvalidInput(f"Không có hội đồng «{new.council}».", f"unknown council {new.council}", "council")
        if self._find(new.user_name) is not None:
            raise RuleViolation(f"Tên đăng nhập «{new.user_name}» đã có người dùng.",
                                f"user name {new.user_name} taken", "user-name-taken")
        account = Account.register(user_name=new.user_name, display_name=new.display_name, role=new.role,
                                   department=new.department, council=new.council,
                                   password_hash=self.hasher.hash(new.password), by=by)
        self.save(account)
        self._index(account)
        log.info("account %s created as %s by %s", account.user_name, account.role, by)
        return account.public()

    def disable(self, user_name: str, data: dict, by: str) -> dict:
        wanted = parse(Disable, data or {})
        account = self._find(user_name)
        if account is None:
            raise NotFound(f"Không có tài khoản «{user_name}».", f"no account {user_name}", user_name)
        account.disable(by, wanted.reason)
        self.save(account)
        self._index(account)
        self._end_sessions(account.id)
        log.info("account %s disabled by %s", account.user_name, by)
        return account.public()

    def list(self, limit: int = 100, offset: int = 0) -> dict:
        row = tables.directory.c
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(
                select(tables.directory).order_by(row.user_name).limit(limit).offset(offset)).mappings()]
            total = len(conn.execute(select(row.account_id)).all())
        return {"total": total, "items": rows}

    def has_admin(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(tables.directory.c.account_id).where(
                tables.directory.c.role == ADMIN, tables.directory.c.disabled.is_(False))).first() is not None

    # -- everyone's ----------------------------------------------------------------------

    def sign_in(self, data: dict) -> dict:
        """A new session for the right name and password: ``{"session_id", "csrf_token", "account"}``.

        The session id is answered once and only its SHA-256 is kept."""
        try:
            wanted = parse(SignIn, data)
        except InvalidInput:
            raise SignInRefused(MSG_WRONG, "malformed sign-in", "wrong") from None
        now = self.clock()
        self._refuse_if_locked(wanted.user_name, now)
        account = self._find(wanted.user_name)
        try:
            self.hasher.verify(account.password_hash if account else self._dummy_hash, wanted.password)
            right = account is not None
        except (VerificationError, InvalidHashError):
            right = False
        if not right or account.disabled:
            failures = self._count_failure(wanted.user_name, now)
            log.warning("sign-in refused for %r: %s (%d in a row)", wanted.user_name,
                        "disabled" if right else "wrong name or password", failures)
            if failures >= MAX_FAILURES:
                self._refuse_if_locked(wanted.user_name, now)
            raise SignInRefused(MSG_WRONG, "wrong user name or password, or disabled", "wrong")
        with self.engine.begin() as conn:
            conn.execute(delete(tables.sign_in_failures).where(
                tables.sign_in_failures.c.user_name == wanted.user_name))
        if self.hasher.check_needs_rehash(account.password_hash):
            account.rehash(self.hasher.hash(wanted.password))
            self.save(account)
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)  # 256 bits each
        with self.engine.begin() as conn:
            conn.execute(insert(tables.sessions).values(id_sha256=digest(session_id), account_id=str(account.id),
                                                        csrf_token=csrf, created_at=now, last_seen_at=now))
        log.info("account %s signed in", account.user_name)
        return {"session_id": session_id, "csrf_token": csrf, "account": account.public()}

    def session(self, session_id: str) -> dict:
        """The session's account and CSRF token, or SignInRefused once it ended (idle, too old,
        signed out, or the account disabled)."""
        now = self.clock()
        row = self._live_session(session_id, now)
        account = self.repository.get(row["account_id"])
        if account.disabled:
            raise SignInRefused(MSG_ENDED, "account disabled", "ended")
        if now - row["last_seen_at"] >= TOUCH_EVERY_S:
            with self.engine.begin() as conn:
                conn.execute(update(tables.sessions).where(tables.sessions.c.id_sha256 == row["id_sha256"])
                             .values(last_seen_at=now))
        return {"csrf_token": row["csrf_token"], "account": account.public()}

    def sign_out(self, session_id: str, everywhere: bool = False) -> int:
        """End this session, or with ``everywhere`` every session of its account; how many ended."""
        with self.engine.begin() as conn:
            row = conn.execute(select(tables.sessions).where(
                tables.sessions.c.id_sha256 == digest(session_id))).mappings().first()
        if row is None:
            return 0
        if everywhere:
            return self._end_sessions(row["account_id"])
        with self.engine.begin() as conn:
            return conn.execute(update(tables.sessions).where(
                tables.sessions.c.id_sha256 == row["id_sha256"], tables.sessions.c.ended_at.is_(None))
                .values(ended_at=self.clock())).rowcount

    # -- inside ------------------------------------------------------------------------

    def _find(self, user_name: str) -> Account | None:
        try:
            return self.repository.get(account_id(user_name))
        except AggregateNotFoundError:
            return None

    def _index(self, account: Account) -> None:
        row = {k: v for k, v in account.public().items() if k not in ("id", "created_by")}
        with self.engine.begin() as conn:
            conn.execute(delete(tables.directory).where(tables.directory.c.account_id == str(account.id)))
            conn.execute(insert(tables.directory).values(account_id=str(account.id), **row))

    def _live_session(self, session_id: str, now: float) -> dict:
        if not isinstance(session_id, str) or not session_id:
            raise SignInRefused(MSG_ENDED, "no session", "ended")
        with self.engine.connect() as conn:
            row = conn.execute(select(tables.sessions).where(
                tables.sessions.c.id_sha256 == digest(session_id))).mappings().first()
        if row is None or row["ended_at"] is not None:
            raise SignInRefused(MSG_ENDED, "unknown or ended session", "ended")
        if now - row["last_seen_at"] > IDLE_MINUTES * 60 or now - row["created_at"] > SESSION_HOURS * 3600:
            raise SignInRefused(MSG_ENDED, "session expired", "ended")
        return dict(row)

    def _end_sessions(self, account: object) -> int:
        with self.engine.begin() as conn:
            return conn.execute(update(tables.sessions).where(
                tables.sessions.c.account_id == str(account), tables.sessions.c.ended_at.is_(None))
                .values(ended_at=self.clock())).rowcount

    def _failures(self, user_name: str) -> dict | None:
        with self.engine.connect() as conn:
            return conn.execute(select(tables.sign_in_failures).where(
                tables.sign_in_failures.c.user_name == user_name)).mappings().first()

    def _refuse_if_locked(self, user_name: str, now: float) -> None:
        row = self._failures(user_name)
        until = locked_until(row["failures"], row["last_failed_at"]) if row else None
        if until is not None and now < until:
            raise SignInRefused(MSG_LOCKED.format(max=MAX_FAILURES, minutes=LOCK_MINUTES, until=hanoi_clock(until)),
                                f"account {user_name!r} locked until {until:.0f}", "locked")

    def _count_failure(self, user_name: str, now: float) -> int:
        """One more wrong attempt in a row; a lock that has ended starts the count again."""
        row = self._failures(user_name)
        failures = 1
        if row is not None and locked_until(row["failures"], row["last_failed_at"]) is None:
            failures = row["failures"] + 1
        with self.engine.begin() as conn:
            conn.execute(delete(tables.sign_in_failures).where(tables.sign_in_failures.c.user_name == user_name))
            conn.execute(insert(tables.sign_in_failures).values(user_name=user_name, failures=failures,
                                                                last_failed_at=now))
        return failures
