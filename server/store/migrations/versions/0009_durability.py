"""durability: ledger content digests, dead-letter codes and replays, page sessions tied to
the token that opened them, and worker heartbeats for /health

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.store.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingested_readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_sha256", sa.String(64), nullable=True))
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_code", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("replays", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("last_replayed_at", server.store.models.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("page_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
    op.create_table(
        "worker_heartbeats",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("instance", sa.String(128), primary_key=True),
        sa.Column("started_at", server.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", server.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
    with op.batch_alter_table("page_sessions", schema=None) as batch_op:
        batch_op.drop_column("token_hash")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_column("last_replayed_at")
        batch_op.drop_column("replays")
        batch_op.drop_column("reason_code")
    with op.batch_alter_table("ingested_readings", schema=None) as batch_op:
        batch_op.drop_column("content_sha256")
