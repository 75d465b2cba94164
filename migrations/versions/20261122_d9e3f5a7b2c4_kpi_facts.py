"""kpi facts: one row per dispatch and per unit and month kept by the worker, the queue its trigger fills, open-work index

Revision ID: d9e3f5a7b2c4
Revises: c8d2e4f6a1b3
Create Date: 2026-11-22 05:00:00.000000

New tables and indexes only: on SQLite no existing table is rebuilt. The facts start empty
with no recorded inputs, which makes the first refresh (worker or KPI query) queue every
ticket: an existing database is backfilled by the worker in batches.
"""
from alembic import op
import sqlalchemy as sa

import geo.models


# revision identifiers, used by Alembic.
revision = 'd9e3f5a7b2c4'
down_revision = 'c8d2e4f6a1b3'
branch_labels = None
depends_on = None

OPEN_WORK = sa.text("state IN ('dispatched', 'accepted', 'returned')")
LASTING = sa.text("ended_at IS NULL")
MONTH_COUNTS = ('dispatches', 'excluded', 'resp_num', 'resp_den', 'ontime_num', 'ontime_den', 'resolved', 'first_ok',
                'first_n', 'final_ok', 'final_n', 'rehandled', 'returned', 'flagged', 'steps')


def _sqlite():
    return op.get_bind().dialect.name == "sqlite"


# Every new event queues its ticket for a refresh of its facts, whoever writes it (services,
# worker, bulk SQL). On PostgreSQL once per statement and ticket, from the transition table.
PG_QUEUE = """
CREATE FUNCTION kpi_fact_queue_add() RETURNS trigger AS $$
BEGIN
  INSERT INTO kpi_fact_queue (ticket_id) SELECT DISTINCT ticket_id FROM new_events;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ticket_events_queue_kpi AFTER INSERT ON ticket_events
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION kpi_fact_queue_add();
"""
SQLITE_QUEUE = (
    "CREATE TRIGGER ticket_events_queue_kpi AFTER INSERT ON ticket_events "
    "BEGIN INSERT INTO kpi_fact_queue (ticket_id) VALUES (NEW.ticket_id); END"
)


def upgrade():
    op.create_table('kpi_fact_queue',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_fact_queue'))
    )
    op.create_index(op.f('ix_kpi_fact_queue_ticket_id'), 'kpi_fact_queue', ['ticket_id'], unique=False)
    op.create_table('kpi_fact_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=True),
    sa.Column('refreshed_at', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_fact_state'))
    )
    op.create_table('kpi_facts',
    sa.Column('ticket_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('excluded', sa.Boolean(), nullable=False),
    sa.Column('dispatched_at', geo.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('response_due', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolution_due', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('returned', sa.Boolean(), nullable=False),
    sa.Column('rehandled', sa.Boolean(), nullable=False),
    sa.Column('evidence_steps', sa.Integer(), nullable=False),
    sa.Column('evidence_flagged', sa.Integer(), nullable=False),
    sa.Column('first_rated', sa.SmallInteger(), nullable=False),
    sa.Column('first_satisfied', sa.SmallInteger(), nullable=False),
    sa.Column('final_rated', sa.SmallInteger(), nullable=False),
    sa.Column('final_satisfied', sa.SmallInteger(), nullable=False),
    sa.Column('response_us', sa.BigInteger(), nullable=True),
    sa.Column('resolution_us', sa.BigInteger(), nullable=True),
    sa.Column('response_bucket', sa.SmallInteger(), nullable=True),
    sa.Column('resolution_bucket', sa.SmallInteger(), nullable=True),
    sa.Column('deadlines_computed', sa.Boolean(), nullable=False),
    sa.Column('calendar_until', geo.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_kpi_facts_category_id_categories')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_kpi_facts_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['unit_id'], ['org_units.id'], name=op.f('fk_kpi_facts_unit_id_org_units')),
    sa.PrimaryKeyConstraint('ticket_id', 'seq', name=op.f('pk_kpi_facts'))
    )
    op.create_index('ix_kpi_facts_unit_dispatched', 'kpi_facts', ['unit_id', 'dispatched_at'], unique=False)
    op.create_index('ix_kpi_facts_lasting', 'kpi_facts', ['unit_id', 'dispatched_at'], unique=False,
                    postgresql_where=LASTING, sqlite_where=LASTING)
    for measure in ('response', 'resolution'):
        op.create_index(f'ix_kpi_facts_{measure}_bucket', 'kpi_facts', [f'{measure}_bucket', 'dispatched_at'],
                        unique=False,
                        postgresql_include=['unit_id', 'excluded', 'category_id', f'{measure}_us'])
    op.create_table('kpi_months',
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    *[sa.Column(name, sa.Integer(), nullable=False) for name in MONTH_COUNTS],
    sa.Column('response_n', sa.Integer(), nullable=False),
    sa.Column('response_us', sa.BigInteger(), nullable=False),
    sa.Column('resolution_n', sa.Integer(), nullable=False),
    sa.Column('resolution_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['org_units.id'], name=op.f('fk_kpi_months_unit_id_org_units')),
    sa.PrimaryKeyConstraint('unit_id', 'month', name=op.f('pk_kpi_months'))
    )
    op.create_table('kpi_month_hist',
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('measure', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('bucket', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['org_units.id'], name=op.f('fk_kpi_month_hist_unit_id_org_units')),
    sa.PrimaryKeyConstraint('unit_id', 'month', 'measure', 'bucket', name=op.f('pk_kpi_month_hist'))
    )
    # A plain CREATE INDEX: SQLite adds it without rebuilding `tickets`.
    op.create_index('ix_tickets_open_work', 'tickets',
                    ['handling_unit_id', 'state', 'category_id', 'response_due_at', 'resolution_due_at'],
                    unique=False, postgresql_where=OPEN_WORK, sqlite_where=OPEN_WORK)
    if _sqlite():
        op.execute(SQLITE_QUEUE)
    else:
        op.execute(PG_QUEUE)


def downgrade():
    if _sqlite():
        op.execute("DROP TRIGGER IF EXISTS ticket_events_queue_kpi")
    else:
        op.execute("DROP TRIGGER IF EXISTS ticket_events_queue_kpi ON ticket_events")
        op.execute("DROP FUNCTION IF EXISTS kpi_fact_queue_add()")
    op.drop_index('ix_tickets_open_work', table_name='tickets', postgresql_where=OPEN_WORK, sqlite_where=OPEN_WORK)
    op.drop_table('kpi_month_hist')
    op.drop_table('kpi_months')
    op.drop_index('ix_kpi_facts_resolution_bucket', table_name='kpi_facts')
    op.drop_index('ix_kpi_facts_response_bucket', table_name='kpi_facts')
    op.drop_index('ix_kpi_facts_lasting', table_name='kpi_facts', postgresql_where=LASTING, sqlite_where=LASTING)
    op.drop_index('ix_kpi_facts_unit_dispatched', table_name='kpi_facts')
    op.drop_table('kpi_facts')
    op.drop_table('kpi_fact_state')
    op.drop_index(op.f('ix_kpi_fact_queue_ticket_id'), table_name='kpi_fact_queue')
    op.drop_table('kpi_fact_queue')
