"""Baseline: the accounts service's tables outside its event log — sessions (only the SHA-256 of
each id), sign-in failures (the lock-out counter), and the directory the administrator lists.
None of them is history the Account log could give back (sessions, failures), and the directory
is written with each account command, so all three change only through migrations.

Revision accounts_0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import NoDowngrade

revision = "accounts_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "account_sessions" not in have:
        op.create_table(
            "account_sessions",
            sa.Column("id_sha256", sa.String(64), primary_key=True),
            sa.Column("account_id", sa.String(36), nullable=False),
            sa.Column("csrf_token", sa.String(64), nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("last_seen_at", sa.Float, nullable=False),
            sa.Column("ended_at", sa.Float),
        )
        op.create_index("ix_account_sessions_account_id", "account_sessions", ["account_id"])
    if "account_sign_in_failures" not in have:
        op.create_table(
            "account_sign_in_failures",
            sa.Column("user_name", sa.String(64), primary_key=True),
            sa.Column("failures", sa.Integer, nullable=False),
            sa.Column("last_failed_at", sa.Float, nullable=False),
        )
    if "account_directory" not in have:
        op.create_table(
            "account_directory",
            sa.Column("account_id", sa.String(36), primary_key=True),
            sa.Column("user_name", sa.String(64), nullable=False, unique=True),
            sa.Column("display_name", sa.String(200), nullable=False),
            sa.Column("role", sa.String(40), nullable=False),
            sa.Column("department", sa.String(100)),
            sa.Column("council", sa.String(100)),
            sa.Column("disabled", sa.Boolean, nullable=False),
            sa.Column("created_on", sa.String(40), nullable=False),
        )


def downgrade() -> None:
    raise NoDowngrade("migrations only add (README, Upgrades)")
