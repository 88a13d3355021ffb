"""hub devices managed: whether the server's list is the hub's list

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 10:00:00

Until now the server only ever configured a hub by listing its devices, so a hub with any
configuration (version above 0) has had the server's list: managed. The others keep the
devices paired at the hub and from now on get their patient's preferences without a list.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hubs") as batch:
        batch.add_column(
            sa.Column("devices_managed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    hubs = sa.table(
        "hubs", sa.column("devices_managed", sa.Boolean()), sa.column("config_version", sa.Integer())
    )
    op.execute(hubs.update().where(hubs.c.config_version > 0).values(devices_managed=True))


def downgrade() -> None:
    with op.batch_alter_table("hubs") as batch:
        batch.drop_column("devices_managed")
