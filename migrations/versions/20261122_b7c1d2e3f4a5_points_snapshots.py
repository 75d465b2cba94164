"""points: quarterly snapshots of the deputies' points

Revision ID: b7c1d2e3f4a5
Revises: 76d2e4caab40
Create Date: 2026-11-22 03:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'b7c1d2e3f4a5'
down_revision = '76d2e4caab40'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('points_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_snapshots')),
    sa.UniqueConstraint('period', name=op.f('uq_points_snapshots_period'))
    )


def downgrade():
    op.drop_table('points_snapshots')
