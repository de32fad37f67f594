"""``radhub serve``, ``radhub demo`` and ``radhub import``."""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from radhub.config import Settings, load_settings

logger = logging.getLogger(__name__)


class InputError(click.ClickException):
    """Bad input from the user: exit code 2."""

    exit_code = 2


def _settings(**kw: Any) -> Settings:
    try:
        return load_settings(**kw)
    except (ValueError, OSError) as exc:
        raise InputError(f"invalid configuration: {exc}") from exc


def _server_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(
        [
            click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="blobs and SQLite catalog (default ./radhub-data or RADHUB_DATA_DIR)"),
            click.option("--http-host", help="HTTP bind address (default 127.0.0.1)"),
            click.option("--http-port", type=click.IntRange(0, 65535), help="HTTP port (default 8080)"),
            click.option("--dicom-port", type=click.IntRange(0, 65535), help="DICOM port (default 11112)"),
            click.option("--ae-title", help="DICOM AE title (default RADHUB)"),
            click.option("--database-url", help="catalog URL, e.g. postgresql+psycopg://user@host/db"),
            click.option("--max-request-bytes", type=click.IntRange(1), help="largest HTTP request body (default 4 GiB)"),
            click.option("--public-url", help="external base URL for RetrieveURL/BulkDataURI (default: from the request)"),
            click.option("--allowed-callers", help="comma-separated calling AE titles to accept (default any)"),
            click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="settings file (JSON, TOML or YAML)"),
            click.option("--auth/--no-auth", default=None, help="authentication and tenancy (default on; RADHUB_AUTH)"),
            click.option("-v", "--verbose", is_flag=True, help="log at INFO level"),
        ]
    ):
        f = opt(f)
    return f


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("radhub").setLevel(logging.INFO)
    # pynetdicom logs C-FIND/C-MOVE/C-GET identifiers (patient names, IDs) at INFO: no PHI in logs
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


def _build(
    data_dir: Path | None,
    http_host: str | None,
    http_port: int | None,
    dicom_port: int | None,
    ae_title: str | None,
    database_url: str | None,
    allowed_callers: str | None,
    config_file: Path | None,
    max_request_bytes: int | None = None,
    public_url: str | None = None,
    auth: bool | None = None,
) -> Settings:
    return _settings(
        auth=auth,
        max_request_bytes=max_request_bytes,
        public_url=public_url,
        config_file=config_file,
        data_dir=data_dir,
        http_host=http_host,
        http_port=http_port,
        dicom_port=dicom_port,
        ae_title=ae_title,
        database_url=database_url,
        allowed_callers=allowed_callers,
    )


@click.command()
@_server_options
def serve(verbose: bool, **kw: Any) -> None:
    """Run the archive: DICOMweb at http://HOST:PORT/dicomweb and a DICOM SCP."""
    from radhub.server import run

    _configure_logging(verbose)
    settings = _build(**kw)
    click.echo(
        f"radhub: http://{settings.http_host}:{settings.http_port}/dicomweb  "
        f"DICOM {settings.ae_title}@{settings.dicom_host}:{settings.dicom_port}  data {settings.data_dir}",
        err=True,
    )
    run(settings)


def default_demo_data() -> Path:
    """RADHUB_DEMO_DATA, else RADHUB_SHARED_DATA/dicom, else ../shared/data/dicom next to the checkout."""
    if "RADHUB_DEMO_DATA" in os.environ:
        return Path(os.environ["RADHUB_DEMO_DATA"])
    if "RADHUB_SHARED_DATA" in os.environ:
        return Path(os.environ["RADHUB_SHARED_DATA"]) / "dicom"
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *here.parents]:
        candidate = parent.parent / "shared" / "data" / "dicom"
        if candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "data" / "dicom"


@click.command()
@_server_options
@click.option("--demo-data", type=click.Path(path_type=Path), help="folder of demo DICOM files (default ../shared/data/dicom)")
def demo(verbose: bool, demo_data: Path | None, **kw: Any) -> None:
    """``serve`` with the demo data loaded first (an empty archive if it is absent)."""
    from radhub.archive import Archive
    from radhub.server import run

    _configure_logging(verbose)
    settings = _build(**kw)
    source = demo_data or default_demo_data()
    archive = Archive.open(settings)
    try:
        from radhub.identity.demo import DEMO_SITE, create_demo_identities, share_demo_studies

        accounts = create_demo_identities(archive)
        if source.is_dir():
            summary = _import_local(archive, [source], quiet=False, org=DEMO_SITE)
        share_demo_studies(archive)
    finally:
        archive.close()
    if source.is_dir():
        click.echo(
            f"demo data from {source}: {summary.stored} stored, {summary.duplicates} already present, "
            f"{summary.conflicts} conflicts, {len(summary.rejected) - summary.conflicts} rejected",
            err=True,
        )
    else:
        click.echo(
            f"demo data not found at {source} (set --demo-data or RADHUB_DEMO_DATA); starting with an empty archive",
            err=True,
        )
    click.echo(
        f"radhub demo: open http://{settings.http_host}:{settings.http_port}/ in a browser; "
        f"DICOMweb http://{settings.http_host}:{settings.http_port}/dicomweb  "
        f"DICOM {settings.ae_title}@{settings.dicom_host}:{settings.dicom_port}",
        err=True,
    )
    if settings.auth:
        click.echo("demo accounts (passwords are new at every start; log in on the page, or POST /api/v1/auth/token):", err=True)
        for a in accounts:
            click.echo(f"  {a['username']:<16} {a['password']:<24} {a['org']:<14} {a['roles']}", err=True)
        click.echo(
            "  DICOM: calling AE titles STORESCU, FINDSCU, MOVESCU, GETSCU, ECHOSCU send as the demo site; "
            "C-MOVE destination STORESCP at 127.0.0.1:11113",
            err=True,
        )
    else:
        click.echo("authentication is off (--no-auth): anyone who reaches the ports sees everything", err=True)
    run(settings)


_IMPORT_BATCH = 64
_IMPORT_BATCH_BYTES = 256 * 1024 * 1024


def _import_local(archive: Any, paths: list[Path], *, quiet: bool, org: str | None = None) -> Any:
    from radhub.ingest import ImportSummary, iter_import_items
    from radhub.identity import NotFound

    try:
        org_pk = archive.directory.org(org).pk if org else None
    except NotFound as exc:
        raise InputError(str(exc)) from exc

    items = list(iter_import_items(paths))
    summary = ImportSummary()
    # in batches: files are parsed in parallel (the parser pool) and each
    # batch costs two filesystem flushes and one catalog transaction
    pending: list[str] = []
    with tqdm(
        total=sum(i.size for i in items), unit="B", unit_scale=True, desc="import", file=sys.stderr, disable=quiet
    ) as bar, archive.ingestor.batch(source="import", org_pk=org_pk) as batch:

        def flush() -> None:
            for path, result in zip(pending, batch.finish()):
                summary.add(path, result)
            pending.clear()

        for item in items:
            with item.open() as fh:
                batch.add(iter(lambda fh=fh: fh.read(1 << 20), b""))
            pending.append(item.path)
            bar.update(item.size)
            if len(pending) >= _IMPORT_BATCH or batch.pending_bytes >= _IMPORT_BATCH_BYTES:
                flush()
        flush()
    return summary


def _import_remote(url: str, paths: list[Path], *, quiet: bool, timeout: float, api_key: str | None = None) -> Any:
    """Send each object with STOW-RS to a running radhub (or any DICOMweb server)."""
    import httpx

    from radhub.ingest import ImportSummary, iter_import_items

    items = list(iter_import_items(paths))
    summary = ImportSummary()
    endpoint = url.rstrip("/") + ("/studies" if url.rstrip("/").endswith("/dicomweb") else "/dicomweb/studies")
    with httpx.Client(timeout=timeout) as client, tqdm(
        total=sum(i.size for i in items), unit="B", unit_scale=True, desc="import", file=sys.stderr, disable=quiet
    ) as bar:
        for item in items:
            with item.open() as fh:
                data = fh.read()
            boundary = uuid.uuid4().hex
            body = (
                f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                + data
                + f"\r\n--{boundary}--\r\n".encode()
            )
            try:
                r = client.post(
                    endpoint,
                    content=body,
                    headers={
                        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                        "Accept": "application/dicom+json",
                        **({"Authorization": f"Bearer {api_key}"} if api_key else {}),
                    },
                )
            except httpx.HTTPError as exc:
                raise click.ClickException(f"cannot reach {endpoint}: {exc}") from exc
            if r.status_code in (401, 403):
                raise InputError(
                    f"{endpoint} answered {r.status_code}: {_detail(r)} (give --api-key or RADHUB_API_KEY)"
                )
            _count_stow(summary, item.path, r)
            bar.update(item.size)
    return summary


def _detail(r: Any) -> str:
    try:
        return str(r.json().get("detail", ""))
    except ValueError:
        return r.text[:200]


def _count_stow(summary: Any, path: str, r: Any) -> None:
    try:
        body = r.json() if r.content else {}
    except ValueError:
        body = {}
    ok = body.get("00081199", {}).get("Value", [])
    failed = body.get("00081198", {}).get("Value", [])
    if r.status_code in (200, 202) and ok and not failed:
        warning = ok[0].get("00081196", {}).get("Value", [None])[0]
        if warning is not None and int(warning) == 0xB007:
            summary.duplicates += 1
        else:
            summary.stored += 1
        return
    reason = ""
    if failed:
        item = failed[0]
        code = item.get("00081197", {}).get("Value", [""])[0]
        # radhub's private reason: (0009,1001) in the block its creator (0009,0010) "RADHUB" reserves
        ours = item.get("00090010", {}).get("Value", [""])[:1] == ["RADHUB"]
        text = item.get("00091001", {}).get("Value", [""]) if ours else []
        reason = f"failure {code}" + (f": {text[0]}" if text and text[0] else "")
    summary.rejected.append({"path": path, "reason": reason or f"HTTP {r.status_code}: {r.text[:200]}"})


@click.command(name="import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", help="import into a running radhub at this URL (STOW-RS)")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="import offline into this data directory")
@click.option("--database-url", help="catalog URL for offline import")
@click.option("--json", "as_json", is_flag=True, help="print one JSON summary object on stdout")
@click.option("--timeout", default=300.0, show_default=True, help="seconds per request with --url")
@click.option("--api-key", envvar="RADHUB_API_KEY", help="API key (or bearer token) for --url with authentication on")
@click.option("--org", help="offline: the organisation (code or name) that owns the imported studies (default: default)")
def import_cmd(
    paths: tuple[Path, ...], url: str | None, data_dir: Path | None, database_url: str | None, as_json: bool,
    timeout: float, api_key: str | None, org: str | None,
) -> None:
    """Import DICOM files, folders and zip archives; print what was stored, present or rejected."""
    from radhub.archive import Archive

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"no such file or folder: {', '.join(missing)}")
    if url and data_dir:
        raise click.UsageError("give either --url (a running server) or --data-dir (offline), not both")
    if url:
        summary = _import_remote(
            url, list(paths), quiet=as_json and not sys.stderr.isatty(), timeout=timeout, api_key=api_key
        )
    else:
        settings = _settings(data_dir=data_dir, database_url=database_url)
        archive = Archive.open(settings)
        try:
            summary = _import_local(archive, list(paths), quiet=False, org=org)
        finally:
            archive.close()
    if as_json:
        click.echo(json.dumps(summary.to_dict()))
    else:
        click.echo(
            f"stored {summary.stored}, already present {summary.duplicates}, "
            f"conflicts {summary.conflicts}, rejected {len(summary.rejected) - summary.conflicts}"
        )
        for r in summary.rejected:
            click.echo(f"  rejected {r['path']}: {r['reason']}")
    if summary.stored + summary.duplicates == 0 and summary.rejected:
        raise click.exceptions.Exit(1)
