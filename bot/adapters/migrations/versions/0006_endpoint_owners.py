"""endpoint_owners: which manifest each endpoint of each environment belongs to

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoint_owners",
        sa.Column("environment", sa.String(64), primary_key=True),
        sa.Column("endpoint", sa.String(63), primary_key=True),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("manifest_path", sa.String(500), nullable=False),
        sa.Column("how", sa.String(16), nullable=False),
        sa.Column("s3_prefix", sa.String(1024)),
        sa.Column("deployment_id", sa.Integer),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("endpoint_owners")
