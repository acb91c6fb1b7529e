"""Checkpoints name the key that signed them (audit_checkpoints.key_id; NULL: signed before keys
had ids, which still verify without it).

Revision audit_0002 (after audit_0001)
"""

import sqlalchemy as sa
from alembic import op

revision = "audit_0002"
down_revision = "audit_0001"
branch_labels = None
depends_on = None


def made_before_alembic(connection) -> bool:
    """The sealer of 2026-12-07 added the column itself, at start."""
    return "key_id" in {c["name"] for c in sa.inspect(connection).get_columns("audit_checkpoints")}


def upgrade() -> None:
    with op.batch_alter_table("audit_checkpoints") as table:
        table.add_column(sa.Column("key_id", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_checkpoints") as table:
        table.drop_column("key_id")
