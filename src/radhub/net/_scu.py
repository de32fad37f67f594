"""A C-STORE SCU that sends DICOM files byte for byte."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pynetdicom import AE, build_context

from radhub.net._contexts import MAX_CONTEXTS
from radhub.net._send import send_encoded, split_part10
from radhub.net.errors import AssociationError, NetError

logger = logging.getLogger(__name__)

__all__ = ["StoreOutcome", "store_files"]


@dataclass(frozen=True)
class StoreOutcome:
    """What happened to one file sent by :func:`store_files`.

    ``status`` is the peer's C-STORE status, or ``None`` if the file was not
    sent (then ``error_comment`` says why).
    """

    path: str
    sop_instance_uid: str
    status: int | None
    error_comment: str = ""

    @property
    def ok(self) -> bool:
        """Success (``0x0000``) or a warning (``0xB000``-``0xBFFF``, ``0x0107``, ``0x0116``)."""
        return self.status is not None and (
            self.status == 0 or 0xB000 <= self.status <= 0xBFFF or self.status in (0x0107, 0x0116)
        )


@dataclass(frozen=True)
class _Item:
    path: str
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str


def _read_items(paths: Iterable[str | Path]) -> tuple[list[_Item], list[StoreOutcome]]:
    """SOP Class/Instance UIDs as the data set states them (the File Meta copy may differ)."""
    items, skipped = [], []
    for p in paths:
        path = str(p)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(
                    path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"]
                )
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
            skipped.append(
                StoreOutcome(path, "", None, f"not a readable DICOM file ({type(exc).__name__})")
            )
            continue
        meta = ds.file_meta
        ts = str(meta.get("TransferSyntaxUID", "")).strip("\x00 ")
        sop_class = str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID", "")).strip(
            "\x00 "
        )
        sop_instance = str(ds.get("SOPInstanceUID") or meta.get("MediaStorageSOPInstanceUID", ""))
        sop_instance = sop_instance.strip("\x00 ")
        if not ts or not sop_class or not sop_instance:
            skipped.append(
                StoreOutcome(
                    path, sop_instance, None, "the file lacks its transfer syntax or SOP UIDs"
                )
            )
            continue
        items.append(_Item(path, sop_class, sop_instance, ts))
    return items, skipped


def store_files(
    host: str,
    port: int,
    paths: Sequence[str | Path],
    *,
    called_ae: str = "ANY-SCP",
    calling_ae: str = "RADHUB",
    timeout: float = 60,
) -> list[StoreOutcome]:
    """Send DICOM Part 10 files with C-STORE, each data set exactly as it is in its file.

    Every file's own transfer syntax is proposed (one presentation context
    per SOP class and transfer syntax, several associations if more than 128
    are needed) and the bytes after its File Meta are sent unchanged, unlike
    tools that decode and re-encode. The request's Affected SOP Class and
    Instance UIDs are the data set's own; the File Meta copies are used only
    when the data set lacks them.

    Parameters
    ----------
    host, port, called_ae
        The peer.
    paths
        Part 10 files (with File Meta Information).
    calling_ae
        Our AE title.
    timeout
        ACSE, DIMSE and network timeout in seconds.

    Returns
    -------
    list of StoreOutcome
        One per path, in order.

    Raises
    ------
    AssociationError
        If the peer rejects or aborts an association.
    """
    items, skipped = _read_items(paths)
    outcomes: dict[str, StoreOutcome] = {o.path: o for o in skipped}
    pairs = list(dict.fromkeys((i.sop_class_uid, i.transfer_syntax) for i in items))
    for start in range(0, len(pairs), MAX_CONTEXTS):
        batch = set(pairs[start : start + MAX_CONTEXTS])
        batch_items = [i for i in items if (i.sop_class_uid, i.transfer_syntax) in batch]
        for outcome in _send_batch(
            host, port, called_ae, calling_ae, timeout, sorted(batch), batch_items
        ):
            outcomes[outcome.path] = outcome
    return [outcomes[str(p)] for p in paths]


def _send_batch(
    host: str,
    port: int,
    called_ae: str,
    calling_ae: str,
    timeout: float,
    pairs: list[tuple[str, str]],
    items: list[_Item],
) -> list[StoreOutcome]:
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    contexts = [build_context(sop, [ts]) for sop, ts in pairs]
    assoc = ae.associate(host, port, contexts=contexts, ae_title=called_ae)
    if not assoc.is_established:
        reason = (
            "rejected"
            if assoc.is_rejected
            else "aborted"
            if assoc.is_aborted
            else "not established"
        )
        raise AssociationError(f"association with {called_ae}@{host}:{port} {reason}")
    out = []
    try:
        accepted = {
            (str(cx.abstract_syntax), str(cx.transfer_syntax[0])): cx
            for cx in assoc.accepted_contexts
        }
        for i, item in enumerate(items, start=1):
            cx = accepted.get((item.sop_class_uid, item.transfer_syntax))
            if cx is None:
                out.append(
                    StoreOutcome(
                        item.path, item.sop_instance_uid, None, "presentation context not accepted"
                    )
                )
                continue
            data = Path(item.path).read_bytes()
            try:
                offset, _ts = split_part10(data)
            except NetError as exc:
                out.append(StoreOutcome(item.path, item.sop_instance_uid, None, str(exc)))
                continue
            status = send_encoded(
                assoc,
                cx,
                item.sop_class_uid,
                item.sop_instance_uid,
                data[offset:],
                msg_id=i % 65536,
            )
            if "Status" not in status:
                raise AssociationError(f"no C-STORE response from {called_ae}@{host}:{port}")
            out.append(
                StoreOutcome(
                    item.path,
                    item.sop_instance_uid,
                    int(status.Status),
                    str(status.get("ErrorComment", "")),
                )
            )
    finally:
        if assoc.is_established:
            assoc.release()
    return out
