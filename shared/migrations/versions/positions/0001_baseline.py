"""Baseline: log_positions as create_all made it before Alembic (created when missing).

Revision positions_0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import NoDowngrade

revision = "positions_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table("log_positions"):
        op.create_table(
            "log_positions",
            sa.Column("follower", sa.String(200), primary_key=True),
            sa.Column("position", sa.BigInteger, nullable=False),
        )


def downgrade() -> None:
    raise NoDowngrade("the relay's published position is not in the log: no downgrade below the baseline")
