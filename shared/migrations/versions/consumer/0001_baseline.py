"""Baseline: handled_messages and aggregate_sources as create_all made them before Alembic
(each created when missing).

Revision consumer_0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import NoDowngrade

revision = "consumer_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "handled_messages" not in have:
        op.create_table(
            "handled_messages",
            sa.Column("source_instance", sa.String(200), primary_key=True),
            sa.Column("notification_id", sa.BigInteger, primary_key=True),
            sa.Column("event_type", sa.String(100), nullable=False),
            sa.Column("handled_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        )
    if "aggregate_sources" not in have:
        op.create_table(
            "aggregate_sources",
            sa.Column("aggregate_id", sa.String(36), primary_key=True),
            sa.Column("source_instance", sa.String(200), nullable=False),
        )


def downgrade() -> None:
    raise NoDowngrade("what was handled is not in the log: no downgrade below the baseline")
