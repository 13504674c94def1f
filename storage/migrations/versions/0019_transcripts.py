"""transcripts: whether the learner typed the transcript of a voice note themselves

Revision ID: 0019_transcripts
Revises: 0018_risk_summary
Create Date: 2026-12-03 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0019_transcripts'
down_revision: str | Sequence[str] | None = '0018_risk_summary'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'transcript_corrected', sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_column('transcript_corrected')
