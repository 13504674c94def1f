"""planning states: the day the planner next needs to look at a learner, made due again by
triggers whenever what it reads changes

Revision ID: 0024_planning_states
Revises: 0023_claim_leaves_inbox
Create Date: 2026-12-04 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models.scheduler import PLANNING_INPUTS, planning_triggers

revision: str = '0024_planning_states'
down_revision: str | Sequence[str] | None = '0023_claim_leaves_inbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'planning_states',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('plan_on', sa.Date(), nullable=True),
        sa.Column('version', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'],
            ['users.id'],
            name=op.f('fk_planning_states_user_id_users'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_planning_states')),
    )
    # The trigger text lives with the model (create_all makes the same ones); a later change
    # to it needs a migration of its own that drops these first.
    for statement in planning_triggers(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    names = [f'planning_due_{table}_{n}' for n, (table, *_) in enumerate(PLANNING_INPUTS)]
    for n, (table, *_) in enumerate(PLANNING_INPUTS):
        op.execute(f'DROP TRIGGER IF EXISTS {names[n]}' + ('' if dialect == 'sqlite' else f' ON {table}'))
    if dialect == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS planning_due_holidays_INSERT')
        op.execute('DROP TRIGGER IF EXISTS planning_due_holidays_DELETE')
    else:
        op.execute('DROP TRIGGER IF EXISTS planning_due_holidays ON programme_holidays')
        for name in [*names, 'planning_due_holidays']:
            op.execute(f'DROP FUNCTION IF EXISTS {name}()')
    op.drop_table('planning_states')
