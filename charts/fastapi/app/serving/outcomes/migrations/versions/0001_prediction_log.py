"""The prediction log: one row per served (or shadow-scored) request, labelled by feedback.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("shadow", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("experiment_id", sa.String(128), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("wanted", sa.String(8), nullable=False),
        sa.Column("variant", sa.String(8), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("b_share", sa.Integer, nullable=True),
        sa.Column("task", sa.String(16), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("prediction", sa.Text, nullable=False),
        sa.Column("features", sa.JSON, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("model_ms", sa.Float, nullable=False),
        sa.Column("label", sa.Text, nullable=True),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_n", sa.Integer, nullable=True),
        sa.Column("outcome_sum", sa.Float, nullable=True),
        sa.Column("outcome_sq", sa.Float, nullable=True),
        sa.UniqueConstraint("request_id", "shadow", name="uq_predictions_request"),
    )
    op.create_index("ix_predictions_experiment", "predictions", ["experiment_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_predictions_experiment", table_name="predictions")
    op.drop_table("predictions")
