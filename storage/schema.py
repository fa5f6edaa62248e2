"""Every table opgraph stores, as SQLAlchemy Core. Migrations must produce exactly this.

JSON values are stored as text (one format on both dialects); timestamps are float
seconds since the epoch in double precision.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite only auto-assigns ids to an `INTEGER PRIMARY KEY`; PostgreSQL gets a BIGSERIAL.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.Double

# `id` is the primary key (SQLite can only auto-increment a primary key) and orders runs;
# `run_id` is the unique key everything else uses.
runs = sa.Table(
    "runs",
    metadata,
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
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp),
    sa.Column("ended_at", Timestamp),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("worker_heartbeat_at", Timestamp),
    sa.Index("ix_runs_run_id", "run_id", unique=True),
    sa.Index("ix_runs_run_key", "run_key", unique=True),  # NULLs allowed, any number
    sa.Index("ix_runs_status", "status", "id"),
    sa.Index("ix_runs_job_name", "job_name", "id"),
    sa.Index("ix_runs_created_at", "created_at"),
    sqlite_autoincrement=True,  # never reuse an id: ids are pagination cursors
)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(255), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_run_tags_run_id_key", "run_id", "key", unique=True),
    sa.Index("ix_run_tags_key_value", "key", "value"),
)

event_logs = sa.Table(
    "event_logs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),  # = EventRecord.storage_id
    sa.Column("run_id", sa.String(255), nullable=False),
    sa.Column("event_type", sa.String(63), nullable=False),
    sa.Column("step_key", sa.String(255)),
    sa.Column("attempt", sa.Integer),
    sa.Column("level", sa.String(15), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("timestamp", Timestamp, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_event_logs_run_id_id", "run_id", "id"),
    sqlite_autoincrement=True,  # never reuse an id: ids are cursors for readers
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("snapshot_id", sa.String(255), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
)

kv = sa.Table(
    "kv",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

daemon_heartbeats = sa.Table(
    "daemon_heartbeats",
    metadata,
    sa.Column("daemon_type", sa.String(255), primary_key=True),
    sa.Column("daemon_id", sa.String(255), nullable=False),
    sa.Column("timestamp", Timestamp, nullable=False),
    sa.Column("info", sa.Text, nullable=False),
)

instigators = sa.Table(
    "instigators",
    metadata,
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("instigator_type", sa.String(63), nullable=False),
    sa.Column("status", sa.String(63), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

ticks = sa.Table(
    "ticks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("instigator_name", sa.String(512), nullable=False),
    sa.Column("tick_key", sa.String(767), nullable=False),
    sa.Column("status", sa.String(63), nullable=False),
    sa.Column("timestamp", Timestamp, nullable=False),
    sa.Column("run_ids", sa.Text, nullable=False),
    sa.Column("skip_reason", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("cursor", sa.Text),
    sa.Index("ix_ticks_instigator_name_id", "instigator_name", "id"),
    sa.Index("ix_ticks_tick_key", "tick_key", unique=True),
)

# Step attempts of the Celery executor. `attempt_id` is the Celery task id; the status
# column is the claim: workers move QUEUED -> RUNNING with a compare-and-set UPDATE.
step_attempts = sa.Table(
    "step_attempts",
    metadata,
    sa.Column("attempt_id", sa.String(255), primary_key=True),
    sa.Column("run_id", sa.String(255), nullable=False),
    sa.Column("step_key", sa.String(255), nullable=False),
    sa.Column("attempt_number", sa.Integer, nullable=False),
    sa.Column("status", sa.String(63), nullable=False),
    sa.Column("queue", sa.String(255)),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("hostname", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("queued_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp),
    sa.Column("ended_at", Timestamp),
    sa.Column("heartbeat_at", Timestamp),
    sa.Column("reason", sa.Text),
    sa.Index("ix_step_attempts_run_id_status", "run_id", "status"),  # a run's attempts
    sa.Index("ix_step_attempts_status", "status"),  # live attempts of every run (sweeper)
    # Steps finished per queue in a recent window (the workers page's sparklines): one
    # range scan per queue, however long the table's history (migration 0007).
    sa.Index("ix_step_attempts_queue_ended_at", "queue", "ended_at"),
)

# Op outputs held in the database. `mapping_key` is '' for an output without one (mapping
# keys are never empty), so that the key is unique on both dialects: NULLs never clash.
step_outputs = sa.Table(
    "step_outputs",
    metadata,
    sa.Column("run_id", sa.String(255), primary_key=True),
    sa.Column("step_key", sa.String(255), primary_key=True),
    sa.Column("output_name", sa.String(255), primary_key=True),
    sa.Column("mapping_key", sa.String(255), primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),  # when this value was stored
)

# -- the daemon (migration 0003) ----------------------------------------------------------------
# One row per lease name: the daemon holding it is the active one until `expires_at`.
daemon_leases = sa.Table(
    "daemon_leases",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", Timestamp, nullable=False),
    sa.Column("renewed_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),  # +1 whenever the holder changes
)

# QUEUED runs a daemon picked and is launching: they count against the queue's limits
# until the launcher moves them to STARTING. A claim older than its TTL is void.
run_claims = sa.Table(
    "run_claims",
    metadata,
    sa.Column("run_id", sa.String(255), primary_key=True),
    sa.Column("claimed_by", sa.String(255), nullable=False),
    sa.Column("claimed_at", Timestamp, nullable=False),
)

# Retention deletes by age; run retries read failures in the order they ended.
sa.Index("ix_ticks_timestamp", ticks.c.timestamp)
sa.Index("ix_runs_status_ended_at", runs.c.status, runs.c.ended_at)

# -- the asset catalog (migration 0004), written with the asset events that change it -------------
# Keys are user strings (`warehouse/orders`): names never contain '/', so a prefix is a LIKE.
asset_keys = sa.Table(
    "asset_keys",
    metadata,
    sa.Column("asset_key", sa.String(512), primary_key=True),
    sa.Column("last_materialization_id", sa.BigInteger),  # event_logs.id
    sa.Column("last_materialization_at", Timestamp),
    sa.Column("last_materialization_run_id", sa.String(255)),
    sa.Column("last_materialization_data", sa.Text),  # the event's data (metadata, code version)
    sa.Column("last_observation_id", sa.BigInteger),
    sa.Column("last_observation_at", Timestamp),
    sa.Column("materialization_count", sa.Integer, nullable=False, server_default="0"),
)

# One row per asset event: a key's history is an index range, never a scan of the log.
asset_events = sa.Table(
    "asset_events",
    metadata,
    sa.Column("event_id", sa.BigInteger, primary_key=True),  # event_logs.id
    sa.Column("asset_key", sa.String(512), nullable=False),
    sa.Column("event_type", sa.String(63), nullable=False),
    sa.Column("run_id", sa.String(255), nullable=False),
    sa.Column("timestamp", Timestamp, nullable=False),
    sa.Index("ix_asset_events_key_type_id", "asset_key", "event_type", "event_id"),
)

asset_check_executions = sa.Table(
    "asset_check_executions",
    metadata,
    sa.Column("event_id", sa.BigInteger, primary_key=True),  # event_logs.id
    sa.Column("asset_key", sa.String(512), nullable=False),
    sa.Column("check_name", sa.String(255), nullable=False),
    sa.Column("run_id", sa.String(255), nullable=False),
    sa.Column("timestamp", Timestamp, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("severity", sa.String(15), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_asset_check_executions_key_name_id", "asset_key", "check_name", "event_id"),
)

# -- partitions (migration 0005) -------------------------------------------------------------
# A dynamic partitions definition's keys, in the order they were added (`id`).
dynamic_partitions = sa.Table(
    "dynamic_partitions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("partitions_def_name", sa.String(255), nullable=False),
    sa.Column("partition_key", sa.String(255), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_dynamic_partitions_name_key", "partitions_def_name", "partition_key", unique=True),
)

# One row per asset partition that ever had news: MATERIALIZED, FAILED or IN_PROGRESS
# (a partition without a row is missing), so a status bar of 10,000 partitions is one
# index range, never a scan of the event log.
asset_partitions = sa.Table(
    "asset_partitions",
    metadata,
    sa.Column("asset_key", sa.String(512), primary_key=True),
    sa.Column("partition_key", sa.String(255), primary_key=True),
    sa.Column("status", sa.String(31), nullable=False),
    sa.Column("last_event_id", sa.BigInteger),  # event_logs.id of the newest news
    sa.Column("last_materialization_id", sa.BigInteger),
    sa.Column("last_run_id", sa.String(255)),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_asset_partitions_key_status", "asset_key", "status"),
)

# A backfill: what to run (`data`, JSON) over which partitions, and how far it got.
backfills = sa.Table(
    "backfills",
    metadata,
    sa.Column("backfill_id", sa.String(255), primary_key=True),
    sa.Column("status", sa.String(31), nullable=False),
    sa.Column("job_name", sa.String(255)),
    sa.Column("location_name", sa.String(255)),
    sa.Column("max_runs_in_flight", sa.Integer),
    sa.Column("num_partitions", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("ended_at", Timestamp),
    sa.Index("ix_backfills_status_created_at", "status", "created_at"),
)

# One row per (backfill, target, partition): the primary key is what keeps a backfill from
# ever submitting two runs for one asset partition (target: an asset key, or the job name).
backfill_partitions = sa.Table(
    "backfill_partitions",
    metadata,
    sa.Column("backfill_id", sa.String(255), primary_key=True),
    sa.Column("target", sa.String(512), primary_key=True),
    sa.Column("partition_key", sa.String(255), primary_key=True),
    sa.Column("status", sa.String(31), nullable=False),
    sa.Column("run_id", sa.String(255)),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_backfill_partitions_backfill_status", "backfill_id", "status"),
    sa.Index("ix_backfill_partitions_run_id", "run_id"),
)

# -- declarative automation (migration 0006) -------------------------------------------------
# One row per evaluation of every automation condition (a tick): its id is taken by insert,
# so two daemons never commit the same evaluation; `data` lists the runs it requests.
automation_ticks = sa.Table(
    "automation_ticks",
    metadata,
    sa.Column("evaluation_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("status", sa.String(31), nullable=False),
    sa.Column("timestamp", Timestamp, nullable=False),
    sa.Column("num_evaluated", sa.Integer, nullable=False),
    sa.Column("num_requested", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

# Per asset: what its condition's nodes remember (since, newly_true, what was requested).
automation_asset_states = sa.Table(
    "automation_asset_states",
    metadata,
    sa.Column("asset_key", sa.String(512), primary_key=True),
    sa.Column("evaluation_id", sa.BigInteger, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)

# Why an asset was or was not requested: its condition tree with what each node was true for.
automation_evaluations = sa.Table(
    "automation_evaluations",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("evaluation_id", sa.BigInteger, nullable=False),
    sa.Column("asset_key", sa.String(512), nullable=False),
    sa.Column("timestamp", Timestamp, nullable=False),
    sa.Column("num_requested", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_automation_evaluations_key_id", "asset_key", "id"),
    sa.Index("ix_automation_evaluations_timestamp", "timestamp"),
)
