"""``radhub audit``: search, verify and export the audit trail of a data directory."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from radhub.cli._archive import InputError, _settings

__all__ = ["audit"]


@contextmanager
def _log(data_dir: Path | None, database_url: str | None) -> Iterator[Any]:
    from radhub.audit import AuditLog
    from radhub.catalog import Catalog

    settings = _settings(data_dir=data_dir, database_url=database_url)
    catalog = Catalog(settings.effective_database_url)
    try:
        yield AuditLog(catalog.engine)
    finally:
        catalog.close()


def _db(f: Any) -> Any:
    f = click.option("--database-url", help="catalog URL (default: SQLite in the data directory)")(f)
    return click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="data directory (default ./radhub-data or RADHUB_DATA_DIR)")(f)


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"not an ISO date or time: {value!r}") from exc


@click.group()
def audit() -> None:
    """The audit trail: who read or changed what, when, from where."""


@audit.command("list")
@_db
@click.option("--user")
@click.option("--org", help="organisation code")
@click.option("--action", help="an action, or a prefix ending in '.' (login., user.)")
@click.option("--outcome", type=click.Choice(["success", "failure", "denied", "foreign"]))
@click.option("--study", "study_uid", help="Study Instance UID")
@click.option("--since", help="ISO date/time (UTC)")
@click.option("--until", help="ISO date/time (UTC)")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON record per line")
def list_(data_dir: Path | None, database_url: str | None, as_json: bool, since: str | None, until: str | None, **filters: Any) -> None:
    """Records newest first."""
    with _log(data_dir, database_url) as log:
        found = log.query(since=_when(since), until=_when(until), **filters)
    for r in found:
        if as_json:
            click.echo(json.dumps(r, sort_keys=True))
        else:
            ids = ",".join(r["object_ids"][:3])
            click.echo(f"{r['pk']:>8} {r['at'][:19]} {r['outcome']:<8} {r['action']:<22} {r['user'] or '-'}@{r['org'] or '-'} {r['source'] or '-'} {r['object_type']} {ids}")


@audit.command()
@_db
def verify(data_dir: Path | None, database_url: str | None) -> None:
    """Recompute the hash chain; exit 1 if a record was edited or deleted."""
    with _log(data_dir, database_url) as log:
        result = log.verify()
    for p in result.problems:
        click.echo(p, err=True)
    click.echo(f"{'ok' if result.ok else 'TAMPERED'}: {result.checked} records checked; head {result.head_pk} {result.head_hash}")
    if not result.ok:
        sys.exit(1)


@audit.command()
@_db
@click.option("--format", "fmt", type=click.Choice(["xml", "syslog", "jsonl"]), default="xml", show_default=True, help="DICOM PS3.15 A.5 AuditMessage per line, RFC 5424 syslog lines, or JSON lines")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--org", help="only this organisation's records")
@click.option("--since", help="ISO date/time (UTC)")
@click.option("--until", help="ISO date/time (UTC)")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def export(data_dir: Path | None, database_url: str | None, fmt: str, output: Path, org: str | None, since: str | None, until: str | None, quiet: bool) -> None:
    """Write the trail (oldest first) as ATNA audit messages, syslog or JSON lines."""
    from radhub.audit import export_file

    filters = {"org": org, "since": _when(since), "until": _when(until)}
    with _log(data_dir, database_url) as log:

        def rows() -> Iterator[dict[str, Any]]:
            with tqdm(total=log.count(**filters), unit="rec", desc="export", file=sys.stderr, disable=quiet) as bar:
                for r in log.records(**filters):
                    bar.update(1)
                    yield r

        try:
            n = export_file(rows(), output, fmt=fmt)
        except OSError as exc:
            raise InputError(f"cannot write {output}: {exc}") from exc
    click.echo(f"{n} records written to {output}")
