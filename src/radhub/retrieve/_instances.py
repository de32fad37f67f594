"""Locate stored instances and open their bytes exactly as received."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset

from radhub.archive import Archive
from radhub.catalog import StoredInstance

__all__ = ["Retriever"]

_CHUNK = 1 << 20


class Retriever:
    """Read access to an archive's instances (shared by WADO-RS, C-MOVE and C-GET)."""

    whole_body_limit: int = 16 << 20
    """Instances up to this size are read in one piece by :meth:`read_bytes` callers (WADO-RS
    sends them as one body: no thread hop per chunk); larger ones are streamed."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def find(
        self, *, study_uid: str | None = None, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[StoredInstance]:
        """Instances at the given level (empty list if none).

        One instance (``sop_uid`` given) is looked up with the catalog's
        single-row query (:meth:`radhub.catalog.Catalog.locate`), the path of
        every WADO-RS instance, frame and rendered request.
        """
        if sop_uid is not None:
            found = self.archive.catalog.locate(sop_uid, study_uid=study_uid, series_uid=series_uid)
            return [] if found is None else [found]
        return self.archive.catalog.instances(study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid)

    def open(self, instance: StoredInstance) -> BinaryIO:
        """The stored Part 10 bytes, bit-exact as received."""
        return self.archive.store.open(instance.blob_sha256)

    def iter_bytes(self, instance: StoredInstance, chunk_size: int = _CHUNK) -> Iterator[bytes]:
        """Stream the stored bytes in chunks (bounded memory)."""
        with self.open(instance) as fh:
            while chunk := fh.read(chunk_size):
                yield chunk

    def read_bytes(self, instance: StoredInstance) -> bytes:
        """The stored bytes in one piece (meant for instances up to :attr:`whole_body_limit`)."""
        with self.open(instance) as fh:
            return fh.read()

    def frames(self, instance: StoredInstance, numbers: list[int]) -> list[tuple[bytes, str]]:
        """The listed frames as :func:`radhub.retrieve.frame_bytes` gives them.

        A single-frame native object is first read from its tail
        (:func:`radhub.retrieve.native_tail_frame`, checked against the
        catalog's Rows x Columns); every other one has its header parsed
        (and cached by digest).
        """
        from radhub.retrieve._frames import frame_bytes, frame_media_type, native_tail_frame

        with self.open(instance) as fh:
            if instance.frames == 1 and numbers == [1]:
                data = native_tail_frame(
                    fh, size=instance.size, rows=instance.rows, columns=instance.columns,
                    transfer_syntax_uid=instance.transfer_syntax_uid,
                )
                if data is not None:
                    return [(data, frame_media_type(instance.transfer_syntax_uid))]
            return frame_bytes(fh, numbers, header_key=instance.blob_sha256)

    def dataset(self, instance: StoredInstance, *, stop_before_pixels: bool = False) -> Dataset:
        """Parse a stored instance (e.g. to send it over DIMSE)."""
        with self.open(instance) as fh:
            return pydicom.dcmread(fh, stop_before_pixels=stop_before_pixels)
