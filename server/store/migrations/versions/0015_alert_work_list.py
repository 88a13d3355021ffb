"""alert work list: claim ("I'm on it"), a structured resolve outcome, the contact log

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 17:40:00

Alerts resolved before this revision keep their outcome in
words and no outcome code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.store.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("claimed_at", server.store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("outcome_code", sa.String(length=32), nullable=True))
    op.create_table(
        "alert_contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("at", server.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_alert_contacts_alert_id"), "alert_contacts", ["alert_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_contacts_alert_id"), table_name="alert_contacts")
    op.drop_table("alert_contacts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("outcome_code")
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
