"""radhub settings: one typed object, read from a file and the environment.

Environment variables are prefixed ``RADHUB_`` (``RADHUB_DATA_DIR``,
``RADHUB_HTTP_PORT`` ...). A TOML/YAML/JSON file may be given with
``RADHUB_CONFIG``; explicit keyword arguments win over both.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ConflictPolicy", "DicomPeer", "Settings", "load_settings"]


class ConflictPolicy(str, Enum):
    """What to do when a known SOP Instance UID arrives with different bytes.

    ``keep_first`` (default) keeps the stored object and reports a conflict;
    ``reject`` does the same but reports a failure to the sender;
    ``keep_both`` stores the new bytes as a new version, the first stays the
    one served (nothing is ever silently overwritten).
    """

    KEEP_FIRST = "keep_first"
    REJECT = "reject"
    KEEP_BOTH = "keep_both"


class DicomPeer(BaseModel):
    """A DICOM application entity radhub may send to (C-MOVE destination)."""

    ae_title: str
    host: str
    port: int


class Settings(BaseSettings):
    """All of radhub's configuration."""

    model_config = SettingsConfigDict(env_prefix="RADHUB_", extra="ignore")

    data_dir: Path = Field(default=Path("radhub-data"), description="blobs, SQLite catalog, temp")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/catalog.sqlite"
    )
    public_url: str | None = Field(
        default=None,
        description="external base URL used in RetrieveURL/BulkDataURI (e.g. https://pacs.example.org); "
        "default: taken from each request",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    dicom_host: str = "127.0.0.1"
    dicom_port: int = 11112
    ae_title: str = "RADHUB"
    allowed_callers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="calling AE titles accepted; empty accepts any"
    )
    dicom_peers: list[DicomPeer] = Field(
        default_factory=list, description="C-MOVE destinations"
    )
    conflict_policy: ConflictPolicy = ConflictPolicy.KEEP_FIRST
    max_object_bytes: int = Field(default=2 * 1024**3, description="largest single DICOM object")
    max_request_bytes: int = Field(default=4 * 1024**3, description="largest HTTP request body")
    upload_expiry_hours: int = 72
    ingest_workers: int | None = Field(
        default=None,
        ge=0,
        description="processes that parse received objects in parallel; 0 parses in the receiving "
        "thread; default: one per CPU core (none on a single core)",
    )
    demo_data: Path | None = None
    auth: bool = Field(
        default=True,
        description="authentication and tenancy: every HTTP route and DIMSE association checks who is asking",
    )
    auth_secret: str | None = Field(
        default=None, description="token signing secret; default: <data_dir>/auth-secret, created on first use"
    )
    access_token_minutes: int = Field(default=15, ge=1, le=1440)
    refresh_token_hours: int = Field(default=12, ge=1, le=24 * 90)
    login_attempts: int = Field(default=5, ge=1, description="failed logins before throttling")
    login_window_seconds: int = Field(default=900, ge=1)
    secure_cookies: bool = Field(default=False, description="mark the session cookie Secure (behind HTTPS)")
    oidc_issuer: str | None = Field(default=None, description="accept access tokens of this OIDC issuer")
    oidc_jwks: str | None = Field(default=None, description="the issuer's JWKS: a URL or a file path")
    oidc_audience: str | None = None
    oidc_username_claim: str = "preferred_username"
    audit_syslog: str | None = Field(
        default=None, description="HOST:PORT (TCP) or tls://HOST:PORT of an ATNA audit record repository (RFC 5424 syslog) to send audit records to"
    )

    @field_validator("ae_title")
    @classmethod
    def _check_ae(cls, value: str) -> str:
        value = value.strip()
        if not 0 < len(value) <= 16 or "\\" in value:
            raise ValueError(f"ae_title must be 1-16 characters without backslash, got {value!r}")
        return value

    @field_validator("allowed_callers", mode="before")
    @classmethod
    def _split_callers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @property
    def effective_database_url(self) -> str:
        """The catalog URL: the configured one or SQLite inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'catalog.sqlite').resolve()}"

    def peer(self, ae_title: str) -> DicomPeer | None:
        """The configured peer with this AE title, if any."""
        for p in self.dicom_peers:
            if p.ae_title == ae_title.strip():
                return p
        return None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from an optional JSON/TOML/YAML file, the environment and overrides.

    ``None`` overrides are ignored so that CLI options left unset do not mask
    the environment.
    """
    file_values: dict[str, Any] = {}
    path = config_file or (Path(os.environ["RADHUB_CONFIG"]) if "RADHUB_CONFIG" in os.environ else None)
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
        suffix = Path(path).suffix.lower()
        if suffix == ".toml":
            import tomllib

            file_values = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            file_values = yaml.safe_load(text) or {}
        else:
            file_values = json.loads(text)
    env_settings = Settings()
    merged = {k: v for k, v in file_values.items()}
    # environment wins over file: take explicitly set env fields
    for name in Settings.model_fields:
        if f"RADHUB_{name.upper()}" in os.environ:
            merged[name] = getattr(env_settings, name)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**merged)
