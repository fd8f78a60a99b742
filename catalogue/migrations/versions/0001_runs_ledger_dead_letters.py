"""Runs, the ledger and the dead-letter store (the schema before migrations).

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("scenario", sa.String(64), nullable=False, index=True),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("started_at", TZ, nullable=False, index=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("journal_path", sa.Text, nullable=True),
        sa.Column("scenario_spec", sa.JSON, nullable=False),
        sa.Column("target_spec", sa.JSON, nullable=False),
    )
    op.create_table(
        "ledger",
        sa.Column("op_id", sa.String(80), primary_key=True),
        sa.Column("run_id", sa.String(40), nullable=False, index=True),
        sa.Column("scenario", sa.String(64), nullable=False),
        sa.Column("slice_index", sa.Integer, nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False, index=True),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("error_class", sa.String(64), nullable=True),
        sa.Column("fault", sa.String(120), nullable=True),
        sa.Column("input_hash", sa.String(16), nullable=True),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("op_id", sa.String(80), nullable=False, unique=True),
        sa.Column("run_id", sa.String(40), nullable=False, index=True),
        sa.Column("scenario", sa.String(64), nullable=False, index=True),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("error_class", sa.String(64), nullable=False, index=True),
        sa.Column("envelope", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False, index=True),
        sa.Column("slice_index", sa.Integer, nullable=False),
        sa.Column("op_index", sa.Integer, nullable=False),
        sa.Column("replay_count", sa.Integer, nullable=False),
        sa.Column("replay_id", sa.String(36), nullable=True),
        sa.Column("replay_outcome", sa.String(16), nullable=True),
        sa.Column("replayed_at", TZ, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("ledger")
    op.drop_table("runs")
