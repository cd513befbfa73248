"""model age charts: the last model-age chart drawn per endpoint (bot.app.services.model_age)

Revision ID: 0011
Revises: 0010

State, not history: the PR report's refresh replaces an endpoint's row each time it draws the
chart (the ledger and CloudWatch hold what it is drawn from), so the status UI can show it
without reading AWS on a page view. `drawing`: JSON, bounded by the chart's own limits (4
models x 60 days).
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_age_charts",
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("environment", sa.String(64), primary_key=True),
        sa.Column("endpoint", sa.String(63), primary_key=True),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawing", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_age_charts")
