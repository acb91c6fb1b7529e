"""An account as an event-sourced aggregate, and the sign-in rules. No I/O here.

The password hash is in the events (argon2id, never the password): a re-hash under newer
parameters is an event of its own, so the log says when each hash was made. Event class
names and this module's path are stored topics: frozen.
"""

from __future__ import annotations

import datetime as dt
import uuid

from eventsourcing.domain import Aggregate

from shared.contracts.accounts import OFFICER, SECRETARY

NAMESPACE = uuid.UUID("5b0c3c2e-6a53-4f7e-9d3c-0e1f4a6b7c21")  # user name -> account id, the same everywhere

# Lock-out: this many wrong passwords in a row lock the account for LOCK_MINUTES; a right one
# (or the lock's end) starts the count again.
MAX_FAILURES = 5
LOCK_MINUTES = 15
# Sessions end after IDLE_MINUTES without a request, and SESSION_HOURS after sign-in whatever
# happens: an office day, so a desk left signed in overnight is signed out.
IDLE_MINUTES = 30
SESSION_HOURS = 10


def account_id(user_name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, user_name.lower())


class Account(Aggregate):
    class Registered(Aggregate.Created):
        user_name: str
        display_name: str
        role: str
        department: str | None
        council: str | None
        password_hash: str
        by: str

    class PasswordRehashed(Aggregate.Event):
        password_hash: str

        def apply(self, account: Account) -> None:
            account.password_hash = self.password_hash

    class Disabled(Aggregate.Event):
        by: str
        reason: str

        def apply(self, account: Account) -> None:
            account.disabled = True

    @classmethod
    def register(cls, *, user_name: str, display_name: str, role: str, department: str | None,
                 council: str | None, password_hash: str, by: str) -> Account:
        return cls._create(cls.Registered, id=account_id(user_name), user_name=user_name,
                           display_name=display_name, role=role, department=department, council=council,
                           password_hash=password_hash, by=by)

    def __init__(self, user_name, display_name, role, department, council, password_hash, by):
        self.user_name = user_name
        self.display_name = display_name
        self.role = role
        self.department = department
        self.council = council
        self.password_hash = password_hash
        self.created_by = by
        self.disabled = False

    def rehash(self, password_hash: str) -> None:
        self.trigger_event(self.PasswordRehashed, password_hash=password_hash)

    def disable(self, by: str, reason: str) -> None:
        if not self.disabled:
            self.trigger_event(self.Disabled, by=by, reason=reason)

    def public(self) -> dict:
        """What other services and pages see: never the hash."""
        return {"id": str(self.id), "user_name": self.user_name, "display_name": self.display_name,
                "role": self.role, "department": self.department, "council": self.council,
                "disabled": self.disabled, "created_on": self.created_on.isoformat(),
                "created_by": self.created_by}


def scope_problem(role: str, department: str | None, council: str | None) -> str | None:
    """Why a role and scope do not fit (Vietnamese), or None: an officer has a department and
    nothing else, a secretary a council and nothing else, every other role neither."""
    if (role == OFFICER) != (department is not None):
        return "Chỉ cán bộ đơn vị có, và phải có, đơn vị."
    if (role == SECRETARY) != (council is not None):
        return "Chỉ thư ký hội đồng có, và phải có, hội đồng."
    return None


def locked_until(failures: int, last_failed_at: float) -> float | None:
    """When the lock after ``failures`` wrong passwords in a row ends (epoch seconds), or None."""
    if failures < MAX_FAILURES:
        return None
    return last_failed_at + LOCK_MINUTES * 60


def hanoi_clock(epoch: float) -> str:
    """"HH:MM ngày dd/mm/yyyy" in Hà Nội time, for messages."""
    at = dt.datetime.fromtimestamp(epoch, dt.timezone(dt.timedelta(hours=7)))
    return at.strftime("%H:%M ngày %d/%m/%Y")
