"""The audit trail (PRODUCT.md B7, H3): who read or changed what, when, from where, with what outcome.

Records are appended by a background writer in batches, chained by
sha256 so :meth:`AuditLog.verify` finds an edited or deleted record, and
exported as DICOM PS3.15 A.5 / IHE ATNA audit messages (a file, or
RFC 5424 syslog over TCP or TLS).
"""

from radhub.audit._atna import SyslogSender, event_code, export_file, syslog_message, to_atna_xml
from radhub.audit._events import GENESIS, OUTCOMES, AuditEvent, chain_hash
from radhub.audit._log import AuditLog, VerifyResult

__all__ = [
    "GENESIS",
    "OUTCOMES",
    "AuditEvent",
    "AuditLog",
    "SyslogSender",
    "VerifyResult",
    "chain_hash",
    "event_code",
    "export_file",
    "syslog_message",
    "to_atna_xml",
]
