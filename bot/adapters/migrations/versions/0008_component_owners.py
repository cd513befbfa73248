"""endpoint_owners.endpoint holds `<endpoint>/<component>` too: an inference component on a
shared endpoint is owned on its own (bot.core.manifest.Manifest.ownership_key), 63 + 1 + 63

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a column in place (alembic copies the table there)
    with op.batch_alter_table("endpoint_owners") as table:
        table.alter_column("endpoint", type_=sa.String(127), existing_type=sa.String(63), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("endpoint_owners") as table:
        table.alter_column("endpoint", type_=sa.String(63), existing_type=sa.String(127), existing_nullable=False)
