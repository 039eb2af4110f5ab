"""Profiles and plan items: a person's saved situation, and the cited steps they chose to act on.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coach_profiles",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("level", sa.String(500), nullable=False),
        sa.Column("goal", sa.String(500), nullable=False),
        sa.Column("manager", sa.String(500), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "coach_plan_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.Column("url", sa.String(300), nullable=False),
        sa.Column("video_id", sa.String(64), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("framework", sa.String(500), nullable=False),
        sa.Column("step_n", sa.Integer(), nullable=True),
        sa.Column("added_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner", "n", name="uq_coach_plan_items_owner_n"),
        sa.CheckConstraint("status IN ('open', 'done', 'dropped')", name="ck_coach_plan_items_status"),
    )
    op.create_index("ix_coach_plan_items_owner", "coach_plan_items", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_coach_plan_items_owner", table_name="coach_plan_items")
    op.drop_table("coach_plan_items")
    op.drop_table("coach_profiles")
