"""answer edits: the message that gave a conversation's last answer, so an edit can replace it

Revision ID: 0017_answer_edits
Revises: 0016_flow_drafts
Create Date: 2026-12-02 19:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0017_answer_edits'
down_revision: str | Sequence[str] | None = '0016_flow_drafts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_answer', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('last_answer')
