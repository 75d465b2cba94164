"""worker: outbox, sweeps, supervision candidates, dedupe keys

Revision ID: 76d2e4caab40
Revises: 45e0135fb3dc
Create Date: 2026-11-22 01:48:58.620710

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

# revision identifiers, used by Alembic.
revision = '76d2e4caab40'
down_revision = '45e0135fb3dc'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('worker_sweeps',
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('last_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_as_of', sa.DateTime(timezone=True), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('worker', sa.String(length=120), nullable=False),
    sa.PrimaryKeyConstraint('job', name=op.f('pk_worker_sweeps'))
    )
    op.create_geospatial_table('supervision_candidates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('district_unit_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('center', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('radius_m', sa.Integer(), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('ticket_count', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('open', 'listed', 'dismissed', name='candidate_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_supervision_candidates_category_id_categories')),
    sa.ForeignKeyConstraint(['district_unit_id'], ['org_units.id'], name=op.f('fk_supervision_candidates_district_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_candidates')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_supervision_candidates_dedupe_key'))
    )
    with op.batch_alter_table('supervision_candidates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_candidates_district_unit_id'), ['district_unit_id'], unique=False)

    op.create_table('supervision_candidate_tickets',
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['supervision_candidates.id'], name=op.f('fk_supervision_candidate_tickets_candidate_id_supervision_candidates')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_supervision_candidate_tickets_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('candidate_id', 'ticket_id', name=op.f('pk_supervision_candidate_tickets'))
    )
    with op.batch_alter_table('supervision_candidate_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_candidate_tickets_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.Enum('inbox', 'email', 'sms', 'wechat', name='channel', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'sent', 'dead', name='delivery_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['ticket_events.id'], name=op.f('fk_notifications_event_id_ticket_events')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_notifications_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notifications_dedupe_key'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_due', ['next_attempt_at'], unique=False, postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))
        batch_op.create_index(batch_op.f('ix_notifications_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_index('ix_notifications_user_created', ['user_id', 'created_at'], unique=False)

    # Plain ADD COLUMN and CREATE INDEX: SQLite does these without rebuilding the tables
    # (a rebuild would drop the trail's append-only triggers and upset SpatiaLite's metadata).
    op.add_column('extensions', sa.Column('decision_note', sa.Text(), server_default='', nullable=False))
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite takes a foreign key only inline in ADD COLUMN.
        op.execute('ALTER TABLE extensions ADD COLUMN decider_unit_id INTEGER '
                   'CONSTRAINT fk_extensions_decider_unit_id_org_units REFERENCES org_units (id)')
    else:
        op.add_column('extensions', sa.Column('decider_unit_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_extensions_decider_unit_id_org_units', 'extensions', 'org_units',
                              ['decider_unit_id'], ['id'])
    op.add_column('extensions', sa.Column('decide_by', sa.DateTime(timezone=True), nullable=True))
    op.add_column('extensions', sa.Column('escalation_level', sa.Integer(), server_default='0', nullable=False))
    op.add_column('ticket_events', sa.Column('dedupe_key', sa.String(length=200), nullable=True))
    op.create_index('uq_ticket_events_dedupe_key', 'ticket_events', ['dedupe_key'], unique=True)
    op.add_column('tickets', sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('tickets', sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_tickets_next_check', 'tickets', ['next_check_at'], unique=False,
                    postgresql_where=sa.text('next_check_at IS NOT NULL'),
                    sqlite_where=sa.text('next_check_at IS NOT NULL'))

def downgrade():
    op.drop_index('ix_tickets_next_check', table_name='tickets')
    op.drop_index('uq_ticket_events_dedupe_key', table_name='ticket_events')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite (3.35+) drops plain columns in place; only extensions, with its foreign key,
        # is rebuilt (it has no geometry and no triggers to lose).
        for table, column in (('tickets', 'next_check_at'), ('tickets', 'returned_at'),
                              ('ticket_events', 'dedupe_key')):
            op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
        with op.batch_alter_table('extensions', recreate='always') as batch_op:
            for column in ('escalation_level', 'decide_by', 'decider_unit_id', 'decision_note'):
                batch_op.drop_column(column)
    else:
        op.drop_column('tickets', 'next_check_at')
        op.drop_column('tickets', 'returned_at')
        op.drop_column('ticket_events', 'dedupe_key')
        op.drop_constraint('fk_extensions_decider_unit_id_org_units', 'extensions', type_='foreignkey')
        for column in ('escalation_level', 'decide_by', 'decider_unit_id', 'decision_note'):
            op.drop_column('extensions', column)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_created')
        batch_op.drop_index(batch_op.f('ix_notifications_ticket_id'))
        batch_op.drop_index('ix_notifications_due', postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))

    op.drop_table('notifications')
    with op.batch_alter_table('supervision_candidate_tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_candidate_tickets_ticket_id'))

    op.drop_table('supervision_candidate_tickets')
    with op.batch_alter_table('supervision_candidates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_candidates_district_unit_id'))

    op.drop_geospatial_table('supervision_candidates')
    op.drop_table('worker_sweeps')
