"""Baseline: what a council knows from everyone's wire events (awards_register, subject_awards,
exemplar_holds, holds, award_marks) as create_all made it before Alembic (each created when missing).

Revision awards_0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import NoDowngrade

revision = "awards_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "awards_register" not in have:
        op.create_table(
            "awards_register",
            sa.Column("award_id", sa.String(36), primary_key=True),
            sa.Column("exemplar_id", sa.String(36), nullable=False),
            sa.Column("subject_name", sa.String(500), nullable=False),
            sa.Column("subject_kind", sa.String(50), nullable=False),
            sa.Column("field", sa.String(100), nullable=False),
            sa.Column("unit", sa.String(500), nullable=False),
            sa.Column("department", sa.String(200), nullable=False),
            sa.Column("award_form", sa.String(100), nullable=False),
            sa.Column("year", sa.Integer, nullable=False),
            sa.Column("achievement", sa.String(2000), nullable=False),
            sa.Column("decision_number", sa.String(100), nullable=False),
            sa.Column("decision_date", sa.String(10), nullable=False),
            sa.Column("council_level", sa.String(20), nullable=False),
            sa.Column("jurisdiction", sa.String(100), nullable=False),
            sa.Column("prerequisite_award_ids", sa.String(2000), nullable=False),
            sa.Column("revoked", sa.Boolean, nullable=False),
            sa.Column("flagged", sa.Boolean, nullable=False),
        )
        for column in ("exemplar_id", "field", "award_form", "year"):
            op.create_index(f"ix_awards_register_{column}", "awards_register", [column])
    if "subject_awards" not in have:
        op.create_table(
            "subject_awards",
            sa.Column("award_id", sa.String(36), primary_key=True),
            sa.Column("subject_id", sa.String(36), nullable=False),
        )
        op.create_index("ix_subject_awards_subject_id", "subject_awards", ["subject_id"])
    if "exemplar_holds" not in have:
        op.create_table(
            "exemplar_holds",
            sa.Column("exemplar_id", sa.String(36), primary_key=True),
            sa.Column("open_holds", sa.Integer, nullable=False),
        )
    if "holds" not in have:
        op.create_table(
            "holds",
            sa.Column("exemplar_id", sa.String(36), primary_key=True),
            sa.Column("hold_id", sa.String(100), primary_key=True),
            sa.Column("released", sa.Boolean, nullable=False),
        )
    if "award_marks" not in have:
        op.create_table(
            "award_marks",
            sa.Column("award_id", sa.String(36), primary_key=True),
            sa.Column("revoked", sa.Boolean, nullable=False),
            sa.Column("flagged", sa.Boolean, nullable=False),
        )


def downgrade() -> None:
    raise NoDowngrade("what other councils and departments told is not in this log: no downgrade")
