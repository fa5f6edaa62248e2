"""An index on step_attempts(queue, ended_at): steps finished per queue in a window.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Written out by hand (not from opgraph_storage.schema) so it never changes when the schema does.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_step_attempts_queue_ended_at", "step_attempts", ["queue", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_step_attempts_queue_ended_at", table_name="step_attempts")
