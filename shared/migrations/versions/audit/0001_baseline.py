"""Baseline: audit_seals and audit_checkpoints as create_all made them before Alembic and before
checkpoints named their key (each created when missing).

Revision audit_0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import NoDowngrade

revision = "audit_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "audit_seals" not in have:
        op.create_table(
            "audit_seals",
            sa.Column("notification_id", sa.BigInteger, primary_key=True),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("originator_id", sa.String(36), nullable=False),
            sa.Column("originator_version", sa.Integer, nullable=False),
            sa.Column("event_hash", sa.String(64), nullable=False),
            sa.Column("chain_hash", sa.String(64), nullable=False),
        )
    if "audit_checkpoints" not in have:
        op.create_table(
            "audit_checkpoints",
            sa.Column("position", sa.BigInteger, primary_key=True),
            sa.Column("instance", sa.String(200), nullable=False),
            sa.Column("log", sa.String(100), nullable=False),
            sa.Column("count", sa.BigInteger, nullable=False),
            sa.Column("chain_hash", sa.String(64), nullable=False),
            sa.Column("sealed_at", sa.String(40), nullable=False),
            sa.Column("signature", sa.String(200), nullable=False),
        )


def downgrade() -> None:
    raise NoDowngrade("seals and signed checkpoints cannot be made again: no downgrade below the baseline")
