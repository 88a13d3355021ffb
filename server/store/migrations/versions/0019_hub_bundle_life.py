"""hub bundle life: when a hub's enrolment bundle was issued, until when it works, and
whether the ticker disabled the hub because it expired unused

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 10:00:00

A bundle holds a working broker password. One that is never used used to stay valid at the
broker for ever; now the ticker disables the hub's broker identity once its bundle expired
before the hub connected with it (``bundle_lapsed_at``), and a new bundle or claim code lets
it in again. Hubs from before have no bundle on record: nothing lapses for them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.store.models import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hubs") as batch:
        batch.add_column(sa.Column("bundle_issued_at", UTCDateTime(timezone=True)))
        batch.add_column(sa.Column("bundle_expires_at", UTCDateTime(timezone=True)))
        batch.add_column(sa.Column("bundle_lapsed_at", UTCDateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("hubs") as batch:
        batch.drop_column("bundle_lapsed_at")
        batch.drop_column("bundle_expires_at")
        batch.drop_column("bundle_issued_at")
