"""drift findings: what the last drift cycle found per repository (bot.app.services.drift)

Revision ID: 0010
Revises: 0009

State, not history (the ledger keeps that): each cycle replaces a repository's rows. At most
`bot.app.services.drift.MAX_STORED` findings per repository, texts bounded as in the issue.
`drift_checks`: the repository's last cycle (when, how many endpoints, which not, its issue).
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drift_checks",
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked", sa.Integer, nullable=False),
        sa.Column("unreadable", sa.Text, nullable=False),  # JSON list of what could not be read
        sa.Column("default_branch", sa.String(255)),
        sa.Column("issue", sa.Integer),
    )
    op.create_table(
        "drift_findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("component", sa.String(63)),
        sa.Column("manifest_path", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("fix", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),  # JSON list
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_drift_findings_repository", "drift_findings", ["repository", "id"])
    op.create_index("ix_drift_findings_endpoint", "drift_findings", ["environment", "endpoint"])


def downgrade() -> None:
    op.drop_index("ix_drift_findings_endpoint", table_name="drift_findings")
    op.drop_index("ix_drift_findings_repository", table_name="drift_findings")
    op.drop_table("drift_findings")
    op.drop_table("drift_checks")
