"""patient conditions: the long-term conditions that choose a patient's condition profiles

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:10:00

A patient enrolled before this revision has no conditions and keeps being judged by the
defaults and any personal override, exactly as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("conditions", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("conditions")
