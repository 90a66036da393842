"""Records, provenance and audit: everything facesift remembers, in one SQLite database."""

from facesift.store.audit import AuditEntry, AuditFilter, AuditLog, ChainReport
from facesift.store.records import Stats, Store, StoredImage

__all__ = ["AuditEntry", "AuditFilter", "AuditLog", "ChainReport", "Stats", "Store", "StoredImage"]
