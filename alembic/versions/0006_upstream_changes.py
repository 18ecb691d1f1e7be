"""upstream changes: when an activity was found deleted on Garmin, reconcile schedules, run counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00.000000

`activities.deleted_at`: when a complete walk of Garmin's list first missed
the activity (rows already flagged get the time of this upgrade). Schedules
get a kind (`sync`, `reconcile`): one of each per account. Sync runs count
what they updated (renamed or retyped) and what they downloaded again
because Garmin's copy changed. `activities.refetch_original`: the recorded
file is intact but no longer this activity's (Garmin's copy changed, or `verify
--deep` found it wrong), so the next download fetches the original again
instead of only what the archive lacks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column('refetch_original', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE activities SET deleted_at = CURRENT_TIMESTAMP WHERE deleted_upstream")
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('changed', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.alter_column('refetch_original', server_default=None)
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.alter_column('updated', server_default=None)
        batch_op.alter_column('changed', server_default=None)
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='sync'))
        batch_op.drop_constraint(batch_op.f('uq_schedules_account_id'), type_='unique')
        batch_op.create_unique_constraint('uq_schedules_account_kind', ['account_id', 'kind'])
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.alter_column('kind', server_default=None)


def downgrade() -> None:
    op.execute("DELETE FROM schedules WHERE kind <> 'sync'")
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.drop_constraint('uq_schedules_account_kind', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_schedules_account_id'), ['account_id'])
        batch_op.drop_column('kind')
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_column('changed')
        batch_op.drop_column('updated')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_column('refetch_original')
        batch_op.drop_column('deleted_at')
