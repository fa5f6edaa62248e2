"""The asset catalog: latest materialization per key, per-key event index, check results.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

Written out by hand (not from opgraph_storage.schema) so it never changes when the schema does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asset_keys",
        sa.Column("asset_key", sa.String(512), primary_key=True),
        sa.Column("last_materialization_id", sa.BigInteger),
        sa.Column("last_materialization_at", sa.Double),
        sa.Column("last_materialization_run_id", sa.String(255)),
        sa.Column("last_materialization_data", sa.Text),
        sa.Column("last_observation_id", sa.BigInteger),
        sa.Column("last_observation_at", sa.Double),
        sa.Column("materialization_count", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "asset_events",
        sa.Column("event_id", sa.BigInteger, primary_key=True),
        sa.Column("asset_key", sa.String(512), nullable=False),
        sa.Column("event_type", sa.String(63), nullable=False),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
    )
    op.create_index(
        "ix_asset_events_key_type_id", "asset_events", ["asset_key", "event_type", "event_id"]
    )
    op.create_table(
        "asset_check_executions",
        sa.Column("event_id", sa.BigInteger, primary_key=True),
        sa.Column("asset_key", sa.String(512), nullable=False),
        sa.Column("check_name", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("severity", sa.String(15), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_asset_check_executions_key_name_id",
        "asset_check_executions",
        ["asset_key", "check_name", "event_id"],
    )


def downgrade() -> None:
    op.drop_table("asset_check_executions")
    op.drop_table("asset_events")
    op.drop_table("asset_keys")
