"""A tus 1.0 client for radhub's ``/upload``: chunked, checksummed, resumable.

:func:`upload_file` creates an upload (declaring the whole file's checksum
in ``Upload-Metadata``), sends it in chunks each carrying an
``Upload-Checksum``, and after a network error, a server restart or a
checksum mismatch asks the server for its offset (HEAD) and continues from
there. Across calls (the process was stopped, the laptop closed) the upload
URL is remembered in a small JSON file keyed by the endpoint and the file's
SHA-256, so calling :func:`upload_file` again continues instead of starting
over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from radhub.ingest._uploads import (
    CHECKSUM_ALGORITHMS,
    ChunkChecksum,
    UploadState,
    encode_upload_metadata,
)
from radhub.ingest.errors import UploadFailedError

logger = logging.getLogger(__name__)

__all__ = ["UploadFailedError", "UploadReceipt", "upload_file"]

_TUS = {"Tus-Resumable": "1.0.0"}
_OCTETS = "application/offset+octet-stream"
_READ = 1 << 20
_FINAL = {s.value for s in UploadState if s.finished}




@dataclass(frozen=True)
class UploadReceipt:
    """What the server did with an uploaded file.

    Attributes
    ----------
    url
        The upload's URL (``<url>/status`` has the same status JSON).
    state
        ``stored``, ``duplicate``, ``conflict`` or ``rejected``.
    size
        Bytes of the file.
    resumed_from
        Offset the transfer started from in this call (0 for a new upload).
    bytes_sent
        Bytes sent in PATCH bodies during this call (retries included).
    verified
        The server verified the whole-object checksum and, for a single
        stored object, its stored SHA-256 equals the file's.
    status
        The server's status JSON (``results`` per object, ``summary``, ``code``, ``reason``).
    """

    url: str
    state: str
    size: int
    resumed_from: int
    bytes_sent: int
    verified: bool
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The object (or, for a zip, at least one member) is archived."""
        return self.state in (UploadState.STORED.value, UploadState.DUPLICATE.value)

    @property
    def results(self) -> list[dict[str, Any]]:
        """One ingest result per object."""
        return list(self.status.get("results", []))

    @property
    def reason(self) -> str | None:
        """Why the upload was rejected, if it was."""
        return self.status.get("reason")


def _default_state_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "radhub" / "uploads.json"


class _ResumeState:
    """Upload URLs of unfinished uploads, by endpoint + file SHA-256 + size."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            logger.warning("ignoring unreadable upload resume file %s", self.path)
            return {}

    def get(self, key: str) -> str | None:
        entry = self._load().get(key)
        return entry.get("url") if isinstance(entry, dict) else None

    def put(self, key: str, url: str | None) -> None:
        if self.path is None:
            return
        data = self._load()
        if url is None:
            if data.pop(key, None) is None:
                return
        else:
            data[key] = {"url": url, "saved": time.time()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)


def _digests(path: Path, algorithms: set[str]) -> dict[str, str]:
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ):
            for h in hashes.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashes.items()}


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("reason") or body)
    return str(body)[:200]


class _Transfer:
    """One call of :func:`upload_file`: retries, offsets and counters."""

    def __init__(self, client: httpx.Client, max_retries: int, backoff: float) -> None:
        self.client = client
        self.max_retries = max_retries
        self.backoff = backoff
        self.failures = 0
        self.url: str | None = None

    def failed(self, why: str) -> None:
        self.failures += 1
        if self.failures > self.max_retries:
            raise UploadFailedError(
                f"upload failed after {self.max_retries} retries: {why}", self.url
            )
        delay = min(self.backoff * 2 ** (self.failures - 1), 30.0)
        logger.info("upload: %s; retrying in %.2f s", why, delay)
        time.sleep(delay)

    def head(self, url: str) -> tuple[int, str | None] | None:
        """(offset, state) of an upload, or None if it is gone (404/410/403)."""
        while True:
            try:
                r = self.client.head(url, headers=_TUS)
            except httpx.TransportError as exc:
                self.failed(f"HEAD: {type(exc).__name__}")
                continue
            if r.status_code in (404, 410, 403):
                return None
            if r.status_code in (200, 204):
                return int(r.headers["Upload-Offset"]), r.headers.get("Upload-State")
            self.failed(f"HEAD answered {r.status_code}: {_detail(r)}")

    def create(self, endpoint: str, size: int, metadata: Mapping[str, str]) -> str:
        headers = {
            **_TUS,
            "Upload-Length": str(size),
            "Upload-Metadata": encode_upload_metadata(metadata),
        }
        while True:
            try:
                r = self.client.post(endpoint, headers=headers)
            except httpx.TransportError as exc:
                self.failed(f"POST: {type(exc).__name__}")
                continue
            if r.status_code == 201:
                return urljoin(endpoint, r.headers["Location"])
            if r.status_code >= 500 or r.status_code == 423:
                self.failed(f"POST answered {r.status_code}: {_detail(r)}")
                continue
            raise UploadFailedError(
                f"the server refused to create the upload ({r.status_code}): {_detail(r)}"
            )

    def status(self, url: str, timeout: float) -> dict[str, Any]:
        """The upload's status JSON once it is final (polls while ``verifying``)."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                r = self.client.get(url.rstrip("/") + "/status")
            except httpx.TransportError as exc:
                self.failed(f"status: {type(exc).__name__}")
                continue
            if r.status_code == 200:
                body: dict[str, Any] = r.json()
                if body.get("state") in _FINAL:
                    return body
            elif r.status_code in (404, 410):
                raise UploadFailedError(
                    f"the upload's status is gone ({r.status_code}): {_detail(r)}", url
                )
            elif r.status_code < 500:
                raise UploadFailedError(f"status answered {r.status_code}: {_detail(r)}", url)
            if time.monotonic() > deadline:
                raise UploadFailedError(f"the upload was not finished within {timeout} s", url)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def upload_file(
    url: str,
    path: str | os.PathLike[str],
    *,
    chunk_size: int = 8 << 20,
    checksum: str = "sha256",
    on_progress: Callable[[int, int], None] | None = None,
    resume: bool = True,
    metadata: Mapping[str, str] | None = None,
    state_file: str | os.PathLike[str] | None = None,
    max_retries: int = 5,
    retry_backoff: float = 0.5,
    timeout: float = 300.0,
    client: httpx.Client | None = None,
) -> UploadReceipt:
    """Upload a DICOM file (or a zip of them) to radhub with tus, resuming where the server is.

    Parameters
    ----------
    url
        The upload endpoint, e.g. ``"http://localhost:8042/upload"``.
    path
        The file; a ``.zip`` is sent as ``filetype=application/zip`` and each
        member is ingested.
    chunk_size
        Bytes per PATCH (each verified by the server with ``Upload-Checksum``).
    checksum
        ``"sha256"``, ``"sha1"`` or ``"md5"``: for each chunk and for the
        whole file (metadata key ``checksum`` = ``"<algorithm> <hex>"``).
    on_progress
        Called with ``(offset, size)`` after each chunk the server confirmed.
        An exception raised by it stops the transfer (the upload stays
        resumable).
    resume
        Look up / remember the upload URL in ``state_file`` so that a later
        call for the same file and endpoint continues it.
    metadata
        Extra ``Upload-Metadata`` (``filename``, ``filetype`` and ``checksum``
        are filled in).
    state_file
        Where upload URLs are remembered (default
        ``$XDG_CACHE_HOME/radhub/uploads.json``).
    max_retries, retry_backoff
        Consecutive failures tolerated and the first back-off delay (doubling).
    timeout
        Seconds to wait for one response (the last one includes the ingest).
    client
        An ``httpx.Client`` to use (auth headers, proxies); one is created otherwise.

    Returns
    -------
    UploadReceipt
        The server's verdict; a rejected object is a receipt with
        ``state="rejected"`` and a ``reason``, not an exception.

    Raises
    ------
    UploadFailedError
        The transfer could not be completed (after retries) or the upload expired.
    FileNotFoundError
        ``path`` does not exist.

    Examples
    --------
    >>> receipt = upload_file("http://localhost:8042/upload", "ct.dcm", chunk_size=4 << 20)  # doctest: +SKIP
    >>> receipt.state, receipt.results[0]["sop_instance_uid"]                                 # doctest: +SKIP
    ('stored', '1.2.826.0.1...')
    """
    if checksum not in CHECKSUM_ALGORITHMS:
        raise ValueError(
            f"checksum must be one of {', '.join(CHECKSUM_ALGORITHMS)}, got {checksum!r}"
        )
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of bytes, got {chunk_size}")
    file = Path(path)
    size = file.stat().st_size
    digests = _digests(file, {checksum, "sha256"})
    meta = {
        "filename": file.name,
        "filetype": "application/zip" if file.suffix.lower() == ".zip" else "application/dicom",
        **(metadata or {}),
        "checksum": f"{checksum} {digests[checksum]}",
    }
    state = _ResumeState(
        Path(state_file) if state_file else _default_state_file() if resume else None
    )
    key = f"{url.rstrip('/')} {digests['sha256']} {size}"
    owned = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0))
    transfer = _Transfer(http, max_retries, retry_backoff)
    try:
        offset, upload_state = 0, None
        upload_url = state.get(key) if resume else None
        if upload_url is not None:
            found = transfer.head(upload_url)
            if found is None:
                logger.info("upload: the remembered upload is gone; starting a new one")
                state.put(key, None)
                upload_url = None
            else:
                offset, upload_state = found
        if upload_url is None:
            upload_url = transfer.create(url, size, meta)
            if resume:
                state.put(key, upload_url)
        transfer.url = upload_url
        resumed_from, sent = offset, 0
        if on_progress is not None:
            on_progress(offset, size)
        with open(file, "rb") as fh:
            while upload_state not in _FINAL and not (
                offset >= size and upload_state == "verifying"
            ):
                fh.seek(offset)
                chunk = fh.read(min(chunk_size, size - offset))
                headers = {
                    **_TUS,
                    "Content-Type": _OCTETS,
                    "Upload-Offset": str(offset),
                    "Upload-Checksum": ChunkChecksum(
                        checksum, hashlib.new(checksum, chunk).digest()
                    ).header(),
                }
                sent += len(chunk)
                try:
                    r = http.patch(upload_url, content=chunk, headers=headers)
                except httpx.TransportError as exc:
                    transfer.failed(f"PATCH at {offset}: {type(exc).__name__}")
                    found = transfer.head(upload_url)
                    if found is None:
                        state.put(key, None)
                        raise UploadFailedError(
                            "the upload expired or was removed; start again", upload_url
                        ) from exc
                    offset, upload_state = found
                    continue
                if r.status_code in (204, 422):
                    transfer.failures = 0
                    offset = int(r.headers.get("Upload-Offset", offset + len(chunk)))
                    upload_state = r.headers.get("Upload-State")
                    if on_progress is not None:
                        on_progress(offset, size)
                    continue
                if r.status_code in (404, 410):
                    state.put(key, None)
                    raise UploadFailedError(
                        f"the upload is gone ({r.status_code}): {_detail(r)}", upload_url
                    )
                if (
                    r.status_code == 460
                    or r.status_code in (400, 408, 409, 423)
                    or r.status_code >= 500
                ):
                    transfer.failed(f"PATCH at {offset} answered {r.status_code}: {_detail(r)}")
                    found = transfer.head(upload_url)
                    if found is None:
                        state.put(key, None)
                        raise UploadFailedError(
                            "the upload expired or was removed; start again", upload_url
                        )
                    offset, upload_state = found
                    continue
                raise UploadFailedError(
                    f"PATCH at {offset} answered {r.status_code}: {_detail(r)}", upload_url
                )
        status = transfer.status(upload_url, timeout)
        state.put(key, None)
    finally:
        if owned:
            http.close()
    final = status["state"]
    verified = not (
        final == UploadState.REJECTED.value and status.get("code") == "checksum_mismatch"
    )
    results = status.get("results") or []
    single = status.get("kind") == "object" and final in ("stored", "duplicate") and results
    if single and results[0].get("sha256") != digests["sha256"]:
        raise UploadFailedError(
            "the archive's SHA-256 of the stored object differs from the file's; "
            "report this: the upload is not bit-exact",
            upload_url,
        )
    return UploadReceipt(
        url=upload_url,
        state=final,
        size=size,
        resumed_from=resumed_from,
        bytes_sent=sent,
        verified=verified,
        status=status,
    )
