"""run error kind: a failed sync run keeps what kind of failure ended it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 06:00:00.000000

`garminsync sync --wait` exits with the code of that kind (3 for a login,
6 for Garmin unavailable, ...) instead of reading it from the message.
Runs that failed before this revision have none (exit 4, as before).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error_kind', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_column('error_kind')
