"""deployments: a GitHub progress report that could not be delivered, owed until it is

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("notify_owed", sa.Text))
        batch.add_column(sa.Column("notify_attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("notify_due_at", sa.DateTime(timezone=True)))
        batch.create_index("ix_deployments_notify_due", ["notify_due_at"])


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_index("ix_deployments_notify_due")
        batch.drop_column("notify_due_at")
        batch.drop_column("notify_attempts")
        batch.drop_column("notify_owed")
