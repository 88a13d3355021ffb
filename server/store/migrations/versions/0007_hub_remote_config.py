"""the server's configuration for each hub: paired devices and versions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hubs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paired_devices", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("config_version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("config_delivered_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("hubs", schema=None) as batch_op:
        batch_op.drop_column("config_delivered_version")
        batch_op.drop_column("config_version")
        batch_op.drop_column("paired_devices")
