"""update replies: the replies of a handled update, kept until the channel sent them, so a
crash between the commit and the send loses none

Revision ID: 0026_update_replies
Revises: 0025_planning_runs
Create Date: 2026-12-06 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026_update_replies'
down_revision: str | Sequence[str] | None = '0025_planning_runs'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('processed_updates', sa.Column('replies', sa.JSON(), nullable=True))
    op.create_index(
        'ix_processed_updates_replying',
        'processed_updates',
        ['processed_at'],
        unique=False,
        sqlite_where=sa.text('replies IS NOT NULL'),
        postgresql_where=sa.text('replies IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_processed_updates_replying', table_name='processed_updates')
    # (Not batch mode: rebuilding the table would drop its SQLite trigger; SQLite 3.35 and
    # later drop a column in place.)
    op.drop_column('processed_updates', 'replies')
