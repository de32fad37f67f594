"""Fixtures for identity and tenancy: archives with authentication on, two sites, a reading centre."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.uid import generate_uid

from tests.conftest import shared_data

PASSWORD = "correct horse battery"


def make_instance(**attrs: Any) -> bytes:
    """Part 10 bytes of pydicom's CT_small.dcm with new UIDs (or those given)."""
    ds = pydicom.dcmread(shared_data("dicom", "pydicom", "CT_small.dcm"))
    ds.StudyInstanceUID = attrs.pop("StudyInstanceUID", None) or generate_uid()
    ds.SeriesInstanceUID = attrs.pop("SeriesInstanceUID", None) or generate_uid()
    sop = attrs.pop("SOPInstanceUID", None) or generate_uid()
    ds.SOPInstanceUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    for key, v in attrs.items():
        setattr(ds, key, v)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def uids_of(data: bytes) -> tuple[str, str, str]:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def stow(client: TestClient, data: bytes, headers: dict[str, str]) -> Any:
    boundary = "b" + generate_uid().replace(".", "")[:20]
    body = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post(
        "/dicomweb/studies",
        content=body,
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
            **headers,
        },
    )


@dataclass
class World:
    """An archive with authentication on: sites A and B, reading centre R, the platform, a user per role."""

    archive: Any
    client: TestClient
    tokens: dict[str, str]
    keys: dict[str, str]
    studies: dict[str, tuple[str, str, str]]
    """site code -> (study, series, sop) stored by that site."""

    def auth(self, who: str) -> dict[str, str]:
        if who == "anonymous":
            return {}
        if who in self.keys:
            return {"Authorization": f"Bearer {self.keys[who]}"}
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def token(self, username: str, password: str = PASSWORD) -> str:
        r = self.client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


USERS = {
    # username: (org, role)
    "tech_a": ("site-a", "technologist"),
    "reader_a": ("site-a", "reader"),
    "admin_a": ("site-a", "site_admin"),
    "tech_b": ("site-b", "technologist"),
    "admin_b": ("site-b", "site_admin"),
    "reader_r": ("reading", "reader"),
    "reviewer_r": ("reading", "reviewer"),
    "expert_r": ("reading", "expert"),
    "platform": ("platform", "platform_admin"),
}


def build_world(tmp_path: Path, database_url: str | None = None, **settings: Any) -> World:
    from radhub.api import create_app
    from radhub.archive import Archive
    from radhub.config import Settings

    archive = Archive.open(
        Settings(data_dir=tmp_path / "data", database_url=database_url, auth=True, ingest_workers=0, **settings)
    )
    d = archive.directory
    d.create_org("Platform", kind="platform", code="platform")
    d.create_org("Site A", kind="requesting", code="site-a")
    d.create_org("Site B", kind="requesting", code="site-b")
    d.create_org("Reading Centre", kind="reading", code="reading")
    for username, (org, role) in USERS.items():
        d.create_user(org, username, PASSWORD, roles=role)
    keys = {
        "gateway_a": d.create_api_key("site-a", "gateway A")[1],
        "gateway_b": d.create_api_key("site-b", "gateway B")[1],
        "monitor": d.create_api_key("platform", "prometheus", roles="monitor")[1],
    }
    client = TestClient(create_app(archive))
    world = World(archive, client, {}, keys, {})
    for username in USERS:
        world.tokens[username] = world.token(username)
    for site, key in (("site-a", "gateway_a"), ("site-b", "gateway_b")):
        data = make_instance(PatientName=f"TENANT^{site.upper()}", PatientID=f"PID-{site}")
        r = stow(client, data, world.auth(key))
        assert r.status_code == 200, r.text
        world.studies[site] = uids_of(data)
    return world


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    """The world on SQLite + files and on PostgreSQL (``database_url`` is parametrised)."""
    w = build_world(tmp_path, database_url)
    yield w
    w.client.close()
    w.archive.close()
