"""teams and their members; the patient's enrolment details and discharge

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:30:00

Before this revision every clinician saw every patient. So that nobody loses sight of a
patient they were caring for at the upgrade (a missed alert harms), every existing
clinician is made a member of every team that exists; an administrator then narrows the
memberships (``carewatch server user teams``). Users added later belong to the teams they
are given and to no other.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import server.store.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    teams = op.create_table(
        "teams",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created_at", server.store.models.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "team_members",
        sa.Column("username", sa.String(64), sa.ForeignKey("users.username"), primary_key=True),
        sa.Column("team", sa.String(64), sa.ForeignKey("teams.name"), primary_key=True),
    )
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("date_of_birth", sa.Date(), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(32), nullable=True))
        batch.add_column(sa.Column("gp_practice", sa.String(200), nullable=True))
        batch.add_column(
            sa.Column("discharged_at", server.store.models.UTCDateTime(timezone=True), nullable=True)
        )
    bind = op.get_bind()
    names = {"default"} | {row[0] for row in bind.execute(sa.text("SELECT DISTINCT team FROM patients"))}
    at = datetime.now(UTC)
    for name in sorted(names):
        bind.execute(teams.insert().values(name=name, created_at=at))
    bind.execute(
        sa.text(
            "INSERT INTO team_members (username, team) "
            "SELECT users.username, teams.name FROM users, teams WHERE users.role = 'clinician'"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        for column in ("discharged_at", "gp_practice", "phone", "date_of_birth"):
            batch.drop_column(column)
    op.drop_table("team_members")
    op.drop_table("teams")
