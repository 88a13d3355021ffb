"""a hub's telemetry interval, set from the server

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hubs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telemetry_interval_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hubs", schema=None) as batch_op:
        batch_op.drop_column("telemetry_interval_s")
