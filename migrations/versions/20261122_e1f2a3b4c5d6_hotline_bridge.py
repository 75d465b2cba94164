"""hotline bridge: tickets' source and external number, webhook subscriptions and deliveries

Revision ID: e1f2a3b4c5d6
Revises: d9e3f5a7b2c4
Create Date: 2026-11-22 06:00:00.000000

New tables, plain ADD COLUMNs (nullable, no default) and CREATE INDEX only: on SQLite no
existing table is rebuilt. Existing tickets keep NULL source and external id (our own
channels), which the unique index never compares as equal.
"""
from alembic import op
import sqlalchemy as sa

import geo.models


# revision identifiers, used by Alembic.
revision = 'e1f2a3b4c5d6'
down_revision = 'd9e3f5a7b2c4'
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")


def upgrade():
    op.add_column('tickets', sa.Column('source', sa.String(length=32), nullable=True))
    op.add_column('tickets', sa.Column('external_id', sa.String(length=64), nullable=True))
    op.add_column('tickets', sa.Column('external_created_at', geo.models.UTCDateTime(timezone=True), nullable=True))
    op.create_index('uq_tickets_source_external_id', 'tickets', ['source', 'external_id'], unique=True)

    op.create_table('webhook_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions')),
    sa.UniqueConstraint('name', name=op.f('uq_webhook_subscriptions_name'))
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'sent', 'dead', name='delivery_state', native_enum=False,
                               create_constraint=True, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['ticket_events.id'],
                            name=op.f('fk_webhook_deliveries_event_id_ticket_events')),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id'],
                            name=op.f('fk_webhook_deliveries_subscription_id_webhook_subscriptions')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_webhook_deliveries_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_webhook_deliveries_dedupe_key'))
    )
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['next_attempt_at'], unique=False,
                    postgresql_where=PENDING, sqlite_where=PENDING)
    op.create_index('ix_webhook_deliveries_subscription_created', 'webhook_deliveries',
                    ['subscription_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_webhook_deliveries_ticket_id'), 'webhook_deliveries', ['ticket_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_webhook_deliveries_ticket_id'), table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_subscription_created', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries',
                  postgresql_where=PENDING, sqlite_where=PENDING)
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_subscriptions')
    op.drop_index('uq_tickets_source_external_id', table_name='tickets')
    # Plain DROP COLUMN (SQLite >= 3.35): the columns carry no index or constraint any more.
    op.drop_column('tickets', 'external_created_at')
    op.drop_column('tickets', 'external_id')
    op.drop_column('tickets', 'source')
