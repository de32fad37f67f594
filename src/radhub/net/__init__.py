"""DIMSE networking (pynetdicom): radhub's SCP and SCU adapters."""

from radhub.net._scp import DicomServer

__all__ = ["DicomServer"]
