"""person name pattern indexes (PostgreSQL)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 21:00:00.000000

A person-name wildcard such as ``PatientName=SMITH*`` is matched with
``LIKE 'SMITH%'`` on the upper-cased name key. PostgreSQL answers a
prefix ``LIKE`` from a btree index only when the index compares bytes:
an index in the database's collation (unless that is ``C``) is never
used for it, and every such search read the whole patients table.
These indexes use ``text_pattern_ops`` so the prefix becomes an index
range; they also serve equality. SQLite is left as it is: the query
engine adds the same prefix as a range condition there, which its
plain index on the name key answers.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_patients_patient_name_key_pattern", "patients", "patient_name_key"),
    ("ix_studies_referring_physician_key_pattern", "studies", "referring_physician_key"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column], postgresql_ops={column: "text_pattern_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, _column in _INDEXES:
        op.drop_index(name, table_name=table)
