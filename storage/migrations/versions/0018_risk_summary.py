"""risk summary: one row per learner with what the risk view needs of their signals, built
from the signals table here and kept up to date with every new signal afterwards

Revision ID: 0018_risk_summary
Revises: 0017_answer_edits
Create Date: 2026-12-03 09:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models.base import UTCDateTime
from storage.risk_summary import backfill

revision: str = '0018_risk_summary'
down_revision: str | Sequence[str] | None = '0017_answer_edits'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    summaries = op.create_table('risk_summaries',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('last_session_absent', UTCDateTime(), nullable=True),
    sa.Column('last_session_present', UTCDateTime(), nullable=True),
    sa.Column('last_asked_for_coach', UTCDateTime(), nullable=True),
    sa.Column('last_checkin_no_time', UTCDateTime(), nullable=True),
    sa.Column('last_checkin_stuck', UTCDateTime(), nullable=True),
    sa.Column('last_coach_contact', UTCDateTime(), nullable=True),
    sa.Column('last_goal_outcome', UTCDateTime(), nullable=True),
    sa.Column('missed', sa.Text(), nullable=False),
    sa.Column('barriers', sa.Text(), nullable=False),
    sa.Column('barriers_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_risk_summaries_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_risk_summaries'))
    )
    # The signals so far, into the columns of this revision (0021 adds derived ones). This
    # reads signals with today's model: a later migration that changes the signals table
    # must not rely on running this one's backfill unchanged.
    backfill(op.get_bind(), target=summaries)


def downgrade() -> None:
    op.drop_table('risk_summaries')
