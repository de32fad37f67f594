"""``radhub org``, ``radhub user``, ``radhub apikey``, ``radhub share``: administration offline, on the data directory.

The CLI acts as the platform (it has the database): every change is
audited as made by ``cli:<login name>``.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from radhub.cli._archive import InputError, _settings

__all__ = ["apikey", "org", "share", "user"]


def _db_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(
        [
            click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="data directory (default ./radhub-data or RADHUB_DATA_DIR)"),
            click.option("--database-url", help="catalog URL (default: SQLite in the data directory)"),
            click.option("--json", "as_json", is_flag=True, help="print JSON on stdout"),
        ]
    ):
        f = opt(f)
    return f


@contextmanager
def _admin(data_dir: Path | None, database_url: str | None) -> Iterator[Any]:
    from radhub.audit import AuditEvent, AuditLog
    from radhub.catalog import Catalog
    from radhub.identity import SYSTEM, Administration, Directory, IdentityError

    settings = _settings(data_dir=data_dir, database_url=database_url)
    catalog = Catalog(settings.effective_database_url)
    audit = AuditLog(catalog.engine)
    actor = f"cli:{_login()}"

    def record(action: str, **fields: Any) -> None:
        audit.record(AuditEvent(action, fields.pop("outcome", "success"), user=actor, source="cli", **fields))

    try:
        yield Administration(Directory(catalog), SYSTEM, record)
    except IdentityError as exc:
        raise InputError(str(exc)) from exc
    finally:
        audit.close()
        catalog.close()


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _out(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data) if as_json else text)


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        value = password_file.read_text(encoding="utf-8").rstrip("\r\n")
    elif sys.stdin.isatty():
        value = click.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise InputError("no password given (stdin or --password-file)")
    return value


# -- org ---------------------------------------------------------------------
@click.group()
def org() -> None:
    """Organisations: requesting sites, reading centres, the platform."""


@org.command("create")
@click.option("--kind", type=click.Choice(["requesting", "reading", "platform"]), required=True)
@click.option("--name", required=True)
@click.option("--code", help="short code (default: from the name)")
@click.option("--parent", help="parent organisation (code or name): county, city, province")
@click.option("--ae", "ae_titles", multiple=True, help="calling AE title of the site's modalities (repeatable)")
@_db_options
def org_create(kind: str, name: str, code: str | None, parent: str | None, ae_titles: tuple[str, ...], data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Create an organisation."""
    with _admin(data_dir, database_url) as a:
        o = a.create_org(name, kind=kind, code=code, parent=parent, ae_titles=ae_titles)
    _out(as_json, o.to_dict(), f"created {o.kind} organisation {o.name} (code {o.code}, id {o.pk})")


@org.command("list")
@_db_options
def org_list(data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """List organisations with their AE titles."""
    with _admin(data_dir, database_url) as a:
        orgs = a.orgs()
        aes = a.directory.ae_titles()
    rows = [{**o.to_dict(), "ae_titles": sorted(t for t, pk in aes.items() if pk == o.pk)} for o in orgs]
    text = "\n".join(f"{r['id']:>4}  {r['code']:<20} {r['kind']:<11} {r['name']}  {' '.join(r['ae_titles'])}" for r in rows)
    _out(as_json, rows, text or "no organisations")


@org.command("add-ae")
@click.argument("organisation")
@click.argument("ae_title")
@_db_options
def org_add_ae(organisation: str, ae_title: str, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Map a calling AE title to an organisation."""
    with _admin(data_dir, database_url) as a:
        a.add_ae(organisation, ae_title)
    _out(as_json, {"org": organisation, "ae_title": ae_title}, f"AE title {ae_title} now sends as {organisation}")


@org.command("add-destination")
@click.argument("organisation")
@click.argument("ae_title")
@click.argument("host")
@click.argument("port", type=click.IntRange(1, 65535))
@_db_options
def org_add_destination(organisation: str, ae_title: str, host: str, port: int, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Register a C-MOVE destination of an organisation."""
    with _admin(data_dir, database_url) as a:
        a.add_destination(organisation, ae_title, host, port)
    _out(as_json, {"org": organisation, "ae_title": ae_title, "host": host, "port": port}, f"C-MOVE destination {ae_title} at {host}:{port} for {organisation}")


# -- user --------------------------------------------------------------------
@click.group()
def user() -> None:
    """Users: roles, title, licences and subspecialty keywords."""


@user.command("create")
@click.option("--org", "organisation", required=True, help="organisation (code or name)")
@click.option("--username", required=True)
@click.option("--role", "roles", required=True, help="role(s), comma-separated: technologist, reader, reviewer, expert, site_admin, platform_admin")
@click.option("--title", default="", help="resident, attending, associate_chief or chief")
@click.option("--licence", "licences", default="", help="comma-separated, e.g. CT,MR")
@click.option("--keywords", default="", help="up to three in order, e.g. chest,neuro")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="read the password from this file (default: stdin)")
@click.option("--oidc-subject", help="the user's subject at the OIDC issuer")
@click.option("--no-password", is_flag=True, help="no local password (OIDC only)")
@_db_options
def user_create(organisation: str, username: str, roles: str, title: str, licences: str, keywords: str, password_file: Path | None, oidc_subject: str | None, no_password: bool, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Create a user (the password comes from stdin or --password-file)."""
    password = None if no_password else _read_password(password_file)
    with _admin(data_dir, database_url) as a:
        u = a.create_user(organisation, username, password, roles=roles, title=title, licences=licences, keywords=keywords, oidc_subject=oidc_subject)
    _out(as_json, u.to_dict(), f"created user {u.username} ({', '.join(u.roles)}) in {organisation}")


@user.command("disable")
@click.argument("username")
@_db_options
def user_disable(username: str, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Disable a user: their tokens and sessions stop working at once."""
    with _admin(data_dir, database_url) as a:
        u = a.set_disabled(username, True)
    _out(as_json, u.to_dict(), f"disabled {username}")


@user.command("enable")
@click.argument("username")
@_db_options
def user_enable(username: str, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Enable a disabled user."""
    with _admin(data_dir, database_url) as a:
        u = a.set_disabled(username, False)
    _out(as_json, u.to_dict(), f"enabled {username}")


@user.command("passwd")
@click.argument("username")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_db_options
def user_passwd(username: str, password_file: Path | None, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Set a user's password (stdin or --password-file)."""
    password = _read_password(password_file)
    with _admin(data_dir, database_url) as a:
        a.set_password(username, password)
    _out(as_json, {"username": username}, f"password of {username} changed")


@user.command("list")
@click.option("--org", "organisation")
@_db_options
def user_list(organisation: str | None, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """List users."""
    with _admin(data_dir, database_url) as a:
        users = a.users(organisation)
    text = "\n".join(
        f"{u.username:<20} org {u.org_pk:<4} {','.join(u.roles):<20} {u.title:<16} {','.join(u.licences):<8} {','.join(u.keywords)}{'  DISABLED' if u.disabled else ''}"
        for u in users
    )
    _out(as_json, [u.to_dict() for u in users], text or "no users")


# -- apikey ------------------------------------------------------------------
@click.group()
def apikey() -> None:
    """API keys for machines (modality gateways, AI services, metrics scrapers)."""


@apikey.command("create")
@click.option("--org", "organisation", required=True)
@click.option("--name", required=True)
@click.option("--role", "roles", default="gateway", show_default=True, help="gateway, monitor, or a user role")
@click.option("--days", type=click.IntRange(1, 3650), help="expires after this many days (default never)")
@_db_options
def apikey_create(organisation: str, name: str, roles: str, days: int | None, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Create an API key; the key is printed once (only its hash is stored)."""
    with _admin(data_dir, database_url) as a:
        key, secret = a.create_api_key(organisation, name, roles=roles, days=days)
    _out(as_json, {**key.to_dict(), "key": secret}, secret)


@apikey.command("revoke")
@click.argument("key_id")
@_db_options
def apikey_revoke(key_id: str, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Revoke an API key (by its key id)."""
    with _admin(data_dir, database_url) as a:
        a.revoke_api_key(key_id)
    _out(as_json, {"key_id": key_id, "revoked": True}, f"revoked {key_id}")


# -- share -------------------------------------------------------------------
@click.command()
@click.argument("study_uid")
@click.option("--with", "to_org", required=True, help="the organisation that may see the study")
@click.option("--days", type=click.FloatRange(0, 3650, min_open=True), default=30, show_default=True)
@click.option("--reason", default="")
@_db_options
def share(study_uid: str, to_org: str, days: float, reason: str, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Share a study with another organisation until the share expires."""
    with _admin(data_dir, database_url) as a:
        out = a.share(study_uid, to_org, days=days, reason=reason)
    _out(as_json, out, f"study shared with {out['org']} until {out['expires_at']} (share {out['id']})")
