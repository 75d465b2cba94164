"""citizen channel: QR reports and tracking links

Revision ID: a3b4c5d6e7f8
Revises: f2a3b4c5d6e7
Create Date: 2026-11-22 06:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import geo.models

# revision identifiers, used by Alembic.
revision = 'a3b4c5d6e7f8'
down_revision = 'f2a3b4c5d6e7'
branch_labels = None
depends_on = None


LIVE = sa.text('revoked_at IS NULL')


def upgrade():
    # New tables only: SQLite adds them without rebuilding anything.
    op.create_table('citizen_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deputy_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('created_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['deputy_id'], ['users.id'], name=op.f('fk_citizen_codes_deputy_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_citizen_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_citizen_codes_code'))
    )
    op.create_index(op.f('ix_citizen_codes_deputy_id'), 'citizen_codes', ['deputy_id'], unique=False)
    op.create_index('ux_citizen_codes_live_deputy', 'citizen_codes', ['deputy_id'], unique=True,
                    sqlite_where=LIVE, postgresql_where=LIVE)

    op.create_table('citizen_reports',
    sa.Column('ticket_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('form_key_hash', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=100), server_default='', nullable=False),
    sa.Column('phone', sa.String(length=32), server_default='', nullable=False),
    sa.Column('may_rate', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['code_id'], ['citizen_codes.id'], name=op.f('fk_citizen_reports_code_id_citizen_codes')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_citizen_reports_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_citizen_reports')),
    sa.UniqueConstraint('form_key_hash', name=op.f('uq_citizen_reports_form_key_hash')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_citizen_reports_token_hash'))
    )
    op.create_index(op.f('ix_citizen_reports_code_id'), 'citizen_reports', ['code_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_citizen_reports_code_id'), table_name='citizen_reports')
    op.drop_table('citizen_reports')
    op.drop_index('ux_citizen_codes_live_deputy', table_name='citizen_codes',
                  sqlite_where=LIVE, postgresql_where=LIVE)
    op.drop_index(op.f('ix_citizen_codes_deputy_id'), table_name='citizen_codes')
    op.drop_table('citizen_codes')
