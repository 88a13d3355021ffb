"""hub lifecycle: revoked hubs, the hub that replaced one, and enrolment claim codes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 17:25:00

A hub revoked before this revision (``carewatch server hub revoke``) is refused by the broker
but reads as not revoked here until it is revoked again. Claim codes are stored as SHA-256
hashes only: the code is shown once to the technician.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.store.models import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hubs") as batch:
        batch.add_column(sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("replaced_by", sa.String(63), nullable=True))
    op.create_table(
        "hub_claim_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("hub_id", sa.String(63), sa.ForeignKey("hubs.id"), nullable=False, index=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("hub_claim_codes")
    with op.batch_alter_table("hubs") as batch:
        batch.drop_column("replaced_by")
        batch.drop_column("revoked_at")
