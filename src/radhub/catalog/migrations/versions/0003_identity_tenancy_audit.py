"""identity, tenancy and audit

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 10:00:00.000000

Organisations, their AE titles and C-MOVE destinations, users, API keys,
study shares, refresh tokens, and the audit trail. Every patient and study
gets an owning organisation (``org_pk``); an existing archive's rows are
given to the organisation ``default`` created here, so nothing is lost.
A patient is now identified per organisation (``org_pk, patient_id,
issuer``): two sites that both use patient ID 12345 get two patients.
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parent_pk", sa.Integer(), sa.ForeignKey("organisations.pk"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "org_ae_titles",
        sa.Column("ae_title", sa.String(16), primary_key=True),
        sa.Column("org_pk", sa.Integer(), sa.ForeignKey("organisations.pk"), nullable=False, index=True),
    )
    op.create_table(
        "org_destinations",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("org_pk", sa.Integer(), sa.ForeignKey("organisations.pk"), nullable=False, index=True),
        sa.Column("ae_title", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.UniqueConstraint("org_pk", "ae_title", name="uq_destination_org_ae"),
    )
    op.create_table(
        "users",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("org_pk", sa.Integer(), sa.ForeignKey("organisations.pk"), nullable=False, index=True),
        sa.Column("username", sa.String(128), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False, server_default=""),
        sa.Column("roles", sa.String(255), nullable=False, server_default=""),
        sa.Column("title", sa.String(32), nullable=False, server_default=""),
        sa.Column("licences", sa.String(64), nullable=False, server_default=""),
        sa.Column("keywords", sa.String(128), nullable=False, server_default=""),
        sa.Column("oidc_subject", sa.String(255), nullable=True, unique=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("org_pk", sa.Integer(), sa.ForeignKey("organisations.pk"), nullable=False, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "shares",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("study_pk", sa.Integer(), sa.ForeignKey("studies.pk"), nullable=False, index=True),
        sa.Column("org_pk", sa.Integer(), sa.ForeignKey("organisations.pk"), nullable=False, index=True),
        sa.Column("granted_by", sa.String(128), nullable=False, server_default=""),
        sa.Column("reason", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("user_pk", sa.Integer(), sa.ForeignKey("users.pk"), nullable=False, index=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "audit_events",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_name", sa.String(128), nullable=False, server_default=""),
        sa.Column("org_code", sa.String(64), nullable=False, server_default=""),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("source", sa.String(128), nullable=False, server_default=""),
        sa.Column("object_type", sa.String(32), nullable=False, server_default=""),
        sa.Column("object_ids", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("study_uids", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("detail", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_org_code", "audit_events", ["org_code"])
    op.create_table(
        "audit_head",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_pk", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )

    orgs = sa.table(
        "organisations",
        sa.column("pk", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("code", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("created_at", sa.DateTime()),
    )
    op.bulk_insert(
        orgs, [{"pk": 1, "name": "default", "code": "default", "kind": "requesting", "created_at": datetime.utcnow()}]
    )
    if op.get_bind().dialect.name == "postgresql":  # the explicit pk 1 did not advance the serial
        op.execute("SELECT setval(pg_get_serial_sequence('organisations', 'pk'), (SELECT MAX(pk) FROM organisations))")

    # every existing patient and study belongs to the default organisation
    with op.batch_alter_table("patients") as b:
        b.add_column(sa.Column("org_pk", sa.Integer(), nullable=False, server_default="1"))
        b.drop_constraint("uq_patient_id_issuer", type_="unique")
        b.create_unique_constraint("uq_patient_org_id_issuer", ["patient_id", "issuer", "org_pk"])
    with op.batch_alter_table("studies") as b:
        b.add_column(sa.Column("org_pk", sa.Integer(), nullable=False, server_default="1"))
        b.create_index("ix_studies_org_pk", ["org_pk", "pk"])
