"""Misuse alerts: four rules over the audit log, each with its own setting
(``governance.alert_rules``), each alert an audited ``misuse_alert`` entry for supervisors.

The rules read what the log already says (searches, refusals, case openings), so they see
the searches of the server, the API and the web pages alike, and a rule added later can be
run over the past. ``scan`` takes the entries written since the last scan, evaluates every
rule that applies to each, and appends one ``misuse_alert`` per finding together with the
id it scanned through (kept in the settings table, under a key that is not an admin
setting), all in one transaction: an entry is judged once. The server scans in a thread of
its own, woken by every search (one hook in ``Casework.run_search``; ``BackgroundScan``), and
again before showing alerts; ``facesift report alerts`` scans on demand.

Why a thread and not the search's own request: the scan reads the case's log and compares
the probe with every face searched in the window, which under load was a sixth of the
server's CPU and all of it on the searcher's wait (py-spy, ``bench/load.py`` at 50 users).
Woken a moment after a search, one scan judges every search of that moment together.

An alert is never a refusal: the search it concerns has run (or was refused for its own
reason). It names the rule, the user, the case and what matched, and a supervisor decides.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

import numpy as np

from facesift.governance import alert_rules
from facesift.governance import roles as rules
from facesift.governance.roles import Principal
from facesift.services.calibration import Calibration
from facesift.services.settings import Settings
from facesift.services.usage import refusal_category
from facesift.store import AuditEntry, AuditFilter, Store
from facesift.store.oversight import SearchedProbe

log = logging.getLogger(__name__)

ALERT = "misuse_alert"
SCANNED_KEY = "alerts_scanned_through"  # an internal record, not one of Settings.DEFAULTS
SCANNED_ACTIONS = ("search", "search_refused", "case_opened")
SCAN_BATCH = 5000  # entries judged per scan; the rest wait for the next
REREAD_SEARCHES = 64  # searches read again at each scan (see _read_new_searches)
# What a case shows when someone is only searching in it (and looking at what came back).
SEARCHING = frozenset(
    {
        "case_opened",
        "probe_uploaded",
        "probe_edited",
        "search",
        "search_refused",
        "search_rate_limited",
        "search_viewed",
        "probe_viewed",
        "probe_opened",
        "case_viewed",
        "candidate_viewed",
    }
)
MAX_LISTED = 500
# Not "case_id": an alert is about the user, for supervisors, and must not join the case's
# timeline, which its investigator reads (the log's case filter finds case entries by it).
CASE_KEY = "alert_case_id"


@dataclass(frozen=True)
class Alert:
    audit_id: int
    at: str
    rule: str
    user: str
    case_id: int | None
    message: str
    details: dict = field(default_factory=dict)

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> Alert:
        details = entry.details
        return cls(
            audit_id=entry.id,
            at=entry.at,
            rule=str(details.get("rule", "")),
            user=str(details.get("user", "")),
            case_id=details.get(CASE_KEY),
            message=str(details.get("message", "")),
            details={
                k: v for k, v in details.items() if k not in ("rule", "user", CASE_KEY, "message")
            },
        )


@dataclass(frozen=True)
class Finding:
    rule: str
    user: str
    case_id: int | None
    message: str
    details: dict

    def as_details(self) -> dict:
        return {
            "rule": self.rule,
            "user": self.user,
            CASE_KEY: self.case_id,
            "message": self.message,
            **self.details,
        }


def _time(at: str) -> datetime:
    return datetime.fromisoformat(at)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


class RecentProbes:
    """The probe faces searched within the same-face window, as arrays: each search judged
    compares its face with all of them in a few array operations. With a list walked in
    Python at every search, the alert thread was 9.6% of the server's samples under
    ``bench/load.py``'s mix after about 550 searches (py-spy, 2026-11-29), and the walk grew
    with the window; 5.6% with the arrays."""

    def __init__(self, probes: list[SearchedProbe]):
        self.probes = probes
        self.at = np.array([p.at for p in probes], dtype=str)
        self.case_id = np.array([p.case_id for p in probes], dtype=np.int64)
        self.sha256 = np.array([p.sha256 for p in probes], dtype=str)
        self._by_dim: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def templates(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(which probes, their templates as rows) for the probes with a template of ``dim``
        numbers: a probe's template is None once retention destroyed it."""
        if dim not in self._by_dim:
            rows = [i for i, p in enumerate(self.probes) if _length(p.template) == dim]
            templates = [cast(np.ndarray, self.probes[i].template) for i in rows]
            matrix = np.stack(templates) if templates else np.zeros((0, dim), dtype=np.float32)
            self._by_dim[dim] = (np.asarray(rows, dtype=np.int64), matrix)
        return self._by_dim[dim]

    def near(self, template: np.ndarray | None, among: np.ndarray, limit: float) -> np.ndarray:
        """Which probes (a mask over all) lie within ``limit`` of ``template``, of those
        ``among`` (a mask) allows."""
        near = np.zeros(len(self.probes), dtype=bool)
        if template is None:
            return near
        rows, matrix = self.templates(len(template))
        wanted = among[rows]
        distances = np.linalg.norm(matrix[wanted] - template, axis=1)
        near[rows[wanted][distances <= limit]] = True
        return near


def _length(template: np.ndarray | None) -> int:
    return -1 if template is None else len(template)


class Alerts:
    def __init__(self, store: Store, settings: Settings, calibration: Calibration):
        self._store = store
        self._settings = settings
        self._calibration = calibration
        self._scanning = threading.Lock()
        # The probe faces searched within the same-face window, read once each: reading them
        # all again for every search made a search's alert scan grow with the searches of
        # the last 90 days (1.2 s a search after 500 of them, bench/load.py).
        self._recent = RecentProbes([])
        self._recent_through = 0  # the newest search id read into _recent

    def _rule(self, key: str):
        return alert_rules.rule_setting(key, self._settings.get(key))

    # -- scanning ------------------------------------------------------------------------------

    def scan(self) -> list[Alert]:
        """Judge the entries written since the last scan; returns the alerts raised."""
        return self._scan() or []

    def _scan(self) -> list[Alert] | None:
        """``scan``; None when another process held the lease and this one judged nothing.

        Several processes may scan at once (server workers, the CLI). On PostgreSQL one at a
        time holds the lease (``scan_lease``) and the others skip: every worker judged every
        entry, and all but one threw the judging away. Without the lease (SQLite, or a
        scanner that started between two leases) the mark still moves by compare and set,
        and a scanner that lost the race writes nothing (the winner judged the same)."""
        records = self._store.oversight
        with self._scanning, records.scan_lease() as held:
            if not held:
                return None
            seen = records.scan_mark(SCANNED_KEY)
            entries = records.audit_after(seen, SCANNED_ACTIONS, SCAN_BATCH)
            if not entries:
                return []
            self._read_new_searches(entries[0])
            findings: list[Finding] = []
            for entry in entries:
                findings += self._judge(entry, findings)
            raised = []
            with self._store.transaction():
                if not records.advance_scan_mark(SCANNED_KEY, seen, entries[-1].id):
                    return []
                for finding in findings:
                    entry = self._store.audit.append(ALERT, finding.as_details(), "alerts")
                    raised.append(Alert.from_entry(entry))
        for alert in raised:
            log.warning("misuse alert (%s): %s", alert.rule, alert.message)
        return raised

    def scan_quietly(self) -> bool:
        """``scan`` for the search hook: an alert that cannot be judged now is judged at the
        next scan (the entry stays unscanned), and the search it follows is not failed.
        False when another process held the lease: what it had not read yet is this one's
        to judge, a moment later."""
        try:
            return self._scan() is not None
        except Exception:  # the search has run; the next scan retries
            log.exception("misuse alert scan failed; it runs again at the next search")
            return True

    def _judge(self, entry: AuditEntry, pending: list[Finding]) -> list[Finding]:
        found: list[Finding | None] = []
        if entry.action in ("search", "search_refused"):
            found.append(self._outside_hours(entry))
        if entry.action == "search":
            found.append(self._same_face(entry))
            found.append(self._only_searching(entry, pending))
        if entry.action == "case_opened":
            found.append(self._reworded(entry))
        return [f for f in found if f is not None]

    # -- the rules -----------------------------------------------------------------------------

    def _outside_hours(self, entry: AuditEntry) -> Finding | None:
        rule = self._rule(alert_rules.HOURS)
        hour = _time(entry.at).hour
        if not rule.enabled or rule.start_hour <= hour < rule.end_hour:
            return None
        what = "search" if entry.action == "search" else "refused search"
        return Finding(
            alert_rules.HOURS,
            entry.actor,
            entry.details.get("case_id"),
            f"a {what} at {entry.at[11:16]} UTC, outside the set hours "
            f"{rule.start_hour:02d}:00-{rule.end_hour:02d}:00",
            {"search_id": entry.details.get("search_id"), "source_audit_id": entry.id},
        )

    def _same_face(self, entry: AuditEntry) -> Finding | None:
        rule = self._rule(alert_rules.SAME_FACE)
        case_id, probe_id = entry.details.get("case_id"), entry.details.get("probe_id")
        if not rule.enabled or case_id is None or probe_id is None:
            return None
        recent = self._recent
        since = _iso(_time(entry.at) - timedelta(days=rule.days))
        others = (recent.at >= since) & (recent.at <= entry.at) & (recent.case_id != int(case_id))
        if not others.any():
            return None
        sha = entry.details.get("probe_sha256")
        same_photo = others & (recent.sha256 == sha) if sha else np.zeros_like(others)
        matched = dict.fromkeys(
            sorted(set(recent.case_id[same_photo].tolist())), "the same probe photo (SHA-256)"
        )
        template = self._store.oversight.probe_template(int(probe_id), int(entry.details["face"]))
        limit = self._calibration.threshold_for(rule.false_match_rate)
        for i in np.flatnonzero(recent.near(template, others & ~same_photo, limit)):
            other = recent.probes[i]
            if other.case_id not in matched and self._still_held(other):
                matched[other.case_id] = "a probe face within the same-face distance"
        if not matched:
            return None
        cases = sorted(matched)
        return Finding(
            alert_rules.SAME_FACE,
            entry.actor,
            int(case_id),
            f"the face searched in case {case_id} was searched in {len(cases)} other "
            f"case(s) in the last {rule.days} days: {', '.join(map(str, cases[:10]))}",
            {
                "search_id": entry.details.get("search_id"),
                "other_cases": cases[:50],
                "how": sorted(set(matched.values())),
                "distance_limit": limit,
                "source_audit_id": entry.id,
            },
        )

    def _read_new_searches(self, first: AuditEntry) -> None:
        """Once a scan: forget the remembered probe faces now out of the same-face window of
        the scan's first entry, and read the searches run since the last read."""
        rule = self._rule(alert_rules.SAME_FACE)
        if not rule.enabled:
            return
        since = _iso(_time(first.at) - timedelta(days=rule.days))
        # Read again from a little before the newest id read: on PostgreSQL two searches'
        # transactions may commit out of id order, and a later read must still see the first.
        known = frozenset(p.search_id for p in self._recent.probes)
        new = self._store.oversight.searched_probes_after(
            self._recent_through - REREAD_SEARCHES, since, skip=known
        )
        if new:
            self._recent_through = max(self._recent_through, new[-1].search_id)
        kept = [p for p in self._recent.probes if p.at >= since]
        if new or len(kept) < len(self._recent.probes):
            self._recent = RecentProbes(sorted(kept + new, key=lambda p: p.search_id))

    def _still_held(self, other: SearchedProbe) -> bool:
        """A remembered template counts only while the store still holds it: retention may
        have destroyed it since it was read."""
        return self._store.oversight.probe_template(other.probe_id, other.face_index) is not None

    def _only_searching(self, entry: AuditEntry, pending: list[Finding]) -> Finding | None:
        rule = self._rule(alert_rules.CASE_SEARCHES)
        case_id = entry.details.get("case_id")
        if not rule.enabled or case_id is None:
            return None
        since = _iso(_time(entry.at) - timedelta(hours=rule.hours))
        # Counted in the database: a case's whole history read at each of its searches made
        # the scan grow with the case (37% of the server's CPU after 600 searches in one).
        window = self._store.audit.case_action_counts(int(case_id), since, entry.at)
        searches = window.get("search", 0)
        if searches < rule.searches:
            return None
        if any(action not in SEARCHING for action in window):
            return None  # reviews, closure, an export: the case is being worked
        pending_here = any(
            (f.rule, f.case_id) == (alert_rules.CASE_SEARCHES, int(case_id)) for f in pending
        )
        if pending_here or self._store.audit.count_since(
            ALERT, since, rule=alert_rules.CASE_SEARCHES, **{CASE_KEY: int(case_id)}
        ):
            return None  # raised already for this stretch
        return Finding(
            alert_rules.CASE_SEARCHES,
            entry.actor,
            int(case_id),
            f"{searches} searches in case {case_id} within {rule.hours} hours, "
            "with nothing else done in it",
            {"searches": searches, "hours": rule.hours, "source_audit_id": entry.id},
        )

    def _reworded(self, entry: AuditEntry) -> Finding | None:
        rule = self._rule(alert_rules.REWORDED)
        if not rule.enabled:
            return None
        since = _iso(_time(entry.at) - timedelta(hours=rule.hours))
        refused = [
            e
            for e in self._store.oversight.audit_between(
                since, entry.at, ("case_refused", "search_refused")
            )
            if e.actor == entry.actor
            and (refusal_category(e).startswith("purpose") or "allow-list" in str(e.details))
        ]
        if not refused:
            return None
        last = refused[-1]
        return Finding(
            alert_rules.REWORDED,
            entry.actor,
            entry.details.get("case_id"),
            f"case {entry.details.get('case')} was opened within {rule.hours} hours of "
            f"{len(refused)} refusal(s) of the same user's purpose: "
            f"{last.details.get('reason', '')}",
            {
                "refused_purpose": last.details.get("purpose"),
                "new_purpose": entry.details.get("purpose"),
                "refusal_audit_id": last.id,
                "source_audit_id": entry.id,
            },
        )

    # -- reading -------------------------------------------------------------------------------

    def alerts(self, actor: Principal, limit: int = 200) -> list[Alert]:
        """The newest alerts first, after judging what was written since the last scan."""
        rules.require_team_activity(actor)
        self.scan()
        entries = self._store.audit.filtered(
            AuditFilter(action=ALERT), limit=min(limit, MAX_LISTED)
        )
        return [Alert.from_entry(e) for e in entries]


class BackgroundScan:
    """Runs ``Alerts.scan`` in a thread of its own, a moment after it is woken: a search
    only wakes it (``poke``), and the searches of that moment are judged in one scan."""

    def __init__(self, alerts: Alerts, gather_seconds: float = 0.5):
        self._alerts = alerts
        self._gather = gather_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="misuse-alerts", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stopping.wait(self._gather):
                return
            self._wake.clear()
            if not self._alerts.scan_quietly():
                self._wake.set()  # another worker was judging: try again after the pause

    def close(self) -> None:
        """Stop, after judging what is left, so no search goes unjudged at shutdown."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self._alerts.scan_quietly()
