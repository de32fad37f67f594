"""The audit trail: batched appends, the hash chain and its verification, queries, ATNA export, syslog."""

from __future__ import annotations

import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from radhub.audit import AuditEvent, AuditLog, SyslogSender, export_file, syslog_message, to_atna_xml
from radhub.catalog import Catalog


@pytest.fixture
def catalog(database_url: str) -> Iterator[Catalog]:
    c = Catalog(database_url)
    yield c
    c.close()


def _events(n: int, **kw: Any) -> list[AuditEvent]:
    return [
        AuditEvent("study.read", user=f"user{i % 3}", org="site-a" if i % 2 else "site-b", source="10.0.0.1",
                   object_type="http", study_uids=(f"1.2.3.{i}",), detail={"status": 200}, **kw)
        for i in range(n)
    ]


def test_records_are_written_in_batches_and_the_chain_verifies(catalog: Catalog) -> None:
    log = AuditLog(catalog.engine, flush_interval=0.05)
    for e in _events(250):
        log.record(e)
    log.flush()
    assert log.count() == 250
    result = log.verify()
    assert result.ok and result.checked == 250 and result.head_pk == 250, result.problems
    newest = log.query(limit=1)[0]
    assert newest["pk"] == 250 and newest["study_uids"] == ["1.2.3.249"] and newest["at"].endswith("Z")
    assert result.head_hash == newest["hash"]
    log.close()


def test_two_writers_on_one_database_keep_one_chain(catalog: Catalog, database_url: str) -> None:
    """Two processes' writers (two engines here) append to the same chain without a fork."""
    other = Catalog(database_url, migrate=False)
    logs = [AuditLog(catalog.engine, flush_interval=0.01), AuditLog(other.engine, flush_interval=0.01)]

    def write(log: AuditLog) -> None:
        for e in _events(200):
            log.record(e)
        log.flush()

    threads = [threading.Thread(target=write, args=(lg,)) for lg in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = logs[0].verify()
    assert result.ok and result.checked == 400, result.problems
    for lg in logs:
        lg.close()
    other.close()


@pytest.mark.parametrize("tamper", ["edit", "delete_middle", "delete_last", "relink"])
def test_verify_finds_an_edited_or_deleted_record(catalog: Catalog, tamper: str) -> None:
    log = AuditLog(catalog.engine)
    for e in _events(20):
        log.record(e)
    log.flush()
    assert log.verify().ok
    with catalog.engine.begin() as conn:
        if tamper == "edit":
            conn.execute(text("UPDATE audit_events SET user_name = 'someone-else' WHERE pk = 7"))
        elif tamper == "delete_middle":
            conn.execute(text("DELETE FROM audit_events WHERE pk = 7"))
        elif tamper == "delete_last":
            conn.execute(text("DELETE FROM audit_events WHERE pk = 20"))
        else:  # an edit whose hash is recomputed: the next record's link breaks
            from radhub.audit import chain_hash

            row = dict(conn.execute(text("SELECT * FROM audit_events WHERE pk = 7")).mappings().one())
            row["user_name"] = "someone-else"
            new = chain_hash(row["prev_hash"], 7, row)
            conn.execute(text("UPDATE audit_events SET user_name = 'someone-else', hash = :h WHERE pk = 7"), {"h": new})
    result = log.verify()
    assert not result.ok
    where = {"edit": "record 7", "delete_middle": "7..7", "delete_last": "head is record 20", "relink": "record 8"}[tamper]
    assert any(where in p for p in result.problems), result.problems
    log.close()


def test_query_filters(catalog: Catalog) -> None:
    log = AuditLog(catalog.engine)
    for e in _events(10):
        log.record(e)
    log.record(AuditEvent("login.failed", "failure", user="user1", org="site-a", object_type="user", object_ids=("user1",)))
    log.flush()
    assert len(log.query(org="site-a")) == 6
    assert [r["action"] for r in log.query(action="login.")] == ["login.failed"]
    assert len(log.query(outcome="failure")) == 1
    assert [r["study_uids"] for r in log.query(study_uid="1.2.3.4")] == [["1.2.3.4"]]
    assert len(log.query(user="user0", limit=2)) == 2
    assert [r["pk"] for r in log.query(limit=3, offset=1)] == [10, 9, 8]
    log.close()


def test_an_event_refuses_an_unknown_outcome() -> None:
    with pytest.raises(ValueError, match="outcome"):
        AuditEvent("x", "maybe")


def _record(**kw: Any) -> dict[str, Any]:
    base = {"pk": 5, "at": "2026-12-07T10:00:00.000000Z", "user": "reader_a", "org": "site-a", "action": "study.read",
            "outcome": "success", "source": "10.1.2.3", "object_type": "http", "object_ids": ["1.2.3", "1.2.3.4"],
            "study_uids": ["1.2.3"], "detail": {"status": 200, "path": "/dicomweb/studies/{uid}", "free": "SECRET^NAME"},
            "hash": "h", "prev_hash": "p"}
    return base | kw


def test_atna_message_follows_ps3_15_a5() -> None:
    root = ET.fromstring(to_atna_xml(_record()))
    assert root.tag == "AuditMessage"
    ev = root.find("EventIdentification")
    assert ev is not None and ev.get("EventActionCode") == "R" and ev.get("EventOutcomeIndicator") == "0"
    eid = ev.find("EventID")
    assert eid is not None and eid.get("csd-code") == "110103" and eid.get("codeSystemName") == "DCM"
    ap = root.find("ActiveParticipant")
    assert ap is not None and ap.get("UserID") == "reader_a" and ap.get("UserIsRequestor") == "true"
    assert ap.get("NetworkAccessPointID") == "10.1.2.3" and ap.get("NetworkAccessPointTypeCode") == "2"
    src = root.find("AuditSourceIdentification")
    assert src is not None and src.get("AuditSourceID") == "radhub"
    studies = [p for p in root.findall("ParticipantObjectIdentification") if p.get("ParticipantObjectTypeCodeRole") == "3"]
    assert [p.get("ParticipantObjectID") for p in studies] == ["1.2.3"]
    code = studies[0].find("ParticipantObjectIDTypeCode")
    assert code is not None and code.get("csd-code") == "110180"
    # detail keys outside the allow-list never leave radhub
    assert "SECRET" not in to_atna_xml(_record())
    codes = {a: ET.fromstring(to_atna_xml(_record(action=a))).find("EventIdentification/EventID").get("csd-code")  # type: ignore[union-attr]
             for a in ("instance.store", "query", "login", "login.failed", "access.denied", "user.create", "audit.read", "study.share", "other")}
    assert codes == {"instance.store": "110104", "query": "110112", "login": "110114", "login.failed": "110114",
                     "access.denied": "110113", "user.create": "110113", "audit.read": "110101", "study.share": "110106",
                     "other": "110100"}
    denied = ET.fromstring(to_atna_xml(_record(outcome="denied"))).find("EventIdentification")
    assert denied is not None and denied.get("EventOutcomeIndicator") == "8"


def test_syslog_sender_frames_rfc5424_messages_over_tcp() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received: list[bytes] = []

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.append(chunk)

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    sender = SyslogSender.from_url(f"127.0.0.1:{port}")
    sender([_record(pk=1), _record(pk=2, outcome="denied")])
    sender.close()
    t.join(5)
    server.close()
    data = b"".join(received)
    messages = []
    while data:  # RFC 6587 octet counting: "LEN SP MSG"
        length, _, rest = data.partition(b" ")
        messages.append(rest[: int(length)].decode())
        data = rest[int(length):]
    assert len(messages) == 2
    assert messages[0].startswith("<85>1 2026-12-07T10:00:00.000000Z ") and " radhub - IHE+RFC-3881 - \ufeff<AuditMessage>" in messages[0]
    assert messages[1].startswith("<84>1 ")
    ET.fromstring(messages[0].split("\ufeff", 1)[1])
    assert syslog_message(_record(), hostname="h1").split(" ")[2] == "h1"


def test_a_bad_syslog_target_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        SyslogSender.from_url("nowhere")


def test_export_file_formats(tmp_path: Path) -> None:
    recs = [_record(pk=i) for i in range(1, 4)]
    for fmt in ("xml", "syslog", "jsonl"):
        out = tmp_path / f"audit.{fmt}"
        assert export_file(recs, out, fmt=fmt) == 3
        assert len(out.read_text().splitlines()) == 3
    with pytest.raises(ValueError):
        export_file(recs, tmp_path / "x", fmt="pdf")


def test_cli_list_verify_export(tmp_path: Path) -> None:
    from radhub.cli import cli

    data = tmp_path / "data"
    cat = Catalog(f"sqlite:///{data / 'catalog.sqlite'}") if data.mkdir() is None else None
    assert cat is not None
    log = AuditLog(cat.engine)
    for e in _events(5):
        log.record(e)
    log.close()
    runner = CliRunner()
    r = runner.invoke(cli, ["audit", "list", "--data-dir", str(data), "--org", "site-a"])
    assert r.exit_code == 0 and len(r.output.splitlines()) == 2, r.output
    r = runner.invoke(cli, ["audit", "verify", "--data-dir", str(data)])
    assert r.exit_code == 0 and r.output.startswith("ok: 5 records"), r.output
    out = tmp_path / "atna.xml"
    r = runner.invoke(cli, ["audit", "export", "--data-dir", str(data), "-q", "--format", "xml", "-o", str(out)])
    assert r.exit_code == 0 and len(out.read_text().splitlines()) == 5, r.output
    r = runner.invoke(cli, ["audit", "list", "--data-dir", str(data), "--since", "yesterday"])
    assert r.exit_code == 2 and "ISO" in r.output
    with cat.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE pk = 3"))
    r = runner.invoke(cli, ["audit", "verify", "--data-dir", str(data)])
    assert r.exit_code == 1 and "TAMPERED" in r.output
    cat.close()


def test_syslog_sender_over_tls(tmp_path: Path) -> None:
    """RFC 5425: the same frames over TLS, to a server whose certificate the test makes."""
    import datetime as dt
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem, key_pem = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_pem, key_pem)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received: list[bytes] = []

    def accept() -> None:
        conn, _ = server.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            while chunk := tls.recv(65536):
                received.append(chunk)

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    client_ctx = ssl.create_default_context(cafile=str(cert_pem))
    sender = SyslogSender("localhost", port, tls=True, context=client_ctx)
    sender([_record(pk=9)])
    sender.close()
    t.join(5)
    server.close()
    data = b"".join(received)
    length, _, rest = data.partition(b" ")
    assert int(length) == len(rest) and b"IHE+RFC-3881" in rest and b"<AuditMessage>" in rest
    # the tls:// form of the setting chooses TLS
    assert SyslogSender.from_url("tls://127.0.0.1:1").tls
