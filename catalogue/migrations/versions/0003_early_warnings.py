"""Early warnings: every evaluation of every failure mode's indicators.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "early_warnings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("mode_id", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("window_s", sa.Float, nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_early_warnings_mode_metric_at", "early_warnings",
                    ["mode_id", "metric", "evaluated_at"])
    op.create_index("ix_early_warnings_level", "early_warnings", ["level"])


def downgrade() -> None:
    op.drop_table("early_warnings")
