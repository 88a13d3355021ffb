"""notification deliveries: the one durable notification queue, in the server's database

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 10:00:00

Until now the ticker relayed owed notifications into a second queue, an SQLite file of its
own (CAREWATCH_NOTIFICATIONS__OUTBOX_PATH). Deliveries waiting in such a file are carried
over with ``carewatch server notifications import-outbox FILE`` (see the README).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.store.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("notification_id", sa.String(length=100), nullable=False),
        sa.Column("alert_id", sa.String(length=100), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("secret_id", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", server.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", server.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("leased_until", server.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", server.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", server.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_notification_delivery_status"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_notification_delivery_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_notification_deliveries_notification_id"), ["notification_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_deliveries_notification_id"))
        batch_op.drop_index("ix_notification_delivery_due")
    op.drop_table("notification_deliveries")
