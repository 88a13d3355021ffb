"""an index for finding a dead letter again (the same reading or message refused once more)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Without it every refusal scanned the whole table: at 80,000 letters one batch of 500
    # refused readings held the single ingest thread for 84 s.
    op.create_index("ix_dead_letter_lookup", "dead_letters", ["reading_id", "topic", "status"])


def downgrade() -> None:
    op.drop_index("ix_dead_letter_lookup", table_name="dead_letters")
