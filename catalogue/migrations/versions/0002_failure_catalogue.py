"""The failure catalogue: failure modes and failure matches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "failure_modes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("catalogue_version", sa.Integer, nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("defect", sa.Boolean, nullable=False),
        sa.Column("retryable", sa.Boolean, nullable=False),
        sa.Column("recovery_mode", sa.String(16), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("loaded_at", TZ, nullable=False),
    )
    op.create_table(
        "failure_matches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("scenario", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(80), nullable=True),
        sa.Column("component", sa.String(32), nullable=False),
        sa.Column("operation", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("signature", sa.String(16), nullable=False),
        sa.Column("mode_id", sa.String(64), nullable=True),
        sa.Column("match_type", sa.String(8), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("category", sa.String(16), nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("defect", sa.Boolean, nullable=True),
        sa.Column("retryable", sa.Boolean, nullable=True),
        sa.Column("recovery_mode", sa.String(16), nullable=True),
        sa.Column("recovery_suggestion", sa.Text, nullable=True),
        sa.Column("fault", sa.String(120), nullable=True),
        sa.Column("input_hash", sa.String(16), nullable=True),
        sa.Column("occurrences", sa.Integer, nullable=False),
        sa.Column("context", sa.JSON, nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("recovery_attempted", sa.Boolean, nullable=False),
        sa.Column("recovered", sa.Boolean, nullable=True),
        sa.Column("recovered_at", TZ, nullable=True),
        sa.Column("recovered_by", sa.String(120), nullable=True),
        sa.Column("time_to_recover_s", sa.Float, nullable=True),
        sa.Column("notes", sa.Text, nullable=True),
    )
    for name, cols in [("run", ["run_id"]), ("error_code", ["error_code"]), ("mode", ["mode_id"]),
                       ("occurred", ["occurred_at"]), ("category", ["category"]),
                       ("severity", ["severity"]), ("signature", ["signature"]),
                       ("unrecovered", ["recovered", "occurred_at"])]:
        op.create_index(f"ix_failure_matches_{name}", "failure_matches", cols)


def downgrade() -> None:
    op.drop_table("failure_matches")
    op.drop_table("failure_modes")
