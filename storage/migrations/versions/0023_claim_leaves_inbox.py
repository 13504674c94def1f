"""claim leaves inbox: on SQLite, a processed update's inbox row goes in the same statement

Revision ID: 0023_claim_leaves_inbox
Revises: 0022_send_schedule
Create Date: 2026-12-03 18:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0023_claim_leaves_inbox'
down_revision: str | Sequence[str] | None = '0022_send_schedule'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostgreSQL's claim deletes the inbox row in a data-modifying CTE instead.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            'CREATE TRIGGER processed_updates_leave_inbox AFTER INSERT ON processed_updates '
            'BEGIN DELETE FROM inbox_updates WHERE update_id = NEW.update_id; END'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS processed_updates_leave_inbox')
