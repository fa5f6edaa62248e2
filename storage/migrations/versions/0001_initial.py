"""Initial schema: runs, run tags, event log, snapshots, key-values, daemon heartbeats,
schedule/sensor state and ticks.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Written out by hand (not from opgraph_storage.schema) so it never changes when the schema does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("job_name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(63), nullable=False),
        sa.Column("run_config", sa.Text, nullable=False),
        sa.Column("parent_run_id", sa.String(255)),
        sa.Column("root_run_id", sa.String(255)),
        sa.Column("code_pointer", sa.Text),
        sa.Column("location_name", sa.String(255)),
        sa.Column("code_version", sa.String(255)),
        sa.Column("run_key", sa.String(512)),
        sa.Column("snapshot_id", sa.String(255)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("started_at", sa.Double),
        sa.Column("ended_at", sa.Double),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("worker_heartbeat_at", sa.Double),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_runs_run_id", "runs", ["run_id"], unique=True)
    op.create_index("ix_runs_run_key", "runs", ["run_key"], unique=True)
    op.create_index("ix_runs_status", "runs", ["status", "id"])
    op.create_index("ix_runs_job_name", "runs", ["job_name", "id"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])

    op.create_table(
        "run_tags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_run_tags_run_id_key", "run_tags", ["run_id", "key"], unique=True)
    op.create_index("ix_run_tags_key_value", "run_tags", ["key", "value"])

    op.create_table(
        "event_logs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(63), nullable=False),
        sa.Column("step_key", sa.String(255)),
        sa.Column("attempt", sa.Integer),
        sa.Column("level", sa.String(15), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_logs_run_id_id", "event_logs", ["run_id", "id"])

    op.create_table(
        "snapshots",
        sa.Column("snapshot_id", sa.String(255), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "kv",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "daemon_heartbeats",
        sa.Column("daemon_type", sa.String(255), primary_key=True),
        sa.Column("daemon_id", sa.String(255), nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("info", sa.Text, nullable=False),
    )
    op.create_table(
        "instigators",
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("instigator_type", sa.String(63), nullable=False),
        sa.Column("status", sa.String(63), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )

    op.create_table(
        "ticks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("instigator_name", sa.String(512), nullable=False),
        sa.Column("tick_key", sa.String(767), nullable=False),
        sa.Column("status", sa.String(63), nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.Column("run_ids", sa.Text, nullable=False),
        sa.Column("skip_reason", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("cursor", sa.Text),
    )
    op.create_index("ix_ticks_instigator_name_id", "ticks", ["instigator_name", "id"])
    op.create_index("ix_ticks_tick_key", "ticks", ["tick_key"], unique=True)


def downgrade() -> None:
    for table in (
        "ticks",
        "instigators",
        "daemon_heartbeats",
        "kv",
        "snapshots",
        "event_logs",
        "run_tags",
        "runs",
    ):
        op.drop_table(table)
