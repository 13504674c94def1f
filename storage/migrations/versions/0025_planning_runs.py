"""planning runs: the last planning round that finished, so a restart or a lease takeover
plans every learner only when the planner's code or policy changed

Revision ID: 0025_planning_runs
Revises: 0024_planning_states
Create Date: 2026-12-06 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models.base import UTCDateTime

revision: str = '0025_planning_runs'
down_revision: str | Sequence[str] | None = '0024_planning_states'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'planning_runs',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('planned_on', sa.Date(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('finished_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_planning_runs')),
    )


def downgrade() -> None:
    op.drop_table('planning_runs')
