"""deployments: rollout state and the ledger

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(600), nullable=False, unique=True),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("pr_number", sa.Integer),
        sa.Column("commit_sha", sa.String(40), nullable=False),
        sa.Column("manifest_path", sa.String(500), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(63)),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(255)),
        sa.Column("after_id", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested", sa.String(16)),
        sa.Column("github_deployment_id", sa.BigInteger),
        sa.Column("state", sa.Text),
        sa.Column("provenance", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("next_tick_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_deployments_status_tick", "deployments", ["status", "next_tick_at"])
    op.create_index("ix_deployments_endpoint", "deployments", ["environment", "endpoint"])


def downgrade() -> None:
    op.drop_table("deployments")
