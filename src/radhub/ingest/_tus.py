"""tus 1.0 wire formats: ``Upload-Checksum`` and ``Upload-Metadata`` headers.

The checksum extension (one digest per PATCH body) and the whole-object
checksum radhub reads from the ``checksum`` metadata key; values are
parsed strictly and every malformed header raises
:class:`~radhub.ingest.errors.UploadRequestError` (HTTP 400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from radhub.ingest.errors import UploadRequestError

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "ChunkChecksum",
    "ObjectChecksum",
    "decode_upload_metadata",
    "encode_upload_metadata",
]

CHECKSUM_ALGORITHMS: tuple[str, ...] = ("md5", "sha1", "sha256")
"""Algorithms accepted in ``Upload-Checksum`` and in the ``checksum`` metadata key."""


def _new_hash(algorithm: str) -> Any:
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise UploadRequestError(
            f"unsupported checksum algorithm {algorithm!r}; use one of {', '.join(CHECKSUM_ALGORITHMS)}"
        )
    return hashlib.new(algorithm)


@dataclass(frozen=True)
class ChunkChecksum:
    """The checksum of one PATCH body (tus ``Upload-Checksum: <algorithm> <base64 digest>``)."""

    algorithm: str
    digest: bytes

    @classmethod
    def parse(cls, header: str) -> ChunkChecksum:
        """Parse an ``Upload-Checksum`` header value.

        Raises
        ------
        UploadRequestError
            Unsupported algorithm or a digest that is not base64 of the right length.
        """
        parts = header.strip().split(" ")
        if len(parts) != 2:
            raise UploadRequestError(
                f"Upload-Checksum must be '<algorithm> <base64 digest>', got {header[:80]!r}"
            )
        algorithm = parts[0].lower()
        size = _new_hash(algorithm).digest_size
        try:
            digest = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UploadRequestError(f"Upload-Checksum digest is not valid base64: {exc}") from exc
        if len(digest) != size:
            raise UploadRequestError(
                f"Upload-Checksum {algorithm} digest must be {size} bytes, got {len(digest)}"
            )
        return cls(algorithm, digest)

    def header(self) -> str:
        """The header value."""
        return f"{self.algorithm} {base64.b64encode(self.digest).decode('ascii')}"


@dataclass(frozen=True)
class ObjectChecksum:
    """The whole object's checksum, declared in the ``checksum`` metadata key as ``<algorithm> <hex>``."""

    algorithm: str
    hexdigest: str

    @classmethod
    def parse(cls, value: str) -> ObjectChecksum:
        """Parse ``"sha256 <hex>"`` (also ``md5``/``sha1``).

        Raises
        ------
        UploadRequestError
            Unsupported algorithm or a value that is not hex of the right length.
        """
        parts = value.strip().split()
        if len(parts) != 2:
            raise UploadRequestError(
                "metadata 'checksum' must be '<algorithm> <hex digest>', e.g. 'sha256 9f86d0...'"
            )
        algorithm, hexdigest = parts[0].lower(), parts[1].lower()
        size = _new_hash(algorithm).digest_size
        if not re.fullmatch(r"[0-9a-f]+", hexdigest) or len(hexdigest) != 2 * size:
            raise UploadRequestError(
                f"metadata 'checksum' {algorithm} digest must be {2 * size} hex digits, got {len(hexdigest)} characters"
            )
        return cls(algorithm, hexdigest)

    def __str__(self) -> str:
        return f"{self.algorithm} {self.hexdigest}"


def decode_upload_metadata(header: str | None) -> dict[str, str]:
    """Decode a tus ``Upload-Metadata`` header: ``key base64value,key2 base64value2``.

    Values are decoded from base64 and must be UTF-8; a key without a value
    maps to ``""``.

    Raises
    ------
    UploadRequestError
        Duplicate or malformed keys, invalid base64 or non-UTF-8 values.

    Examples
    --------
    >>> decode_upload_metadata("filename Y3QuZGNt,flag")
    {'filename': 'ct.dcm', 'flag': ''}
    """
    result: dict[str, str] = {}
    if not header or not header.strip():
        return result
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2 or not key.isascii() or not key.isprintable():
            raise UploadRequestError(
                f"Upload-Metadata pairs must be '<key> <base64 value>' separated by commas, got {pair.strip()[:60]!r}"
            )
        if key in result:
            raise UploadRequestError(f"Upload-Metadata key {key!r} appears twice")
        value = ""
        if len(parts) == 2:
            try:
                value = base64.b64decode(parts[1], validate=True).decode("utf-8")
            except (binascii.Error, ValueError) as exc:
                raise UploadRequestError(
                    f"Upload-Metadata value of {key!r} must be base64 of UTF-8 text: {exc}"
                ) from exc
        result[key] = value
    return result


def encode_upload_metadata(metadata: Mapping[str, str]) -> str:
    """Encode metadata as a tus ``Upload-Metadata`` header value (inverse of :func:`decode_upload_metadata`)."""
    pairs = []
    for key, value in metadata.items():
        if not key or any(c in key for c in " ,") or not key.isascii():
            raise UploadRequestError(f"metadata key {key!r} must be ASCII without spaces or commas")
        pairs.append(
            f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}" if value else key
        )
    return ",".join(pairs)
