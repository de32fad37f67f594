"""An archive made before tenancy is migrated with every study given to the default organisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.identity.conftest import make_instance


def test_existing_archive_is_migrated_losing_nothing(tmp_path: Path, database_url: str) -> None:
    from radhub.api import create_app
    from radhub.archive import Archive
    from radhub.catalog._migrate import upgrade
    from radhub.config import Settings
    from radhub.ingest._pipeline import build_record  # noqa: F401 - the record shape ingest writes

    # an archive at revision 0002 (before tenancy), with two studies written by plain SQL as 0002's schema had them
    engine = create_engine(database_url)
    upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patients (pk, patient_id, issuer, patient_name, patient_name_key, birth_date, sex) VALUES (1, 'P1', '', 'OLD^ONE', 'OLD^ONE', '', ''), (2, 'P2', '', 'OLD^TWO', 'OLD^TWO', '', '')"))
        for pk, uid, patient in ((1, "1.2.3.1", 1), (2, "1.2.3.2", 2)):
            conn.execute(
                text(
                    "INSERT INTO studies (pk, study_uid, patient_pk, study_date, study_time, accession_number, study_id, study_description, "
                    "referring_physician, referring_physician_key, institution_name, modalities, num_series, num_instances, size_bytes, created_at, updated_at) "
                    "VALUES (:pk, :uid, :p, '', '', '', '', '', '', '', '', 'CT', 0, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"pk": pk, "uid": uid, "p": patient},
            )
    engine.dispose()

    archive = Archive.open(Settings(data_dir=tmp_path / "data", database_url=database_url, auth=True, ingest_workers=0))
    try:
        default = archive.directory.org("default")
        assert default.pk == 1
        with archive.catalog.engine.connect() as conn:
            owners = dict(conn.execute(text("SELECT study_uid, org_pk FROM studies")).all())
        assert owners == {"1.2.3.1": 1, "1.2.3.2": 1}
        # a user of the default organisation sees them, another organisation's does not
        archive.directory.create_org("Other", kind="requesting", code="other")
        archive.directory.create_user("default", "old_reader", "a long password", roles="reader")
        archive.directory.create_user("other", "new_reader", "a long password", roles="reader")
        from fastapi.testclient import TestClient

        c = TestClient(create_app(archive))

        def studies(user: str) -> Any:
            tok = c.post("/api/v1/auth/token", data={"username": user, "password": "a long password"}).json()["access_token"]
            return c.get("/dicomweb/studies", headers={"Authorization": f"Bearer {tok}"})

        found = studies("old_reader").json()
        assert sorted(s["0020000D"]["Value"][0] for s in found) == ["1.2.3.1", "1.2.3.2"]
        assert studies("new_reader").status_code in (200, 204) and not studies("new_reader").content.strip(b"[]")
        # new objects still ingest after the migration
        assert archive.ingestor.ingest_bytes(make_instance(), source="test").ok
    finally:
        archive.close()
