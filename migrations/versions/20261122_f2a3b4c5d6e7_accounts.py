"""accounts: login throttling, scoped tokens, one-time codes

Revision ID: f2a3b4c5d6e7
Revises: e1f2a3b4c5d6
Create Date: 2026-11-22 06:00:00.000000

New tables, plain ADD COLUMNs with server defaults and CREATE INDEX only: on SQLite no
existing table is rebuilt. Existing tokens get the scopes "read write" (what they could
do before); existing users need no one-time code.
"""
from alembic import op
import sqlalchemy as sa

import geo.models


# revision identifiers, used by Alembic.
revision = 'f2a3b4c5d6e7'
down_revision = 'e1f2a3b4c5d6'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('otp_required', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('api_tokens', sa.Column('scopes', sa.String(length=100), server_default=sa.text("'read write'"),
                                          nullable=False))

    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    op.create_index('ix_login_failures_at', 'login_failures', ['at'], unique=False)
    op.create_index('ix_login_failures_ip_at', 'login_failures', ['ip', 'at'], unique=False)
    op.create_index('ix_login_failures_username_at', 'login_failures', ['username', 'at'], unique=False)

    op.create_table('login_locks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('username', 'ip', name='lock_kind', native_enum=False, create_constraint=True,
                              length=32), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('locked_until', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_locks'))
    )
    op.create_index('ix_login_locks_kind_key', 'login_locks', ['kind', 'key'], unique=False)

    op.create_table('otp_challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('created_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('used_at', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_otp_challenges_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_otp_challenges')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_otp_challenges_secret_hash'))
    )
    op.create_index(op.f('ix_otp_challenges_user_id'), 'otp_challenges', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_otp_challenges_user_id'), table_name='otp_challenges')
    op.drop_table('otp_challenges')
    op.drop_index('ix_login_locks_kind_key', table_name='login_locks')
    op.drop_table('login_locks')
    op.drop_index('ix_login_failures_username_at', table_name='login_failures')
    op.drop_index('ix_login_failures_ip_at', table_name='login_failures')
    op.drop_index('ix_login_failures_at', table_name='login_failures')
    op.drop_table('login_failures')
    # Plain DROP COLUMN (SQLite >= 3.35): the columns carry no index or constraint.
    op.drop_column('api_tokens', 'scopes')
    op.drop_column('users', 'otp_required')
