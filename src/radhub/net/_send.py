"""Send stored instances over DIMSE exactly as stored (C-STORE as SCU).

pynetdicom's :meth:`Association.send_c_store` always re-encodes a
:class:`~pydicom.dataset.Dataset` through pydicom, which drops retired group
lengths and re-deflates deflated data sets, so the peer would not receive the
bytes radhub archived. :func:`send_encoded` sends an already encoded data set
unchanged; :class:`InstanceSender` picks the accepted presentation context
whose transfer syntax is the stored one and sends the stored bytes, and only
when the peer accepts none transcodes to Explicit/Implicit VR Little Endian
(decompressing if needed).
"""

from __future__ import annotations

import logging
import struct
import time
import warnings
from collections.abc import Callable
from io import BytesIO
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode
from pynetdicom.presentation import PresentationContext

from radhub.catalog import StoredInstance
from radhub.net._contexts import FALLBACK_TRANSFER_SYNTAXES
from radhub.net.errors import SubOperationError
from radhub.retrieve import Retriever

logger = logging.getLogger(__name__)

__all__ = ["InstanceRef", "InstanceSender", "send_encoded", "split_part10"]

_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}
_SWAP_UNIT = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


def split_part10(data: bytes) -> tuple[int, str]:
    """Offset of the data set in a Part 10 object and the transfer syntax its File Meta declares.

    The File Meta group is walked element by element (its group length is not
    trusted), so the offset is right for every object the ingest accepted.

    Raises
    ------
    SubOperationError
        If ``data`` has no ``DICM`` prefix or the File Meta cannot be walked.
    """
    if len(data) < 132 or data[128:132] != b"DICM":
        raise SubOperationError("stored object lacks the Part 10 preamble and 'DICM' prefix")
    pos, ts = 132, ""
    try:
        while pos + 8 <= len(data):
            group, element = struct.unpack_from("<HH", data, pos)
            if group != 0x0002:
                break
            vr = data[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                (length,) = struct.unpack_from("<I", data, pos + 8)
                start = pos + 12
            else:
                (length,) = struct.unpack_from("<H", data, pos + 6)
                start = pos + 8
            if element == 0x0010:
                ts = data[start : start + length].decode("ascii").strip("\x00 ")
            pos = start + length
    except (struct.error, UnicodeDecodeError) as exc:
        raise SubOperationError("stored object has an unreadable File Meta Information") from exc
    if not ts:
        raise SubOperationError("stored object's File Meta lacks (0002,0010) Transfer Syntax UID")
    return pos, ts


def send_encoded(
    assoc: Association,
    context: PresentationContext,
    sop_class_uid: str,
    sop_instance_uid: str,
    data: bytes,
    *,
    msg_id: int = 1,
    priority: int = 2,
    originator_aet: str | None = None,
    originator_id: int | None = None,
) -> Dataset:
    """Send one C-STORE whose data set is ``data``, already encoded in ``context``'s transfer syntax.

    Mirrors :meth:`pynetdicom.association.Association.send_c_store` (it waits
    for the association's reactor to pause so that the response is not taken
    by it) but puts ``data`` on the wire unchanged, except that an odd-length
    (deflated) data set gets the trailing NUL pad byte PS3.5 A.5 requires.

    Returns
    -------
    pydicom.dataset.Dataset
        The response's Status (and Error Comment etc.), or an empty dataset if
        no valid response arrived (the association is then aborted).
    """
    if not assoc.is_established:
        raise SubOperationError("the association is not established")
    req = C_STORE()
    req.MessageID = msg_id
    req.Priority = priority
    req.AffectedSOPClassUID = UID(sop_class_uid)
    req.AffectedSOPInstanceUID = UID(sop_instance_uid)
    req.MoveOriginatorApplicationEntityTitle = originator_aet
    req.MoveOriginatorMessageID = originator_id
    # A data set on the wire has even length; only a deflated one can be odd
    # (a non-conformant sender omitted the trailing NUL pad of PS3.5 A.5).
    req.DataSet = BytesIO(data + b"\x00" if len(data) % 2 else data)

    # Same hand-over as pynetdicom's send_c_store: pause the reactor while we
    # wait for our response (a no-op wait when called from a service handler,
    # which runs with the reactor paused).
    assoc._reactor_checkpoint.clear()
    try:
        while not assoc._is_paused:
            time.sleep(0.0001)
        assoc.dimse.send_msg(req, int(context.context_id or 0))
        _cx, rsp = assoc.dimse.get_msg(block=True)
    finally:
        assoc._reactor_checkpoint.set()

    status = Dataset()
    if rsp is None:
        if assoc.is_established:
            logger.error("no C-STORE response (DIMSE timeout); aborting the association")
            assoc.abort()
        return status
    if not rsp.is_valid_response:
        logger.error("received an invalid C-STORE response")
        return status
    status.Status = rsp.Status
    for keyword in rsp.STATUS_OPTIONAL_KEYWORDS:
        value = getattr(rsp, keyword, None)
        if value is not None:
            setattr(status, keyword, value)
    return status


class InstanceRef(Dataset):
    """A stored instance, as yielded to pynetdicom's C-MOVE/C-GET machinery.

    Holds only SOP Class and SOP Instance UIDs (pynetdicom reports failed
    instances by them); :class:`InstanceSender` sends the stored bytes.
    """

    def __init__(self, instance: StoredInstance) -> None:
        super().__init__()
        self.SOPClassUID = instance.sop_class_uid
        self.SOPInstanceUID = instance.sop_uid
        self.stored = instance


def _accepted(assoc: Association, sop_class_uid: str) -> list[PresentationContext]:
    return [
        cx
        for cx in assoc.accepted_contexts
        if cx.abstract_syntax == sop_class_uid and cx.as_scu and cx.transfer_syntax
    ]


def _to_little_endian(ds: Dataset) -> None:
    """Byte-swap the binary values of a data set read from Explicit VR Big Endian.

    pydicom re-encodes numbers and text but writes OB/OW-style values as they
    are; Pixel Data is swapped in units of Bits Allocated, other top-level
    OW/OL/OF/OD/OV values in units of their VR.
    """
    bits = int(ds.get("BitsAllocated", 16) or 16)
    for elem in ds:
        unit = _SWAP_UNIT.get(str(elem.VR))
        if elem.tag == 0x7FE00010:
            unit = bits // 8 if bits > 8 else None
        if not unit or not isinstance(elem.value, bytes) or len(elem.value) % unit:
            continue
        dtype = np.dtype(f">u{unit}")
        elem.value = (
            np.frombuffer(elem.value, dtype=dtype).astype(dtype.newbyteorder("<")).tobytes()
        )


def transcode(ds: Dataset, stored_ts: str) -> Dataset:
    """Make ``ds`` encodable in a little endian uncompressed transfer syntax.

    Compressed pixel data is decompressed (keeping the SOP Instance UID),
    big endian binary values are swapped; the File Meta then declares
    Explicit VR Little Endian.

    Raises
    ------
    SubOperationError
        If no decoder can decompress the pixel data.
    """
    ts = UID(stored_ts)
    if ts.is_transfer_syntax and ts.is_compressed or not ts.is_transfer_syntax:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.decompress(generate_instance_uid=False)
        except Exception as exc:
            raise SubOperationError(
                f"cannot decompress pixel data in transfer syntax {stored_ts} for a peer that does "
                f"not accept it: {type(exc).__name__}"
            ) from exc
    elif not ts.is_little_endian:
        _to_little_endian(ds)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


class InstanceSender:
    """Sends stored instances over an established association.

    Parameters
    ----------
    retriever
        The one retrieve path: stored bytes come from :meth:`Retriever.open`.
    """

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def send(
        self,
        assoc: Association,
        instance: StoredInstance,
        *,
        msg_id: int = 1,
        priority: int = 2,
        originator_aet: str | None = None,
        originator_id: int | None = None,
    ) -> Dataset:
        """C-STORE ``instance`` to the peer of ``assoc``; returns the response status dataset.

        The stored bytes are sent unchanged when the peer accepted the stored
        transfer syntax for the SOP class; otherwise the instance is
        transcoded to the accepted Explicit or Implicit VR Little Endian.

        Raises
        ------
        SubOperationError
            If the peer accepted no usable context for the SOP class, or the
            instance cannot be transcoded.
        """
        contexts = _accepted(assoc, instance.sop_class_uid)
        if not contexts:
            raise SubOperationError(
                f"the peer accepted no presentation context for SOP class {instance.sop_class_uid}"
            )
        with self.retriever.open(instance) as fh:
            data = fh.read()
        offset, stored_ts = split_part10(data)
        kwargs: dict[str, Any] = {
            "msg_id": msg_id,
            "priority": priority,
            "originator_aet": originator_aet,
            "originator_id": originator_id,
        }
        for cx in contexts:
            if cx.transfer_syntax[0] == stored_ts:
                return send_encoded(
                    assoc, cx, instance.sop_class_uid, instance.sop_uid, data[offset:], **kwargs
                )

        fallback = [
            cx
            for ts in FALLBACK_TRANSFER_SYNTAXES
            for cx in contexts
            if cx.transfer_syntax[0] == ts
        ]
        if not fallback:
            accepted = ", ".join(sorted({str(cx.transfer_syntax[0]) for cx in contexts}))
            raise SubOperationError(
                f"the peer accepts SOP class {instance.sop_class_uid} only in {accepted}; the instance is "
                f"stored in {stored_ts} and can be sent in it or transcoded to little endian only"
            )
        cx = fallback[0]
        target = UID(cx.transfer_syntax[0])
        ds = transcode(pydicom.dcmread(BytesIO(data)), stored_ts)
        del data
        encoded = encode(ds, target.is_implicit_VR, target.is_little_endian, target.is_deflated)
        if encoded is None:
            raise SubOperationError(f"cannot encode the instance in transfer syntax {target}")
        logger.info("sent an instance transcoded from %s to %s", stored_ts, target)
        return send_encoded(assoc, cx, instance.sop_class_uid, instance.sop_uid, encoded, **kwargs)


SendCStore = Callable[..., Dataset]


def enable_stored_sends(assoc: Association, sender: InstanceSender) -> None:
    """Let pynetdicom's C-MOVE/C-GET machinery send :class:`InstanceRef` items through ``sender``.

    pynetdicom sends each yielded sub-operation dataset with
    ``assoc.send_c_store``; this wraps that method on this one association so
    that stored instances go out byte for byte while any other dataset takes
    pynetdicom's usual path. Idempotent.
    """
    if getattr(assoc, "_radhub_stored_sends", False):
        return
    original: SendCStore = assoc.send_c_store

    def send_c_store(
        dataset: Any,
        msg_id: int = 1,
        priority: int = 2,
        originator_aet: str | None = None,
        originator_id: int | None = None,
    ) -> Dataset:
        if isinstance(dataset, InstanceRef):
            return sender.send(
                assoc,
                dataset.stored,
                msg_id=msg_id,
                priority=priority,
                originator_aet=originator_aet,
                originator_id=originator_id,
            )
        return original(dataset, msg_id, priority, originator_aet, originator_id)

    assoc.send_c_store = send_c_store  # type: ignore[method-assign]
    assoc._radhub_stored_sends = True  # type: ignore[attr-defined]
