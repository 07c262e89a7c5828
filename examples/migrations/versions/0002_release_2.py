"""release 2: token counts, the answering model, council votes

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing messages hold rows: a NOT NULL column needs a server default (SQLite refuses
    # ADD COLUMN ... NOT NULL without one on a table with rows).
    op.add_column("messages", sa.Column("tokens", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("messages", sa.Column("model", sa.String(120), nullable=True))
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("voter_model", sa.String(120), nullable=False),
        sa.Column("chosen_model", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_votes_conversation_id", "votes", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_votes_conversation_id", "votes")
    op.drop_table("votes")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("model")
        batch.drop_column("tokens")
