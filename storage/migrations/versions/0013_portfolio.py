"""a description per piece of evidence (typed or spoken), the transcript of a voice note,
the official name on the portfolio

Revision ID: 0013_portfolio
Revises: 0012_durable_inbox
Create Date: 2026-12-02 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013_portfolio'
down_revision: str | Sequence[str] | None = '0012_durable_inbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('description_upload_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_evidence_description_upload_id_uploads'),
            'uploads', ['description_upload_id'], ['id'], ondelete='SET NULL',
        )
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transcript', sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column('transcript_checked', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('portfolio_name', sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('portfolio_name')
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_column('transcript_checked')
        batch_op.drop_column('transcript')
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_evidence_description_upload_id_uploads'), type_='foreignkey'
        )
        batch_op.drop_column('description_upload_id')
        batch_op.drop_column('description')
