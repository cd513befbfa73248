"""comparisons: baseline comparison results, cached and kept for the lineage ledger

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comparisons",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("pr_number", sa.Integer),
        sa.Column("commit_sha", sa.String(40), nullable=False),
        sa.Column("manifest_path", sa.String(500), nullable=False),
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("candidate", sa.String(1000), nullable=False),
        sa.Column("baseline", sa.String(1000)),
        sa.Column("dataset", sa.String(1100), nullable=False),
        sa.Column("dataset_digest", sa.String(80)),
        sa.Column("spec_digest", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16)),
        sa.Column("result", sa.Text),
        sa.Column("state", sa.Text),
        sa.Column("polls", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_poll_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_comparisons_model_env", "comparisons", ["model", "environment"])
    op.create_index("ix_comparisons_pull", "comparisons", ["repository", "pr_number"])


def downgrade() -> None:
    op.drop_table("comparisons")
