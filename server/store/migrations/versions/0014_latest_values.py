"""latest value per patient and measure, kept by the ingest for the caseload

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:20:00

Empty at the upgrade: a patient's latest values appear with their next reading (the
readings themselves stay in InfluxDB, which a migration does not read).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.store.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "latest_values",
        sa.Column("patient_id", sa.String(64), sa.ForeignKey("patients.id"), primary_key=True),
        sa.Column("measure", sa.String(32), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("taken_at", server.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reading_id", sa.String(36), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("latest_values")
