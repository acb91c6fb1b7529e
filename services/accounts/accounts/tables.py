"""Every table of the accounts service outside its event log, in one MetaData.

None of them can be rebuilt from the log: ``sessions`` and ``sign_in_failures`` are not history,
and ``directory`` (who exists, for the administrator's list) is written with each account
command. They change only through migrations (shared.migrations, unit "accounts").
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table

metadata = MetaData()

# Only the SHA-256 of a session id is kept: a copy of this table signs nobody in.
sessions = Table(
    "account_sessions", metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("account_id", String(36), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),  # the forms' synchronizer token, one per session
    Column("created_at", Float, nullable=False),  # epoch seconds: the same on SQLite and PostgreSQL
    Column("last_seen_at", Float, nullable=False),
    Column("ended_at", Float),
)

sign_in_failures = Table(
    "account_sign_in_failures", metadata,
    Column("user_name", String(64), primary_key=True),  # also for names that have no account
    Column("failures", Integer, nullable=False),
    Column("last_failed_at", Float, nullable=False),
)

directory = Table(
    "account_directory", metadata,
    Column("account_id", String(36), primary_key=True),
    Column("user_name", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(40), nullable=False),
    Column("department", String(100)),
    Column("council", String(100)),
    Column("disabled", Boolean, nullable=False),
    Column("created_on", String(40), nullable=False),
)
