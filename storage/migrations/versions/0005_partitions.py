"""Partitions: dynamic partition keys, per-asset partition status, backfills.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Written out by hand (not from opgraph_storage.schema) so it never changes when the schema does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dynamic_partitions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("partitions_def_name", sa.String(255), nullable=False),
        sa.Column("partition_key", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index(
        "ix_dynamic_partitions_name_key",
        "dynamic_partitions",
        ["partitions_def_name", "partition_key"],
        unique=True,
    )
    op.create_table(
        "asset_partitions",
        sa.Column("asset_key", sa.String(512), primary_key=True),
        sa.Column("partition_key", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(31), nullable=False),
        sa.Column("last_event_id", sa.BigInteger),
        sa.Column("last_materialization_id", sa.BigInteger),
        sa.Column("last_run_id", sa.String(255)),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_asset_partitions_key_status", "asset_partitions", ["asset_key", "status"])
    op.create_table(
        "backfills",
        sa.Column("backfill_id", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(31), nullable=False),
        sa.Column("job_name", sa.String(255)),
        sa.Column("location_name", sa.String(255)),
        sa.Column("max_runs_in_flight", sa.Integer),
        sa.Column("num_partitions", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("ended_at", sa.Double),
    )
    op.create_index("ix_backfills_status_created_at", "backfills", ["status", "created_at"])
    op.create_table(
        "backfill_partitions",
        sa.Column("backfill_id", sa.String(255), primary_key=True),
        sa.Column("target", sa.String(512), primary_key=True),
        sa.Column("partition_key", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(31), nullable=False),
        sa.Column("run_id", sa.String(255)),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index(
        "ix_backfill_partitions_backfill_status",
        "backfill_partitions",
        ["backfill_id", "status"],
    )
    op.create_index("ix_backfill_partitions_run_id", "backfill_partitions", ["run_id"])


def downgrade() -> None:
    op.drop_table("backfill_partitions")
    op.drop_table("backfills")
    op.drop_table("asset_partitions")
    op.drop_table("dynamic_partitions")
