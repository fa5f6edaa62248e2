"""Step attempts of the Celery executor, and op outputs held in the database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Written out by hand (not from opgraph_storage.schema) so it never changes when the schema does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_attempts",
        sa.Column("attempt_id", sa.String(255), primary_key=True),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("step_key", sa.String(255), nullable=False),
        sa.Column("attempt_number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(63), nullable=False),
        sa.Column("queue", sa.String(255)),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("hostname", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("queued_at", sa.Double, nullable=False),
        sa.Column("started_at", sa.Double),
        sa.Column("ended_at", sa.Double),
        sa.Column("heartbeat_at", sa.Double),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_step_attempts_run_id_status", "step_attempts", ["run_id", "status"])
    op.create_index("ix_step_attempts_status", "step_attempts", ["status"])

    op.create_table(
        "step_outputs",
        sa.Column("run_id", sa.String(255), primary_key=True),
        sa.Column("step_key", sa.String(255), primary_key=True),
        sa.Column("output_name", sa.String(255), primary_key=True),
        sa.Column("mapping_key", sa.String(255), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("step_outputs")
    op.drop_table("step_attempts")
