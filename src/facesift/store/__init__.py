"""Records, provenance and audit: everything facesift remembers, in one SQLite database."""

from facesift.store.audit import AuditEntry, AuditLog, ChainReport
from facesift.store.records import Stats, Store, StoredImage

__all__ = ["AuditEntry", "AuditLog", "ChainReport", "Stats", "Store", "StoredImage"]
