"""The case record: its timeline (what was done in it, refusals and negative results
included) and the disclosure packet (the case, probes, searches, reviews and audit trail).
"""

from __future__ import annotations

from facesift.governance.roles import Principal, Role
from facesift.services import blind
from facesift.services.casework.base import (
    LEAD_NOTICE,
    PENDING,
    RELEASED,
    VIEW_ACTIONS,
    case_ref,
)
from facesift.services.casework.images import ImageWork
from facesift.services.casework.values import CaseEvent, DisclosurePacket
from facesift.services.disclosure_images import add_face_images
from facesift.store.audit import AuditEntry, utc_now


class DisclosureWork(ImageWork):
    def timeline(self, actor: Principal, case_id: int) -> list[CaseEvent]:
        """Everything done in the case, negative results and refusals included, in order."""
        return [CaseEvent.model_validate(e) for e in self._timeline(actor, case_id)]

    def _timeline(self, actor: Principal, case_id: int) -> list[dict]:
        self._case(actor, case_id)
        entries = self._audit.case_entries(case_id, skip=VIEW_ACTIONS)
        searches = self.records.searches(case_id=case_id)
        pending = {s["id"] for s in searches if s["status"] == PENDING}
        requester = not actor.has_any(Role.SUPERVISOR, Role.AUDITOR)
        leads = {s["id"]: s["lead_face_id"] for s in searches if s["status"] == RELEASED}
        events = []
        for entry in entries:
            event = _event(entry)
            if event["action"] == "review" and event["details"]["search_id"] in pending:
                # Undecided: say that a review came in, not what it said.
                event["details"] = {
                    "search_id": event["details"]["search_id"],
                    "decision": "(hidden until both reviews are in)",
                }
            events.append(blind.timeline_event(event, leads) if requester else event)
        return events

    def disclosure(self, actor: Principal, case_id: int) -> DisclosurePacket:
        """The disclosure packet: the case, its probes, searches, reviews and audit trail."""
        return DisclosurePacket.model_validate(self._packet(actor, case_id))

    def _packet(self, actor: Principal, case_id: int) -> dict:
        """The disclosure packet as the rows and views it is made of (audited)."""
        case = self._case(actor, case_id)
        searches = [
            self._search_view(actor, s["id"])
            for s in reversed(self.records.searches(case_id=case_id))
        ]
        packet = {
            "format": "facesift-disclosure/1",
            "generated_at": utc_now(),
            "generated_by": actor.name,
            "case": case,
            "probes": self.records.probes(case_id),
            "searches": searches,
            "timeline": self._timeline(actor, case_id),
            "lead_notice": LEAD_NOTICE,
        }
        add_face_images(self, actor, packet)  # the probe and candidate faces, inline
        entry = self._audit.append("disclosure_exported", case_ref(case), actor.name)
        # The export's own entry, and the head it was chained to: the log as it stood.
        packet["audit_chain_head"] = {
            "id": entry.id,
            "hash": entry.hash,
            "previous_head": {"id": entry.id - 1, "hash": entry.prev_hash}
            if entry.id > 1
            else None,
        }
        return packet


def _event(entry: AuditEntry) -> dict:
    return {
        "audit_id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "details": entry.details,
    }
