"""patient feedback: what the patient's hub says aloud, as their team set it

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 10:00:00

A patient enrolled before this revision has no preferences (NULL): their hub keeps its own
defaults (every event spoken, values never read out, the hub's language, no reminders).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("feedback", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("feedback")
