"""risk summary derived columns: the newest three missed goals as times and the number of
counted barriers, so /atrisk compares columns instead of searching text; filled here from
each summary's own `missed` and `barriers`

Revision ID: 0021_risk_summary_derived
Revises: 0020_outbox_scheduled
Create Date: 2026-12-03 16:00:00.000000
"""

from collections.abc import Sequence
from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op

from storage.models.base import UTCDateTime
from storage.risk_summary import derive

revision: str = '0021_risk_summary_derived'
down_revision: str | Sequence[str] | None = '0020_outbox_scheduled'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table('risk_summaries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('missed_1', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('missed_2', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('missed_3', UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column('barrier_count', sa.Integer(), server_default='0', nullable=False)
        )
    summaries = sa.table(
        'risk_summaries',
        sa.column('user_id', sa.Integer),
        sa.column('missed', sa.Text),
        sa.column('barriers', sa.Text),
        sa.column('missed_1', UTCDateTime),
        sa.column('missed_2', UTCDateTime),
        sa.column('missed_3', UTCDateTime),
        sa.column('barrier_count', sa.Integer),
    )
    update = (
        summaries.update()
        .where(summaries.c.user_id == sa.bindparam('id'))
        .values(
            missed_1=sa.bindparam('m1'),
            missed_2=sa.bindparam('m2'),
            missed_3=sa.bindparam('m3'),
            barrier_count=sa.bindparam('count'),
        )
    )
    connection = op.get_bind()
    query = sa.select(summaries.c.user_id, summaries.c.missed, summaries.c.barriers).where(
        sa.or_(summaries.c.missed != '', summaries.c.barriers != '')
    )
    rows = []
    for user_id, missed, barriers in connection.execute(query).all():
        summary = SimpleNamespace(missed=missed, barriers=barriers)
        derive(summary)
        rows.append(
            {
                'id': user_id,
                'm1': summary.missed_1,
                'm2': summary.missed_2,
                'm3': summary.missed_3,
                'count': summary.barrier_count,
            }
        )
    for start in range(0, len(rows), BATCH):
        connection.execute(update, rows[start : start + BATCH])


def downgrade() -> None:
    with op.batch_alter_table('risk_summaries', schema=None) as batch_op:
        batch_op.drop_column('barrier_count')
        batch_op.drop_column('missed_3')
        batch_op.drop_column('missed_2')
        batch_op.drop_column('missed_1')
