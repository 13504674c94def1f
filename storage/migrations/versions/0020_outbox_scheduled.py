"""outbox scheduled: what the scheduler planned is claimed after what people wrote, by index

Revision ID: 0020_outbox_scheduled
Revises: 0019_transcripts
Create Date: 2026-12-03 12:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0020_outbox_scheduled'
down_revision: str | Sequence[str] | None = '0019_transcripts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The kinds the scheduler planned until now (flows/nudges.py and session reminders).
SCHEDULED_KINDS = (
    'goal_prompt', 'checkin', 'lookback', 'reflect_reminder', 'welcome_back',
    'inactive_7', 'inactive_14',
    'coach_inactive_14', 'coach_inactive_21', 'coach_blocked', 'session_reminder',
)


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('scheduled', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    outbox = sa.table('outbox', sa.column('kind', sa.String), sa.column('scheduled', sa.Boolean))
    op.execute(
        outbox.update().where(outbox.c.kind.in_(SCHEDULED_KINDS)).values(scheduled=True)
    )
    op.create_index(
        'ix_outbox_status_scheduled_due', 'outbox', ['status', 'scheduled', 'due_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_outbox_status_scheduled_due', table_name='outbox')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('scheduled')
