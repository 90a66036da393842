"""Oversight: the audit log for auditors (browse, verify, export) and gallery statistics.

Verifying and exporting are themselves audited, so the log shows who checked it and when.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from facesift.governance import roles as rules
from facesift.governance.roles import Principal
from facesift.services.audit_export import export_lines
from facesift.services.audit_signing import CheckpointSigner
from facesift.services.calibration import Calibration
from facesift.services.gallery import Gallery
from facesift.services.search import operating_point
from facesift.services.settings import Settings
from facesift.store import AuditFilter


class Oversight:
    def __init__(
        self,
        gallery: Gallery,
        calibration: Calibration,
        settings: Settings,
        signer: CheckpointSigner | None = None,
    ):
        self._gallery = gallery
        self._calibration = calibration
        self._settings = settings
        self._signer = signer  # signs export checkpoints (the setting audit_signing_key)

    @property
    def _audit(self):
        return self._gallery.store.audit

    def entries(
        self,
        actor: Principal,
        *,
        user: str | None = None,
        action: str | None = None,
        case_id: int | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict:
        rules.require_read_audit(actor)
        filters = {"user": user, "action": action, "case_id": case_id, "since": since}
        filters |= {"until": until, "limit": limit, "offset": offset}
        # Who read what of the log is itself on the log (the filters, not what they returned).
        # Under "filters": a "user" key of its own would make this entry match that user.
        read = {"filters": {k: v for k, v in filters.items() if v}}
        self._audit.append("audit_read", read, actor.name)
        matching = AuditFilter(user, action, case_id, since, until)
        entries = self._audit.filtered(matching, limit=limit, offset=offset)
        total = self._audit.count(matching)
        return {"total": total, "entries": [e.as_dict() for e in entries]}

    def record_refusal(self, actor: Principal, rule: str, method: str, path: str) -> None:
        """Audit a request refused by a rule (role, training, case ownership, assignment...):
        every refusal is on the log with the rule that refused it."""
        self._audit.append(
            "access_refused", {"rule": rule, "method": method, "path": path}, actor.name
        )

    def actions(self, actor: Principal) -> list[str]:
        rules.require_read_audit(actor)
        return self._audit.actions()

    def verify(self, actor: Principal) -> dict:
        rules.require_read_audit(actor)
        report = self._audit.verify()
        self._audit.append(
            "audit_verified", {"ok": report.ok, "entries": report.entries}, actor.name
        )
        return dataclasses.asdict(report)

    def export(self, actor: Principal) -> Iterator[str]:
        """The log as JSON lines: one per entry, and every 1,000 entries and at the end a
        checkpoint with the id and hash reached, signed when a signing key is set, for a
        third party to keep (``services.audit_export``)."""
        rules.require_read_audit(actor)
        return export_lines(self._audit, self._signer, actor.name)

    def stats(self, actor: Principal) -> dict:
        del actor  # every signed-in user may see the gallery's size
        # An ingest or a removal beside the server: catch up first, or the count is stale.
        self._gallery.refresh()
        numbers = self._gallery.store.stats()
        size = self._gallery.size()
        operating = operating_point(self._calibration, size, self._settings.get("target_fpir"))
        return {
            "collections": numbers.collections,
            "images": numbers.images,
            "faces": numbers.faces,
            "ingest_failures": numbers.failures,
            "indexed_faces": size,
            "model_id": self._calibration.model_id,
            "threshold": operating.threshold,
            "target_fpir": operating.target_fpir,
            "expected_false_candidates_per_search": operating.expected_false_candidates,
            "true_match_rate": operating.true_match_rate,
        }
