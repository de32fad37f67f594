"""The identity tables (created by catalog migration 0003), as SQLAlchemy Core tables."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, MetaData, String, Table

metadata = MetaData()

organisations = Table(
    "organisations",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("parent_pk", Integer, ForeignKey("organisations.pk"), nullable=True),
    Column("created_at", DateTime, nullable=False),
)
org_ae_titles = Table(
    "org_ae_titles",
    metadata,
    Column("ae_title", String(16), primary_key=True),
    Column("org_pk", Integer, ForeignKey("organisations.pk"), nullable=False),
)
org_destinations = Table(
    "org_destinations",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("org_pk", Integer, ForeignKey("organisations.pk"), nullable=False),
    Column("ae_title", String(16), nullable=False),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
)
users = Table(
    "users",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("org_pk", Integer, ForeignKey("organisations.pk"), nullable=False),
    Column("username", String(128), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False, default=""),
    Column("roles", String(255), nullable=False, default=""),
    Column("title", String(32), nullable=False, default=""),
    Column("licences", String(64), nullable=False, default=""),
    Column("keywords", String(128), nullable=False, default=""),
    Column("oidc_subject", String(255), nullable=True, unique=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
)
api_keys = Table(
    "api_keys",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("org_pk", Integer, ForeignKey("organisations.pk"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("key_id", String(32), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("roles", String(255), nullable=False, default=""),
    Column("created_by", String(128), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("user_pk", Integer, ForeignKey("users.pk"), nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("used", Boolean, nullable=False, default=False),
)
