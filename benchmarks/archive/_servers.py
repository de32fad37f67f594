"""The servers under test: radhub (SQLite or PostgreSQL) and Orthanc (SQLite or PostgreSQL).

Every server runs on 127.0.0.1 ports chosen here, in a directory of its own
under the benchmark's work directory, and is stopped (by its process id) when
the workload is done. PostgreSQL runs as an unprivileged user (``nobody``
when the tool runs as root), the same way the test suite runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

ORTHANC_BIN = "/usr/sbin/Orthanc"
ORTHANC_PLUGINS = Path("/usr/share/orthanc/plugins")
ORTHANC_DICOMWEB = ORTHANC_PLUGINS / "libOrthancDicomWeb.so"
ORTHANC_PG_INDEX = ORTHANC_PLUGINS / "libOrthancPostgreSQLIndex.so"

SITES = 10
"""Requesting sites of the authenticated mode (the catalog's studies are spread over them)."""
TARGETS = ("radhub-sqlite", "radhub-postgresql", "orthanc-sqlite", "orthanc-postgresql")


class ServerError(RuntimeError):
    """A server under test could not be started or answered wrongly."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def orthanc_available() -> bool:
    """Whether Orthanc and its DICOMweb plugin are installed (Debian packages)."""
    return os.path.exists(ORTHANC_BIN) and ORTHANC_DICOMWEB.exists()


def orthanc_postgresql_available() -> bool:
    """Whether the Orthanc PostgreSQL index plugin is installed."""
    return orthanc_available() and ORTHANC_PG_INDEX.exists()


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for base in ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/local/pgsql/bin"):
        if os.path.exists(os.path.join(base, name)):
            return os.path.join(base, name)
    return None


def postgresql_available() -> bool:
    """Whether the PostgreSQL server binaries are installed."""
    return _pg_bin("initdb") is not None and _pg_bin("pg_ctl") is not None


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------
class PostgresCluster:
    """A PostgreSQL cluster for one benchmark run, durable settings (fsync on).

    Configuration (documented in the README): ``shared_buffers=512MB``,
    ``max_connections=200``, everything else PostgreSQL's default, including
    ``fsync=on`` and ``synchronous_commit=on``.
    """

    user = "radhub"

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise ServerError("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
        self.port = free_port()
        # in the system temp directory: the unprivileged server user must reach it
        self.dir = tempfile.mkdtemp(prefix="radhub-bench-pg-", dir=os.environ.get("RADHUB_BENCH_PGDIR"))
        self.datadir = os.path.join(self.dir, "data")
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run it as nobody in a private directory
            shutil.chown(self.dir, user="nobody")
            os.chmod(self.dir, 0o700)
        self._pg_ctl = pg_ctl
        subprocess.run(
            [*self._run_as_cmd(), initdb, "-D", self.datadir, "-U", self.user, "-A", "trust", "-E", "UTF8"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        opts = (
            f"-h 127.0.0.1 -p {self.port} -k {self.dir} "
            "-c max_connections=200 -c shared_buffers=512MB"
        )
        subprocess.run(
            [*self._run_as_cmd(), pg_ctl, "-D", self.datadir, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w", "start"],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def _run_as_cmd(self) -> list[str]:
        return ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []

    def url(self, database: str) -> str:
        """SQLAlchemy URL of one database."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "b") -> str:
        """Create an empty database; returns its name."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database (its server must have been stopped)."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pid(self) -> int | None:
        """Process id of the postmaster."""
        try:
            return int(Path(self.datadir, "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Stop the cluster and delete its files."""
        subprocess.run(
            [*self._run_as_cmd(), self._pg_ctl, "-D", self.datadir, "-m", "fast", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Servers under test
# ---------------------------------------------------------------------------
class Server(Protocol):
    """What a workload needs from a server under test."""

    name: str
    dicomweb: str
    dicom_port: int
    ae_title: str
    proc: subprocess.Popen[bytes] | None
    headers: dict[str, str]
    """HTTP headers every request sends (radhub's API key in authenticated mode)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def instance_count(self) -> int: ...


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerError(f"{proc.args[0]} exited with {proc.returncode} during start-up; log tail:\n{tail}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise ServerError(f"{url} did not answer 200 within {timeout:.0f}s; see {log}")


def _terminate(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class RadhubServer:
    """``radhub serve`` in a subprocess (HTTP + DIMSE in one server)."""

    name: str
    workdir: Path
    database_url: str | None = None
    extra_env: dict[str, str] | None = None
    ae_title: str = "RADHUB"
    auth: bool = False
    """Authentication and tenancy on: SITES sites, the benchmark's AE title and key belong to the first."""

    def __post_init__(self) -> None:
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.dicomweb = self.base_url + "/dicomweb"
        self.log = self.workdir / "radhub.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.headers: dict[str, str] = {}
        self.platform_headers: dict[str, str] = {}
        self.site_org_pks: list[int] = []

    @property
    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'catalog.sqlite').resolve()}"

    def provision(self) -> None:
        """Authenticated mode: SITES requesting sites and a platform, API keys, the AE title BENCH (first site)."""
        if self.headers or not self.auth:
            return
        from radhub.catalog import Catalog
        from radhub.identity import Directory

        catalog = Catalog(self.catalog_url)
        try:
            d = Directory(catalog)
            d.create_org("Platform", kind="platform", code="platform")
            pks = []
            for i in range(1, SITES + 1):
                pks.append(d.create_org(f"Site {i:02d}", kind="requesting", code=f"site-{i:02d}").pk)
            d.add_ae("site-01", "BENCH")
            self.site_org_pks = pks
            self.headers = {"Authorization": "Bearer " + d.create_api_key("site-01", "benchmark gateway")[1]}
            self.platform_headers = {
                "Authorization": "Bearer " + d.create_api_key("platform", "benchmark platform", roles="platform_admin")[1]
            }
        finally:
            catalog.close()

    def start(self, timeout: float = 300) -> None:
        self.provision()
        args = [
            sys.executable, "-m", "radhub.cli", "serve",
            "--data-dir", str(self.data_dir),
            "--http-port", str(self.http_port),
            "--dicom-port", str(self.dicom_port),
            "--ae-title", self.ae_title,
        ]
        if self.database_url:
            args += ["--database-url", self.database_url]
        args.append("--auth" if self.auth else "--no-auth")
        env = {**os.environ, **(self.extra_env or {})}
        src = env.get("RADHUB_BENCH_SRC")
        if src:  # benchmark the radhub of another checkout (its src/ directory)
            env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        _wait_http(self.base_url + "/healthz", self.proc, self.log, timeout)

    def stop(self) -> None:
        _terminate(self.proc)

    def instance_count(self) -> int:
        r = httpx.get(self.base_url + "/api/archive/totals", timeout=60, headers=self.platform_headers or self.headers)
        r.raise_for_status()
        return int(r.json()["instances"])


@dataclass
class OrthancServer:
    """Orthanc 1.10 (Debian package) with the DICOMweb plugin, optionally the PostgreSQL index plugin.

    The generated configuration keeps Orthanc's defaults except: ports, the
    storage/index directories, ``UnknownSopClassAccepted: true`` (radhub
    accepts every storage SOP class too), ``HttpCompressionEnabled: false``
    (radhub does not compress responses; the clients send
    ``Accept-Encoding: identity`` anyway) and the plugins list.
    """

    name: str
    workdir: Path
    pg: PostgresCluster | None = None
    pg_database: str | None = None
    ae_title: str = "ORTHANC"

    def __post_init__(self) -> None:
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.dicomweb = self.base_url + "/dicom-web"
        self.headers: dict[str, str] = {}
        self.log = self.workdir / "orthanc.log"
        self.config_path = self.workdir / "orthanc.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config(), indent=2))

    def config(self) -> dict[str, Any]:
        """The JSON configuration Orthanc is started with."""
        plugins = [str(ORTHANC_DICOMWEB)]
        cfg: dict[str, Any] = {
            "Name": self.name,
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "index"),
            "TemporaryDirectory": str(self.workdir / "tmp"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.ae_title,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpCompressionEnabled": False,
            "UnknownSopClassAccepted": True,
            "DicomAlwaysAllowStore": True,
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "Host": "127.0.0.1"},
            "Plugins": plugins,
        }
        if self.pg is not None:
            if self.pg_database is None:
                raise ServerError("orthanc-postgresql needs a database name")
            plugins.append(str(ORTHANC_PG_INDEX))
            cfg["PostgreSQL"] = {
                "EnableIndex": True,
                "EnableStorage": False,
                "Host": "127.0.0.1",
                "Port": self.pg.port,
                "Database": self.pg_database,
                "Username": self.pg.user,
                "Password": "",
                "Lock": False,
                "EnableSsl": False,
            }
        return cfg

    def start(self, timeout: float = 300) -> None:
        (self.workdir / "tmp").mkdir(exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([ORTHANC_BIN, str(self.config_path)], stdout=log, stderr=log, cwd=self.workdir)
        _wait_http(self.base_url + "/system", self.proc, self.log, timeout)

    def stop(self) -> None:
        _terminate(self.proc)

    def instance_count(self) -> int:
        r = httpx.get(self.base_url + "/statistics", timeout=60)
        r.raise_for_status()
        return int(r.json()["CountInstances"])


class Targets:
    """Creates fresh servers of the requested kinds; owns the shared PostgreSQL cluster."""

    def __init__(self, workdir: Path, names: list[str], *, auth: bool = False) -> None:
        self.workdir = workdir
        self.names = names
        self.auth = auth
        self._pg: PostgresCluster | None = None

    @property
    def pg(self) -> PostgresCluster:
        if self._pg is None:
            self._pg = PostgresCluster()
        return self._pg

    def new(self, name: str, tag: str, *, database: str | None = None) -> Server:
        """A fresh (not yet started) server; ``database`` reuses an existing PostgreSQL database or SQLite dir."""
        wd = self.workdir / f"{name}-{tag}"
        wd.mkdir(parents=True, exist_ok=True)
        auth = self.auth or name.endswith("+auth")  # "+auth": the authenticated twin (--auth both)
        kind = name.removesuffix("+auth")
        if kind == "radhub-sqlite":
            return RadhubServer(name, wd, auth=auth)
        if kind == "radhub-postgresql":
            db = database or self.pg.create_database("radhub")
            return RadhubServer(name, wd, database_url=self.pg.url(db), auth=auth)
        if name == "orthanc-sqlite":
            return OrthancServer(name, wd)
        if name == "orthanc-postgresql":
            db = database or self.pg.create_database("orthanc")
            return OrthancServer(name, wd, pg=self.pg, pg_database=db)
        raise ValueError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")

    def close(self) -> None:
        if self._pg is not None:
            self._pg.stop()
            self._pg = None


def available_targets(requested: list[str] | None) -> tuple[list[str], list[str]]:
    """The targets that can run here and, separately, why the others cannot."""
    wanted = list(requested or TARGETS)
    ok: list[str] = []
    skipped: list[str] = []
    for t in wanted:
        if t not in TARGETS:
            raise ValueError(f"unknown target {t!r}; choose from {', '.join(TARGETS)}")
        if t.endswith("postgresql") and not postgresql_available():
            skipped.append(f"{t}: PostgreSQL is not installed (apt-get install postgresql)")
        elif t == "orthanc-sqlite" and not orthanc_available():
            skipped.append(f"{t}: Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)")
        elif t == "orthanc-postgresql" and not orthanc_postgresql_available():
            skipped.append(f"{t}: Orthanc's PostgreSQL plugin is not installed (apt-get install orthanc-postgresql)")
        else:
            ok.append(t)
    return ok, skipped
