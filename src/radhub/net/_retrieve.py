"""C-MOVE and C-GET SCP: stored instances sent through the one retrieve path.

Instances are located with :meth:`radhub.retrieve.Retriever.find` and sent by
:class:`~radhub.net._send.InstanceSender` (stored bytes unchanged when the
peer accepts the stored transfer syntax). pynetdicom drives the
sub-operations, pending responses and the final counts.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import build_context

from radhub.archive import Archive
from radhub.catalog import QueryLevel, StoredInstance, search
from radhub.config import DicomPeer
from radhub.dicom import is_valid_uid
from radhub.net._contexts import VERIFICATION, QueryModel, requested_storage_contexts
from radhub.net._send import InstanceRef, InstanceSender, enable_stored_sends
from radhub.net._status import DimseStatus, status_dataset
from radhub.net.errors import IdentifierError
from radhub.retrieve import Retriever

logger = logging.getLogger(__name__)

__all__ = ["RetrieveQuery", "RetrieveService", "find_instances", "parse_retrieve_identifier"]

_TAGS = {
    "QueryRetrieveLevel": 0x00080052,
    "PatientID": 0x00100020,
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
    "SOPInstanceUID": 0x00080018,
}
_REQUIRED = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}


@dataclass(frozen=True)
class RetrieveQuery:
    """The unique keys of a C-MOVE / C-GET identifier (PS3.4 C.4.2.1.4)."""

    level: str
    patient_id: str = ""
    study_uids: tuple[str, ...] = ()
    series_uids: tuple[str, ...] = ()
    sop_uids: tuple[str, ...] = ()


def _uids(identifier: Dataset, keyword: str) -> tuple[str, ...]:
    value = identifier.get(keyword)
    if value is None or value == "":
        return ()
    values = [value] if isinstance(value, str) else list(value)
    uids = tuple(u for u in (str(v).strip("\x00 ") for v in values) if u)
    for uid in uids:
        if not is_valid_uid(uid):
            raise IdentifierError(
                DimseStatus.CANNOT_UNDERSTAND,
                f"{keyword} holds a value that is not a UID",
                [_TAGS[keyword]],
            )
    return uids


def parse_retrieve_identifier(
    identifier: Dataset, model: QueryModel = QueryModel.STUDY_ROOT
) -> RetrieveQuery:
    """Read the level and unique keys of a C-MOVE or C-GET identifier.

    Matching is on unique keys only: the level's unique key is required (a
    list of UIDs is allowed), keys of higher levels, if present, restrict the
    match.

    Raises
    ------
    IdentifierError
        ``0xA900`` for a missing or unknown level or a missing unique key;
        ``0xC000`` for values that are not UIDs, a Patient ID with wildcards,
        or an identifier that cannot be decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
            if level not in model.levels:
                what = (
                    f"level {level[:16]}" if level else "a missing Query/Retrieve Level (0008,0052)"
                )
                raise IdentifierError(
                    DimseStatus.DATASET_DOES_NOT_MATCH,
                    f"{what}: use one of {', '.join(model.levels)}",
                    [_TAGS["QueryRetrieveLevel"]],
                )
            query = RetrieveQuery(
                level=level,
                patient_id=str(identifier.get("PatientID", "") or "").strip(),
                study_uids=_uids(identifier, "StudyInstanceUID"),
                series_uids=_uids(identifier, "SeriesInstanceUID")
                if level in ("SERIES", "IMAGE")
                else (),
                sop_uids=_uids(identifier, "SOPInstanceUID") if level == "IMAGE" else (),
            )
    except IdentifierError:
        raise
    except Exception as exc:
        raise IdentifierError(
            DimseStatus.CANNOT_UNDERSTAND, "the identifier cannot be decoded"
        ) from exc
    required = _REQUIRED[level]
    present = {
        "PatientID": bool(query.patient_id),
        "StudyInstanceUID": bool(query.study_uids),
        "SeriesInstanceUID": bool(query.series_uids),
        "SOPInstanceUID": bool(query.sop_uids),
    }[required]
    if not present:
        raise IdentifierError(
            DimseStatus.DATASET_DOES_NOT_MATCH,
            f"a {level} level retrieve needs {required}",
            [_TAGS[required]],
        )
    if level == "PATIENT" and any(ch in query.patient_id for ch in "*?\\"):
        raise IdentifierError(
            DimseStatus.CANNOT_UNDERSTAND,
            "PatientID must be one value without wildcards",
            [_TAGS["PatientID"]],
        )
    return query


def find_instances(archive: Archive, query: RetrieveQuery) -> list[StoredInstance]:
    """The stored instances a retrieve identifier designates, each once, in catalog order."""
    retriever = Retriever(archive)
    found: dict[str, StoredInstance] = {}

    def add(instances: list[StoredInstance]) -> None:
        for inst in instances:
            found.setdefault(inst.sop_uid, inst)

    study_filter = query.study_uids[0] if len(query.study_uids) == 1 else None
    series_filter = query.series_uids[0] if len(query.series_uids) == 1 else None
    if query.level == "PATIENT":
        page = search(archive.catalog, QueryLevel.STUDY, {"PatientID": query.patient_id})
        studies = [str(ds.StudyInstanceUID) for ds in page.datasets]
        wanted = set(query.study_uids)
        for uid in studies:
            if not wanted or uid in wanted:
                add(retriever.find(study_uid=uid))
    elif query.level == "STUDY":
        for uid in query.study_uids:
            add(retriever.find(study_uid=uid))
    elif query.level == "SERIES":
        for uid in query.series_uids:
            add(retriever.find(study_uid=study_filter, series_uid=uid))
    else:
        for uid in query.sop_uids:
            add(retriever.find(study_uid=study_filter, series_uid=series_filter, sop_uid=uid))
    instances = list(found.values())
    if len(query.study_uids) > 1 and query.level in ("SERIES", "IMAGE"):
        allowed = set(query.study_uids)
        instances = [i for i in instances if i.study_uid in allowed]
    if len(query.series_uids) > 1 and query.level == "IMAGE":
        allowed = set(query.series_uids)
        instances = [i for i in instances if i.series_uid in allowed]
    return instances


class RetrieveService:
    """The EVT_C_MOVE and EVT_C_GET handlers of one archive.

    Parameters
    ----------
    archive
        Where instances come from.
    sender
        Sends each instance (stored bytes, or transcoded as a fallback).
    peer
        Looks a Move Destination AE title up (``None`` if unknown).
    """

    def __init__(
        self, archive: Archive, sender: InstanceSender, peer: Callable[[str], DicomPeer | None]
    ) -> None:
        self.archive = archive
        self.sender = sender
        self.peer = peer

    def _resolve(
        self, identifier: Dataset, model: QueryModel
    ) -> tuple[list[StoredInstance], Dataset | None]:
        try:
            return find_instances(self.archive, parse_retrieve_identifier(identifier, model)), None
        except IdentifierError as exc:
            logger.info("retrieve identifier refused: 0x%04X", exc.status)
            return [], status_dataset(exc.status, str(exc), exc.offending)
        except Exception as exc:  # noqa: BLE001 - catalog failure is answered, not raised into pynetdicom
            logger.error("retrieve failed: catalog error (%s)", type(exc).__name__)
            return [], status_dataset(
                DimseStatus.UNABLE_TO_CALCULATE_MATCHES, "the catalog cannot be queried"
            )

    def move(self, event: Any) -> Iterator[Any]:
        """EVT_C_MOVE: destination, number of sub-operations, then one pending yield per instance."""
        start = time.perf_counter()
        final = DimseStatus.SUCCESS
        try:
            destination = str(event.move_destination or "").strip()
            peer = self.peer(destination)
            if peer is None:
                logger.info("C-MOVE to an unknown destination AE refused (0xA801)")
                final = DimseStatus.MOVE_DESTINATION_UNKNOWN
                yield None, None
                return
            instances, failure = self._resolve(
                event.identifier, QueryModel.of(str(event.request.AffectedSOPClassUID))
            )
            contexts = requested_storage_contexts(
                (i.sop_class_uid, i.transfer_syntax_uid) for i in instances
            ) or [build_context(VERIFICATION)]
            yield peer.host, peer.port, {"contexts": contexts}
            if failure is not None:
                # pynetdicom reports a failure only after a sub-operation count
                final = DimseStatus(failure.Status)
                yield 1
                yield failure, None
                return
            yield len(instances)
            for instance in instances:
                if event.is_cancelled:
                    final = DimseStatus.CANCEL
                    yield int(DimseStatus.CANCEL), None
                    return
                yield int(DimseStatus.PENDING), InstanceRef(instance)
        finally:
            self._observe("C-MOVE", final, start)

    def get(self, event: Any) -> Iterator[Any]:
        """EVT_C_GET: number of sub-operations, then one pending yield per instance."""
        start = time.perf_counter()
        final = DimseStatus.SUCCESS
        try:
            enable_stored_sends(event.assoc, self.sender)
            instances, failure = self._resolve(
                event.identifier, QueryModel.of(str(event.request.AffectedSOPClassUID))
            )
            if failure is not None:
                final = DimseStatus(failure.Status)
                yield 1
                yield failure, None
                return
            yield len(instances)
            for instance in instances:
                if event.is_cancelled:
                    final = DimseStatus.CANCEL
                    yield int(DimseStatus.CANCEL), None
                    return
                yield int(DimseStatus.PENDING), InstanceRef(instance)
        finally:
            self._observe("C-GET", final, start)

    def _observe(self, command: str, status: DimseStatus, start: float) -> None:
        self.archive.metrics.dimse_latency.labels(
            command=command, status=f"{int(status):04X}"
        ).observe(time.perf_counter() - start)
