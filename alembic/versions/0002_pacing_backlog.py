"""pacing backlog: activities wait in the database until the dispatcher publishes them

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 04:06:08.423439

Activities claimed before this revision had their task published already:
they are marked dispatched at their claim time, so the dispatcher re-publishes
them only if that task was lost (its lease runs out).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('not_before', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_activities_state_dispatched', ['state', 'dispatched_at'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_activities_run_id_sync_runs'), 'sync_runs', ['run_id'], ['id'], ondelete='SET NULL'
        )
    op.execute(
        "UPDATE activities SET dispatched_at = COALESCE(queued_at, CURRENT_TIMESTAMP) "
        "WHERE state IN ('queued', 'downloading')"
    )


def downgrade() -> None:
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_activities_run_id_sync_runs'), type_='foreignkey')
        batch_op.drop_index('ix_activities_state_dispatched')
        batch_op.drop_column('not_before')
        batch_op.drop_column('dispatched_at')
        batch_op.drop_column('run_id')
