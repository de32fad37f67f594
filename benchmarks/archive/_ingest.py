"""Ingest workload: a corpus sent through STOW-RS or C-STORE by 1 or N parallel clients.

STOW-RS clients are threads of this process streaming files from disk in
``multipart/related`` requests of at most 50 instances / 32 MB (one study's
files per request group; Content-Length is sent, no chunked encoding). C-STORE
clients are dcmtk ``dcmsend`` processes (C, so the client costs little CPU),
each sending its files as they are (``--decompress-never``) over one
association (more only if the files need over 128 presentation contexts). Each client gets about the same number of bytes
(studies are dealt largest first).

Throughput counts the objects an archive has *processed*: acknowledged
(success or warning), or refused because an instance with the same SOP
Instance UID and other bytes is already stored (STOW-RS failure 0x0111,
"Duplicate SOP Instance": radhub's conflict policy; Orthanc acknowledges
such objects and keeps the first). Either way the archive has received,
parsed and decided on the object, which is what C-STORE counts too
(radhub answers such a C-STORE with warning 0xB000). Conflicts are
reported in a column of their own; every other refusal is a failure.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.archive._corpus import Corpus, CorpusFile, CorpusStudy
from benchmarks.archive._measure import MemorySampler
from benchmarks.archive._servers import Server

STOW_MAX_INSTANCES = 50
STOW_MAX_BYTES = 32 * 1024 * 1024
_CHUNK = 1 << 20


def dcmsend() -> str:
    """Path of dcmtk's dcmsend (Debian's /usr/bin: pynetdicom installs shadowing dcmtk names)."""
    if os.path.exists("/usr/bin/dcmsend"):
        return "/usr/bin/dcmsend"
    raise FileNotFoundError("dcmtk's dcmsend is not installed: apt-get install dcmtk")


@dataclass
class _Progress:
    done: int = 0
    ok: int = 0
    conflicts: int = 0
    failed: int = 0
    bytes: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, done: int, ok: int, failed: int, nbytes: int, conflicts: int = 0) -> None:
        with self.lock:
            self.done += done
            self.ok += ok
            self.conflicts += conflicts
            self.failed += failed
            self.bytes += nbytes

    def error(self, message: str) -> None:
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(message[:500])


def _batches(studies: list[CorpusStudy]) -> Iterator[list[CorpusFile]]:
    for st in studies:
        batch: list[CorpusFile] = []
        size = 0
        for f in st.files:
            if batch and (len(batch) >= STOW_MAX_INSTANCES or size + f.size > STOW_MAX_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(f)
            size += f.size
        if batch:
            yield batch


def _multipart(files: list[CorpusFile], boundary: str) -> tuple[int, Iterator[bytes]]:
    head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    tail = f"--{boundary}--\r\n".encode()
    length = sum(len(head) + f.size + 2 for f in files) + len(tail)

    def body() -> Iterator[bytes]:
        for f in files:
            yield head
            with open(f.path, "rb") as fh:
                while True:
                    b = fh.read(_CHUNK)
                    if not b:
                        break
                    yield b
            yield b"\r\n"
        yield tail

    return length, body()


DUPLICATE_SOP_INSTANCE = 0x0111


def _count_stow(response: httpx.Response) -> tuple[int, int, int]:
    """(stored, conflicts, failed) from a Store Instances Response; (0, 0, -1) when there is none.

    Any status with a response module counts: Orthanc answers 400 when one
    part of a request fails, listing the parts it stored. A conflict is a
    failed SOP with FailureReason 0x0111 (Duplicate SOP Instance).
    """
    try:
        body = response.json()
    except ValueError:
        return 0, 0, -1
    if not isinstance(body, dict) or not ({"00081199", "00081198"} & set(body)):
        return 0, 0, -1
    ok = len(body.get("00081199", {}).get("Value", []))
    failures = body.get("00081198", {}).get("Value", [])
    conflicts = sum(1 for f in failures if f.get("00081197", {}).get("Value") == [DUPLICATE_SOP_INSTANCE])
    return ok, conflicts, len(failures) - conflicts


def _stow_client(url: str, studies: list[CorpusStudy], progress: _Progress, auth: dict[str, str]) -> None:
    with httpx.Client(timeout=600, headers={"Accept-Encoding": "identity", **auth}) as client:
        for batch in _batches(studies):
            boundary = uuid.uuid4().hex
            length, body = _multipart(batch, boundary)
            headers = {
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                "Accept": "application/dicom+json",
                "Content-Length": str(length),
            }
            try:
                r = client.post(url + "/studies", content=body, headers=headers)
            except httpx.HTTPError as exc:
                progress.error(f"STOW-RS request failed: {type(exc).__name__}: {exc}")
                progress.add(len(batch), 0, len(batch), 0)
                continue
            ok, conflicts, failed = _count_stow(r)
            if failed < 0:
                progress.error(f"STOW-RS answered {r.status_code}: {r.text[:300]}")
                conflicts, failed = 0, len(batch)
            progress.add(len(batch), ok, failed, sum(f.size for f in batch), conflicts)


def _cstore_client(server: Server, studies: list[CorpusStudy], progress: _Progress) -> None:
    files = [f for st in studies for f in st.files]
    cmd = [
        dcmsend(), "-v", "--decompress-never", "--no-halt", "--multi-associations",
        "-aet", "BENCH", "-aec", server.ae_title, "127.0.0.1", str(server.dicom_port), *[f.path for f in files],
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    if proc.stdout is None:  # pragma: no cover - PIPE always gives a stream
        raise RuntimeError("dcmsend has no output stream")
    sizes = iter(files)
    bad: list[str] = []
    for line in proc.stdout:
        if "Received C-STORE Response" in line:
            f = next(sizes, None)
            ok = "(Success)" in line or "(Warning" in line
            progress.add(1, 1 if ok else 0, 0 if ok else 1, f.size if f else 0)
            if not ok:
                bad.append(line.strip())
        elif line.startswith("E:") or line.startswith("F:"):
            bad.append(line.strip())
    rc = proc.wait()
    if rc != 0 or bad:
        progress.error(f"dcmsend exit {rc}: {'; '.join(bad[:3])}")


def run_ingest(server: Server, corpus: Corpus, *, protocol: str, clients: int) -> dict[str, Any]:
    """Send ``corpus`` to a started ``server``; returns throughput and memory figures."""
    parts = [p for p in corpus.partition(clients) if p]
    total = len(corpus.files)
    progress = _Progress()
    if protocol == "stow":
        targets = [threading.Thread(target=_stow_client, args=(server.dicomweb, p, progress, server.headers)) for p in parts]
    elif protocol == "cstore":
        targets = [threading.Thread(target=_cstore_client, args=(server, p, progress)) for p in parts]
    else:
        raise ValueError(f"protocol must be stow or cstore, got {protocol!r}")
    assert server.proc is not None
    with MemorySampler(server.proc.pid, lambda: progress.done) as mem:
        t0 = time.perf_counter()
        for t in targets:
            t.start()
        for t in targets:
            t.join()
        seconds = time.perf_counter() - t0
    stored = server.instance_count()
    result: dict[str, Any] = {
        "protocol": protocol,
        "clients": clients,
        "corpus": corpus.name,
        "instances_sent": total,
        "instances_ok": progress.ok,
        "instances_conflict": progress.conflicts,
        "instances_failed": progress.failed,
        "instances_in_server": stored,
        "bytes": progress.bytes,
        "seconds": round(seconds, 3),
        # processed: acknowledged, or refused as a conflict under the archive's policy
        "instances_per_s": round((progress.ok + progress.conflicts) / seconds, 2) if seconds else 0.0,
        "mb_per_s": round(progress.bytes / 1e6 / seconds, 2) if seconds else 0.0,
        **mem.summary(total),
    }
    if progress.errors:
        result["errors"] = progress.errors
    return result
