"""ledger: the append-only record of every deployment and attempt and what happened to it

Revision ID: 0007
Revises: 0006

The store has no UPDATE or DELETE path for this table, and the database refuses one anyway:
a trigger on PostgreSQL (UPDATE, DELETE, TRUNCATE) and on SQLite (UPDATE, DELETE) aborts the
statement. A correction is a new entry.
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

REFUSAL = "the ledger is append-only: corrections are new entries"


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("deployment_id", sa.Integer),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(63)),
        sa.Column("commit_sha", sa.String(40)),
        sa.Column("pr_number", sa.Integer),
        sa.Column("manifest_path", sa.String(500)),
        sa.Column("actor", sa.String(255)),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_ledger_endpoint", "ledger", ["endpoint", "environment", "id"])
    op.create_index("ix_ledger_deployment", "ledger", ["deployment_id", "id"])
    op.create_index("ix_ledger_commit", "ledger", ["commit_sha"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION modelbot_ledger_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSAL} (% refused)', TG_OP;
            END
            $$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER ledger_no_update_or_delete BEFORE UPDATE OR DELETE ON ledger "
                   "FOR EACH ROW EXECUTE FUNCTION modelbot_ledger_append_only()")
        op.execute("CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger "
                   "FOR EACH STATEMENT EXECUTE FUNCTION modelbot_ledger_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER ledger_no_{verb.lower()} BEFORE {verb} ON ledger "
                       f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_no_truncate ON ledger")
        op.execute("DROP TRIGGER IF EXISTS ledger_no_update_or_delete ON ledger")
        op.execute("DROP FUNCTION IF EXISTS modelbot_ledger_append_only()")
    op.drop_table("ledger")
