"""github pacing: the shared book of the bot's GitHub writes (bot.adapters.github.pacer)

Revision ID: 0009
Revises: 0008

Every worker process and thread takes its write slots from these tables, so the App stays
within GitHub's secondary limits per installation however many workers run, and the web process
reads the queue and the counters for /metrics. Times are epoch seconds (floats): the pacer's
arithmetic, and an injectable clock in tests.
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "github_pacing",
        sa.Column("installation_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("held_until", sa.Float, nullable=False, server_default="0"),
        sa.Column("last_start", sa.Float, nullable=False, server_default="0"),
        sa.Column("sent", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("coalesced", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("refused", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("waited", sa.Float, nullable=False, server_default="0"),
    )
    op.create_table(
        "github_writes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("installation_id", sa.BigInteger, nullable=False),
        sa.Column("slot", sa.Float, nullable=False),  # reserved start; the actual start once sending
        sa.Column("state", sa.String(8), nullable=False),  # waiting | sending | done
        sa.Column("lease_until", sa.Float),
    )
    op.create_index("ix_github_writes_installation_slot", "github_writes", ["installation_id", "slot"])
    op.create_table(
        "github_write_targets",
        sa.Column("installation_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("generation", sa.Float, nullable=False),  # when the writer's news arrived (epoch s)
        sa.Column("at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("github_write_targets")
    op.drop_index("ix_github_writes_installation_slot", table_name="github_writes")
    op.drop_table("github_writes")
    op.drop_table("github_pacing")
