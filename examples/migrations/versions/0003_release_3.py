"""release 3: archived conversations, tags, per-tenant settings

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("name", sa.String(50), nullable=False),
        sa.UniqueConstraint("conversation_id", "name"),
    )
    op.create_index("ix_tags_conversation_id", "tags", ["conversation_id"])
    op.create_table(
        "settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("settings")
    op.drop_index("ix_tags_conversation_id", "tags")
    op.drop_table("tags")
    # Not a batch rebuild: with foreign keys on, rebuilding the parent table would delete
    # (or refuse to delete) every message. SQLite >= 3.35 drops the column in place.
    op.drop_column("conversations", "archived")
