"""Reminder dates on plan items, and a version counter on every row so that an edit made from a stale page
(two tabs) is refused instead of silently overwriting the other one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coach_plan_items") as batch:
        batch.add_column(sa.Column("remind_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("coach_profiles") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("coach_profiles") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("coach_plan_items") as batch:
        batch.drop_column("version")
        batch.drop_column("remind_on")
