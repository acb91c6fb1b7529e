"""Baseline: the notifications ledger (notification_events, deliveries, inbox, exemplar_facts) as
create_all made it before Alembic, deliveries still indexed by recipient as before 2026-11-24
(each table created when missing).

Revision ledger_0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import NoDowngrade

revision = "ledger_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "notification_events" not in have:
        op.create_table(
            "notification_events",
            sa.Column("event_key", sa.String(300), primary_key=True),
            sa.Column("event_type", sa.String(100), nullable=False),
            sa.Column("wire", sa.Text, nullable=False),
        )
    if "deliveries" not in have:
        op.create_table(
            "deliveries",
            sa.Column("delivery_id", sa.String(36), primary_key=True),
            sa.Column("event_key", sa.String(300), nullable=False),
            sa.Column("subscription_id", sa.String(36), nullable=False),
            sa.Column("recipient_id", sa.String(200), nullable=False),
            sa.Column("channel", sa.String(20), nullable=False),
            sa.Column("address", sa.String(2000), nullable=False),
            sa.Column("locale", sa.String(5), nullable=False),
            sa.Column("status", sa.String(10), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("last_error", sa.Text),
            sa.Column("not_before", sa.DateTime(timezone=True)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("sent_at", sa.DateTime(timezone=True)),
        )
        op.create_index("ix_deliveries_event_key", "deliveries", ["event_key"])
        op.create_index("ix_deliveries_status", "deliveries", ["status"])
        op.create_index("ix_deliveries_recipient_id", "deliveries", ["recipient_id"])
    if "inbox" not in have:
        op.create_table(
            "inbox",
            sa.Column("delivery_id", sa.String(36), primary_key=True),
            sa.Column("recipient_id", sa.String(200), nullable=False),
            sa.Column("subject", sa.String(500), nullable=False),
            sa.Column("body", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("read", sa.Boolean, nullable=False),
        )
        op.create_index("ix_inbox_recipient_id", "inbox", ["recipient_id"])
    if "exemplar_facts" not in have:
        op.create_table(
            "exemplar_facts",
            sa.Column("exemplar_id", sa.String(36), primary_key=True),
            sa.Column("department", sa.String(200), nullable=False),
            sa.Column("field", sa.String(100), nullable=False),
            sa.Column("movement", sa.String(100), nullable=False),
            sa.Column("name", sa.String(500), nullable=False),
        )


def downgrade() -> None:
    raise NoDowngrade("what was delivered is not in the log: no downgrade below the baseline")
