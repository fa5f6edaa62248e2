"""Declarative automation: evaluation ticks, per-asset condition state, evaluations.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

Written out by hand (not from opgraph_storage.schema) so it never changes when the schema does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "automation_ticks",
        sa.Column("evaluation_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("status", sa.String(31), nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("num_evaluated", sa.Integer, nullable=False),
        sa.Column("num_requested", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "automation_asset_states",
        sa.Column("asset_key", sa.String(512), primary_key=True),
        sa.Column("evaluation_id", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "automation_evaluations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("evaluation_id", sa.BigInteger, nullable=False),
        sa.Column("asset_key", sa.String(512), nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("num_requested", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_automation_evaluations_key_id", "automation_evaluations", ["asset_key", "id"]
    )
    op.create_index("ix_automation_evaluations_timestamp", "automation_evaluations", ["timestamp"])


def downgrade() -> None:
    op.drop_table("automation_evaluations")
    op.drop_table("automation_asset_states")
    op.drop_table("automation_ticks")
