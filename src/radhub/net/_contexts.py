"""Presentation contexts: the SOP classes and transfer syntaxes radhub negotiates."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from enum import Enum

from pydicom._uid_dict import UID_dictionary
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import (
    ALL_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    build_context,
    register_uid,
)
from pynetdicom.presentation import NonPatientObjectPresentationContexts, PresentationContext
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import uid_to_service_class

__all__ = [
    "FALLBACK_TRANSFER_SYNTAXES",
    "MAX_CONTEXTS",
    "TRANSFER_SYNTAXES",
    "QueryModel",
    "requested_storage_contexts",
    "storage_sop_classes",
]

MAX_CONTEXTS = 128
"""At most 128 presentation contexts per association (odd IDs 1..255, PS3.8 9.3.2.2)."""

FALLBACK_TRANSFER_SYNTAXES: tuple[str, ...] = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
"""What an instance is transcoded to when a peer does not accept its stored transfer syntax."""

TRANSFER_SYNTAXES: tuple[str, ...] = tuple(
    dict.fromkeys([*FALLBACK_TRANSFER_SYNTAXES, *ALL_TRANSFER_SYNTAXES])
)
"""Every transfer syntax radhub accepts for storage: all standard ones pynetdicom knows,
including HTJ2K (``.4.201``-``.4.205``) and Deflated Image Frame Compression (``.8.1``).

The order is radhub's preference when a peer proposes several in one
presentation context (pynetdicom accepts the first of these that was
proposed): Explicit VR Little Endian first, so that a sender offering
compressed and uncompressed syntaxes together is never asked to compress,
and a C-GET peer offering several can always be sent any stored instance
(stored bytes when stored Explicit VR Little Endian, transcoded otherwise).
Senders that put each transfer syntax in its own context (``storescu -R``)
get their file's own syntax accepted.
"""

_STORAGE_PREFIX = "1.2.840.10008.5.1.4.1.1."

VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
FIND_SOP_CLASSES = (STUDY_ROOT_FIND, PATIENT_ROOT_FIND)
MOVE_SOP_CLASSES = (STUDY_ROOT_MOVE, PATIENT_ROOT_MOVE)
GET_SOP_CLASSES = (STUDY_ROOT_GET, PATIENT_ROOT_GET)
_register_lock = threading.Lock()


class QueryModel(str, Enum):
    """Query/Retrieve information models radhub serves (PS3.4 C.6)."""

    STUDY_ROOT = "STUDY_ROOT"
    PATIENT_ROOT = "PATIENT_ROOT"

    @property
    def levels(self) -> tuple[str, ...]:
        """Query/Retrieve levels of the model, top down."""
        if self is QueryModel.PATIENT_ROOT:
            return ("PATIENT", "STUDY", "SERIES", "IMAGE")
        return ("STUDY", "SERIES", "IMAGE")

    @classmethod
    def of(cls, sop_class_uid: str) -> QueryModel:
        """The model of a Q/R FIND, MOVE or GET SOP class UID."""
        if sop_class_uid in (PATIENT_ROOT_FIND, PATIENT_ROOT_MOVE, PATIENT_ROOT_GET):
            return cls.PATIENT_ROOT
        return cls.STUDY_ROOT


def _retired_storage_classes() -> list[tuple[str, str]]:
    """(UID, keyword) of retired storage SOP classes pynetdicom does not serve by default."""
    found = []
    for uid, (name, kind, _info, retired, keyword) in UID_dictionary.items():
        if (
            kind == "SOP Class"
            and retired
            and uid.startswith(_STORAGE_PREFIX)
            and "Storage" in name
            and keyword.isidentifier()
        ):
            found.append((uid, keyword))
    return sorted(found)


def _register_retired_storage() -> list[str]:
    """Register retired storage SOP classes with pynetdicom's Storage service (idempotent).

    Real archives hold objects of retired classes (the corpus has the retired
    Ultrasound Image Storage ``1.2.840.10008.5.1.4.1.1.6``); pynetdicom serves
    a SOP class only after :func:`pynetdicom.register_uid` has tied it to a
    service, which is the documented way to add retired or private classes.
    """
    uids = []
    with _register_lock:
        for uid, keyword in _retired_storage_classes():
            if uid_to_service_class(uid) is not StorageServiceClass:
                register_uid(uid, keyword, StorageServiceClass)
            uids.append(uid)
    return uids


def storage_sop_classes() -> list[str]:
    """Every storage SOP class radhub accepts: current, non-patient object and retired ones."""
    uids: dict[str, None] = {}
    for cx in [*AllStoragePresentationContexts, *NonPatientObjectPresentationContexts]:
        uids[str(cx.abstract_syntax)] = None
    for uid in _register_retired_storage():
        uids[uid] = None
    return list(uids)


def requested_storage_contexts(pairs: Iterable[tuple[str, str]]) -> list[PresentationContext]:
    """Contexts to propose for sending instances of the given (SOP class, stored transfer syntax) pairs.

    Each stored transfer syntax gets a context of its own (so that a peer can
    accept it exactly and the bytes go out unchanged), and each SOP class one
    more context proposing Explicit and Implicit VR Little Endian, used when
    the peer accepts none of the stored syntaxes. When more than 128 contexts
    would be needed, the little endian contexts are kept first so that every
    SOP class can at least be sent transcoded.
    """
    by_class: dict[str, list[str]] = {}
    for sop_class, ts in pairs:
        syntaxes = by_class.setdefault(sop_class, [])
        if ts not in syntaxes:
            syntaxes.append(ts)
    fallback = [build_context(sop, list(FALLBACK_TRANSFER_SYNTAXES)) for sop in by_class]
    exact = [
        build_context(sop, [ts])
        for sop, syntaxes in by_class.items()
        for ts in syntaxes
        if ts not in FALLBACK_TRANSFER_SYNTAXES
    ]
    # implicit/explicit little endian stored objects also want an exact context
    exact_le = [
        build_context(sop, [ts])
        for sop, syntaxes in by_class.items()
        for ts in syntaxes
        if ts in FALLBACK_TRANSFER_SYNTAXES
    ]
    contexts = fallback[:MAX_CONTEXTS]
    for cx in [*exact, *exact_le]:
        if len(contexts) >= MAX_CONTEXTS:
            break
        contexts.append(cx)
    return contexts
