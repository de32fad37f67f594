"""Build a DICOM Part 10 byte stream around a dataset received over the network."""

from __future__ import annotations

from io import BytesIO

from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID

__all__ = ["part10_prefix"]

IMPLEMENTATION_VERSION = "RADHUB_010"


def part10_prefix(
    sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str, source_ae: str = ""
) -> bytes:
    """Preamble, ``DICM`` and File Meta Information for a dataset encoded in ``transfer_syntax_uid``.

    Appending the dataset bytes exactly as received over DIMSE gives a Part 10
    object that stores the sender's encoding unchanged.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax_uid)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    if source_ae:
        meta.SourceApplicationEntityTitle = source_ae.strip()[:16]
    buf = BytesIO()
    buf.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buf, meta, enforce_standard=True)
    return buf.getvalue()
