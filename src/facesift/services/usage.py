"""The usage report: what the team did in a period, per user and in total.

For supervisors and auditors (``facesift report usage``, ``/oversight/usage``,
``/api/oversight/usage``). Built from two sources, each for what it alone knows: the
searches table (each search's case, offense category, outcome, review state, whether the
probe was edited) and the audit log (refusals with their reasons, removals). A refusal's
*category* is the rule that refused it: a refused purpose's own category (``purpose:
immigration enforcement``), an offense not on the allow-list, the photo's quality, the
case's scope or authorisation, a role or training rule, the rate limit.

Reviewer agreement is counted over the searches of the period that have two reviews: the
two agree when they made the same decision (and, for a confirmation, named the same face).
A team whose reviewers always agree may be rubber-stamping; one that rarely agrees may need
training: the number is for a supervisor to read, not a target.

Reading the report is itself audited (``usage_report_read``, with the period).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from facesift.errors import InvalidInput
from facesift.governance import roles as rules
from facesift.governance.roles import Principal
from facesift.store import AuditEntry, Store
from facesift.store.oversight import ReviewUsage, SearchUsage

REFUSALS = ("case_refused", "search_refused", "access_refused", "search_rate_limited")
REMOVALS = ("remove_image", "remove_face", "optout_face_removed")
MAX_DAYS = 3660  # ten years: a longer period is a typo


@dataclass
class Tally:
    """The counts of one user, or of everyone."""

    searches: int = 0
    with_candidates: int = 0
    no_candidate: int = 0
    edited_probes: int = 0
    released: int = 0
    no_lead: int = 0
    inconclusive: int = 0
    pending_review: int = 0
    refusals: int = 0
    reviews: int = 0
    reviews_in_agreement: int = 0
    removals: int = 0

    def count_search(self, search: SearchUsage) -> None:
        self.searches += 1
        if search.outcome == "no_candidate":
            self.no_candidate += 1
        else:
            self.with_candidates += 1
        self.edited_probes += int(search.edited_probe)
        if search.status in ("released", "no_lead", "inconclusive", "pending_review"):
            setattr(self, search.status, getattr(self, search.status) + 1)


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date  # inclusive

    @property
    def since(self) -> str:
        return self.first_day.isoformat()

    @property
    def until(self) -> str:
        """The day after the last, as text: ``at < until`` takes the whole last day."""
        return (self.last_day + timedelta(days=1)).isoformat()

    @classmethod
    def parse(cls, first: str | None, last: str | None) -> Period:
        """From two ISO dates (inclusive). Without ``first``: the 30 days to ``last``;
        without ``last``: today (UTC)."""
        last_day = _day(last, "to") if last else date.today()
        first_day = _day(first, "from") if first else last_day - timedelta(days=29)
        if last_day >= date.max:  # the day after it must exist
            raise InvalidInput(f"--to is a date before {date.max.isoformat()}")
        if first_day > last_day:
            raise InvalidInput(f"the period starts ({first_day}) after it ends ({last_day})")
        if (last_day - first_day).days > MAX_DAYS:
            raise InvalidInput(f"a usage period is at most {MAX_DAYS} days")
        return cls(first_day, last_day)


@dataclass(frozen=True)
class Agreement:
    decided_pairs: int
    agreed: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.decided_pairs if self.decided_pairs else None


@dataclass
class UsageReport:
    first_day: str
    last_day: str
    total: Tally
    per_user: dict[str, Tally]
    by_offense_category: dict[str, int]
    by_outcome: dict[str, int]
    refusals_by_category: dict[str, int]
    agreement: Agreement
    alerts: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["agreement"]["rate"] = self.agreement.rate
        return data


def _day(value: str, which: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"--{which} is a date like 2026-05-31, not {value!r}") from None


def usage_report(store: Store, period: Period) -> UsageReport:
    """The counts for the period (no role check: the CLI's operator, or ``Usage.report``)."""
    records = store.oversight
    searches = records.searches_between(period.since, period.until)
    reviews = records.reviews_of_searches_between(period.since, period.until)
    refusals = records.audit_between(period.since, period.until, REFUSALS)
    removals = records.audit_between(period.since, period.until, REMOVALS)
    alerts = records.audit_between(period.since, period.until, ("misuse_alert",))
    per_user: dict[str, Tally] = defaultdict(Tally)
    total = Tally()
    for search in searches:
        total.count_search(search)
        per_user[search.requester].count_search(search)
    for entry in refusals:
        total.refusals += 1
        per_user[entry.actor].refusals += 1
    for entry in removals:
        total.removals += 1
        per_user[entry.actor].removals += 1
    agreement = _agreement(reviews, total, per_user)
    return UsageReport(
        first_day=period.since,
        last_day=period.last_day.isoformat(),
        total=total,
        per_user=dict(sorted(per_user.items())),
        by_offense_category=dict(Counter(s.offense_category for s in searches).most_common()),
        by_outcome=dict(Counter(s.status for s in searches).most_common()),
        refusals_by_category=dict(Counter(refusal_category(e) for e in refusals).most_common()),
        agreement=agreement,
        alerts=len(alerts),
    )


def _agreement(reviews: list[ReviewUsage], total: Tally, per_user: dict[str, Tally]) -> Agreement:
    by_search: dict[int, list[ReviewUsage]] = defaultdict(list)
    for review in reviews:
        by_search[review.search_id].append(review)
        total.reviews += 1
        per_user[review.reviewer].reviews += 1
    pairs = agreed = 0
    for pair in by_search.values():
        if len(pair) < 2:
            continue
        pairs += 1
        first, second = pair[0], pair[1]
        if (first.decision, first.candidate_face_id) == (second.decision, second.candidate_face_id):
            agreed += 1
            for review in (first, second):
                total.reviews_in_agreement += 1
                per_user[review.reviewer].reviews_in_agreement += 1
    return Agreement(pairs, agreed)


_PURPOSE = re.compile(r"purpose refused \(([^)]*)\)")


def refusal_category(entry: AuditEntry) -> str:
    """The rule behind a refusal, as a short category."""
    if entry.action == "search_rate_limited":
        return "rate limit"
    if entry.action == "access_refused":
        return "role, training or ownership"
    reason = str(entry.details.get("reason", ""))
    found = _PURPOSE.search(reason)
    if found:
        return f"purpose: {found.group(1)}"
    if "quality" in entry.details:
        return "photo quality"
    if "allow-list" in reason:
        return "offense not allowed"
    if "authorisation" in reason:
        return "authorisation"
    if "collection" in reason:
        return "scope"
    return "other"


class Usage:
    """The usage report for supervisors and auditors, audited."""

    def __init__(self, store: Store):
        self._store = store

    def report(self, actor: Principal, first: str | None, last: str | None) -> UsageReport:
        rules.require_team_activity(actor)
        period = Period.parse(first, last)
        self._store.audit.append(
            "usage_report_read",
            {"from": period.since, "to": period.last_day.isoformat()},
            actor.name,
        )
        return usage_report(self._store, period)
