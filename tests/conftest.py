"""Shared fixtures: test data from ../shared/data by name, free ports, servers."""

from __future__ import annotations

import csv
import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The archive-core tests predate authentication and exercise the archive as
# an unrestricted caller; tests of identity and tenancy turn it on explicitly
# (Settings(auth=True), `radhub serve --auth`). `radhub serve` itself defaults to on.
os.environ.setdefault("RADHUB_AUTH", "false")


def _find_shared_data() -> Path:
    """../shared/data next to the checkout; RADHUB_SHARED_DATA overrides it.

    A clone made elsewhere (e.g. /tmp/fresh) falls back to /work/shared/data
    when that exists, so the suite runs the same from any checkout.
    """
    env = os.environ.get("RADHUB_SHARED_DATA")
    if env:
        return Path(env).resolve()
    beside = (REPO.parent / "shared" / "data").resolve()
    if beside.exists():
        return beside
    fallback = Path("/work/shared/data")
    return fallback if fallback.exists() else beside


SHARED_DATA = _find_shared_data()
DICOM_DIR = SHARED_DATA / "dicom"


def shared_data(*parts: str) -> Path:
    """Path of a file or folder in ../shared/data; skips the test when absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test data {path} is not available")
    return path


def dicom_manifest() -> list[dict[str, str]]:
    """Rows of ../shared/data/dicom/manifest.csv (empty when the corpus is absent)."""
    manifest = DICOM_DIR / "manifest.csv"
    if not manifest.exists():
        return []
    with manifest.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def data_file():
    """Resolve test data by path relative to ../shared/data."""
    return shared_data


# --------------------------------------------------------------------------
# dcmtk
# --------------------------------------------------------------------------
def dcmtk(tool: str) -> str:
    """Path of a dcmtk tool (Debian's /usr/bin first: pynetdicom's apps shadow some names)."""
    import shutil

    for candidate in (f"/usr/bin/{tool}", shutil.which(tool)):
        if candidate and os.path.exists(candidate):
            if candidate == f"/usr/bin/{tool}" or "pyenv" not in candidate:
                return candidate
    pytest.skip(f"dcmtk tool {tool} is not installed (apt-get install dcmtk)")
    raise AssertionError  # unreachable


# --------------------------------------------------------------------------
# PostgreSQL: a real server on a free port, run as an unprivileged user
# --------------------------------------------------------------------------
import getpass  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for base in ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/local/pgsql/bin"):
        if os.path.exists(os.path.join(base, name)):
            return os.path.join(base, name)
    return None


class PostgresServer:
    """A throw-away PostgreSQL cluster for the test session."""

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="radhub-pg-")
        self.datadir = os.path.join(self.dir, "data")
        self.user = "radhub"
        run_as: list[str] = []
        if os.geteuid() == 0:
            # postgres refuses to run as root: run it as nobody in a private directory
            shutil.chown(self.dir, user="nobody")
            os.chmod(self.dir, 0o700)
            run_as = ["runuser", "-u", "nobody", "--"]
        self._run_as = run_as
        subprocess.run(
            [*run_as, initdb, "-D", self.datadir, "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c max_connections=200"
        subprocess.run(
            [*run_as, pg_ctl, "-D", self.datadir, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w", "start"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self._pg_ctl = pg_ctl

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            [*self._run_as, self._pg_ctl, "-D", self.datadir, "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (skipped only if the binaries are absent)."""
    if os.environ.get("RADHUB_REQUIRE_POSTGRES") != "1" and not _pg_bin("initdb"):
        pytest.skip("PostgreSQL server binaries are not installed")
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Catalog URL on SQLite and on PostgreSQL (catalog tests run on both)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def archive(tmp_path, database_url):
    """An open archive in a temporary data directory, on SQLite and on PostgreSQL."""
    from radhub.archive import Archive
    from radhub.config import Settings

    a = Archive.open(Settings(data_dir=tmp_path / "data", database_url=database_url))
    yield a
    a.close()


@pytest.fixture
def sqlite_archive(tmp_path):
    """An open archive on the embedded default (SQLite + files)."""
    from radhub.archive import Archive
    from radhub.config import Settings

    a = Archive.open(Settings(data_dir=tmp_path / "data"))
    yield a
    a.close()


# --------------------------------------------------------------------------
# A real radhub server in a subprocess
# --------------------------------------------------------------------------
class RadhubProcess:
    """``radhub serve`` running in a subprocess on free ports."""

    def __init__(self, data_dir: Path, *, extra_args: list[str] | None = None, env: dict[str, str] | None = None, ae_title: str = "RADHUB") -> None:
        import sys

        self.data_dir = data_dir
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.ae_title = ae_title
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.dicomweb = self.base_url + "/dicomweb"
        self.args = [
            sys.executable, "-m", "radhub.cli", "serve",
            "--data-dir", str(data_dir),
            "--http-port", str(self.http_port),
            "--dicom-port", str(self.dicom_port),
            "--ae-title", ae_title,
            *(extra_args or []),
        ]
        self.env = {**os.environ, **(env or {})}
        self.log = open(data_dir.parent / f"radhub-{self.http_port}.log", "ab")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self, timeout: float = 60) -> None:
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self.log, stderr=self.log)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"radhub exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"radhub not ready within {timeout}s; see {self.log.name}")

    def kill(self) -> None:
        """SIGKILL (crash tests)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def radhub_server(tmp_path):
    """A running ``radhub serve`` (SQLite) on free ports; stopped after the test."""
    data = tmp_path / "data"
    data.mkdir()
    server = RadhubProcess(data)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_radhub_server(tmp_path_factory):
    """A running ``radhub serve`` shared by the tests of one module."""
    data = tmp_path_factory.mktemp("radhub") / "data"
    data.mkdir()
    server = RadhubProcess(data)
    yield server
    server.stop()
