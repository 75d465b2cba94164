"""supervision list and assessment reports

Revision ID: c8d2e4f6a1b3
Revises: b7c1d2e3f4a5
Create Date: 2026-11-22 04:16:26.659163

"""
from alembic import op
import sqlalchemy as sa

import geo.models


# revision identifiers, used by Alembic.
revision = 'c8d2e4f6a1b3'
down_revision = 'b7c1d2e3f4a5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('assessment_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('monthly', 'annual', name='report_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('generated_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('html_key', sa.String(length=300), nullable=False),
    sa.Column('pdf_key', sa.String(length=300), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_assessment_reports_requested_by_id_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['org_units.id'], name=op.f('fk_assessment_reports_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_reports'))
    )
    with op.batch_alter_table('assessment_reports', schema=None) as batch_op:
        batch_op.create_index('ux_assessment_reports_version', ['unit_id', 'period', 'version'], unique=True)

    op.create_table('supervision_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('candidate_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('leader', sa.String(length=100), nullable=False),
    sa.Column('review_on', sa.Date(), nullable=False),
    sa.Column('listed_by_id', sa.Integer(), nullable=False),
    sa.Column('listed_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('removed_by_id', sa.Integer(), nullable=True),
    sa.Column('removed_at', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('removal_note', sa.Text(), nullable=False),
    sa.CheckConstraint('(ticket_id IS NULL) <> (candidate_id IS NULL)', name=op.f('ck_supervision_items_one_subject')),
    sa.ForeignKeyConstraint(['candidate_id'], ['supervision_candidates.id'], name=op.f('fk_supervision_items_candidate_id_supervision_candidates')),
    sa.ForeignKeyConstraint(['listed_by_id'], ['users.id'], name=op.f('fk_supervision_items_listed_by_id_users')),
    sa.ForeignKeyConstraint(['removed_by_id'], ['users.id'], name=op.f('fk_supervision_items_removed_by_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_supervision_items_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['unit_id'], ['org_units.id'], name=op.f('fk_supervision_items_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_items'))
    )
    with op.batch_alter_table('supervision_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_items_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index('ux_supervision_items_active_candidate', ['candidate_id'], unique=True, sqlite_where=sa.text('removed_at IS NULL AND candidate_id IS NOT NULL'), postgresql_where=sa.text('removed_at IS NULL AND candidate_id IS NOT NULL'))
        batch_op.create_index('ux_supervision_items_active_ticket', ['ticket_id'], unique=True, sqlite_where=sa.text('removed_at IS NULL AND ticket_id IS NOT NULL'), postgresql_where=sa.text('removed_at IS NULL AND ticket_id IS NOT NULL'))



def downgrade():
    with op.batch_alter_table('supervision_items', schema=None) as batch_op:
        batch_op.drop_index('ux_supervision_items_active_ticket', sqlite_where=sa.text('removed_at IS NULL AND ticket_id IS NOT NULL'), postgresql_where=sa.text('removed_at IS NULL AND ticket_id IS NOT NULL'))
        batch_op.drop_index('ux_supervision_items_active_candidate', sqlite_where=sa.text('removed_at IS NULL AND candidate_id IS NOT NULL'), postgresql_where=sa.text('removed_at IS NULL AND candidate_id IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_supervision_items_unit_id'))

    op.drop_table('supervision_items')
    with op.batch_alter_table('assessment_reports', schema=None) as batch_op:
        batch_op.drop_index('ux_assessment_reports_version')

    op.drop_table('assessment_reports')
