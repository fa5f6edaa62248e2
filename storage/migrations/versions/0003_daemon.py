"""The daemon: its lease, claims on queued runs, and indexes for retention and retries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Written out by hand (not from opgraph_storage.schema) so it never changes when the schema does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daemon_leases",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("acquired_at", sa.Double, nullable=False),
        sa.Column("renewed_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
    )
    op.create_table(
        "run_claims",
        sa.Column("run_id", sa.String(255), primary_key=True),
        sa.Column("claimed_by", sa.String(255), nullable=False),
        sa.Column("claimed_at", sa.Double, nullable=False),
    )
    op.create_index("ix_ticks_timestamp", "ticks", ["timestamp"])
    op.create_index("ix_runs_status_ended_at", "runs", ["status", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_status_ended_at", "runs")
    op.drop_index("ix_ticks_timestamp", "ticks")
    op.drop_table("run_claims")
    op.drop_table("daemon_leases")
