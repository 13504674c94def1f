"""send schedule: one overall send budget per channel, shared by every process

Revision ID: 0022_send_schedule
Revises: 0021_risk_summary_derived
Create Date: 2026-12-03 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models.base import UTCDateTime

revision: str = '0022_send_schedule'
down_revision: str | Sequence[str] | None = '0021_risk_summary_derived'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'send_schedule',
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('next_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('channel', name=op.f('pk_send_schedule')),
    )


def downgrade() -> None:
    op.drop_table('send_schedule')
