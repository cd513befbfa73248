"""ui sign-outs: status UI sessions ended by their person (bot/app/ui.py)

Revision ID: 0012
Revises: 0011

Sessions are signed cookies; sign-out clears this browser's, and a copy of the cookie taken
before would stay valid until it expires. So sign-out records the session's id (its SHA-256: the
id itself never leaves the cookie) until the session could have expired, and every page refuses
a recorded one. Rows past `until` are deleted at the next sign-out.
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ui_signouts",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ui_signouts_until", "ui_signouts", ["until"])


def downgrade() -> None:
    op.drop_index("ix_ui_signouts_until", table_name="ui_signouts")
    op.drop_table("ui_signouts")
