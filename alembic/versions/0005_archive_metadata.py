"""archive metadata: the files kept beside each original (GPX/TCX exports, the JSON sidecar)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 09:00:00.000000

One row per activity and format in `activity_files`; the original stays on
`activities`. Nothing to fill in: archives made before this revision get their
sidecars at the next sync (no request to Garmin) and extra formats when
GARMINSYNC_FORMATS asks for them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'activity_files',
        sa.Column('activity_id', sa.BigInteger(), nullable=False),
        sa.Column('format', sa.String(length=8), nullable=False),
        sa.Column('path', sa.String(length=1024), nullable=True),
        sa.Column('size', sa.BigInteger(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('details', sa.Boolean(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['activity_id'], ['activities.id'],
            name=op.f('fk_activity_files_activity_id_activities'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('activity_id', 'format', name=op.f('pk_activity_files')),
    )


def downgrade() -> None:
    op.drop_table('activity_files')
