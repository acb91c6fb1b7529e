"""deliveries is no longer indexed by recipient: nothing searches by it, and the index cost every
write of a fan-out (2026-11-24).

Revision ledger_0002 (after ledger_0001)
"""

import sqlalchemy as sa
from alembic import op

revision = "ledger_0002"
down_revision = "ledger_0001"
branch_labels = None
depends_on = None


def made_before_alembic(connection) -> bool:
    """The ledger of 2026-11-24 dropped the index itself, at start."""
    return "ix_deliveries_recipient_id" not in {i["name"] for i in sa.inspect(connection).get_indexes("deliveries")}


def upgrade() -> None:
    op.drop_index("ix_deliveries_recipient_id", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_recipient_id", "deliveries", ["recipient_id"])
