"""notifications: deliveries of what the tool tells its owner, and when the tokens run out

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 06:00:00.000000

`notifications` records each event (a run's digest, a failure, a login
needed, a long cool-down, damage found by verify, tokens about to expire)
and its delivery; never a URL in clear. `activities.moving_s` and `elapsed_s` (Garmin's moving and elapsed
time, for the statistics) are filled from the stored summaries.
`accounts.refresh_expires_at` is
when the stored tokens need a new interactive login, `notify_urls_blob`
the account's own Apprise URLs, encrypted like its tokens. The index on
`activities.run_id` serves a run's digest and the check that closes runs.
"""

from __future__ import annotations

import json
import math

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refresh_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('notify_urls_blob', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moving_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('elapsed_s', sa.Float(), nullable=True))
        batch_op.create_index('ix_activities_run', ['run_id'], unique=False)
    _backfill_times()
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=255), nullable=True),
        sa.Column('targets', sa.String(length=1024), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['account_id'], ['accounts.id'], name=op.f('fk_notifications_account_id_accounts'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['run_id'], ['sync_runs.id'], name=op.f('fk_notifications_run_id_sync_runs'), ondelete='SET NULL'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_status', ['status'], unique=False)
        batch_op.create_index(
            'ix_notifications_account_event', ['account_id', 'event', 'created_at'], unique=False
        )


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _backfill_times(batch: int = 2000) -> None:
    """Moving and elapsed time out of each stored summary, a batch at a time."""
    conn = op.get_bind()
    activities = sa.table(
        'activities',
        sa.column('id', sa.BigInteger),
        sa.column('summary_json', sa.Text),
        sa.column('moving_s', sa.Float),
        sa.column('elapsed_s', sa.Float),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(activities.c.id, activities.c.summary_json)
            .where(activities.c.id > last, activities.c.summary_json.is_not(None))
            .order_by(activities.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        values = []
        for activity_id, text in rows:
            try:
                summary = json.loads(text)
            except ValueError:
                continue
            if isinstance(summary, dict):
                moving, elapsed = _seconds(summary.get('movingDuration')), _seconds(summary.get('elapsedDuration'))
                if moving is not None or elapsed is not None:
                    values.append({'key': activity_id, 'moving': moving, 'elapsed': elapsed})
        if values:
            conn.execute(
                activities.update()
                .where(activities.c.id == sa.bindparam('key'))
                .values(moving_s=sa.bindparam('moving'), elapsed_s=sa.bindparam('elapsed')),
                values,
            )
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_account_event')
        batch_op.drop_index('ix_notifications_status')
    op.drop_table('notifications')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_run')
        batch_op.drop_column('elapsed_s')
        batch_op.drop_column('moving_s')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('notify_urls_blob')
        batch_op.drop_column('refresh_expires_at')
