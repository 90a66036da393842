"""Retention: what facesift keeps, for how long, and destruction that runs by itself.

The policy is the setting ``retention`` (an admin changes it; each change is audited):

- ``probe_images_days``: a probe's pixels, counted from the closure of its case;
- ``probe_templates_days``: a probe's face templates (embeddings), from closure;
- ``candidate_lists_days``: a search's candidate list and its reviews, from closure (the
  search's row, with its outcome and counts, stays as the record that it ran);
- ``collections``: ``{name: days}``, a gallery collection's period, counted from each
  photo's ingest; a collection not named is kept until removed;
- the audit log is kept for the life of the system: it is hash-chained, and the chain is
  what proves that nothing else was destroyed unrecorded.

``facesift retention run`` (cron it daily) destroys what has expired: rows, vectors in the
index (through the gallery's removal path, so FAISS and Milvus alike) and the probe pixels
and templates. Each run writes a *destruction receipt* to the audit log: the policy, the
time it ran as of, and per class the count and the SHA-256s of what was destroyed.
``--dry-run`` shows the same without destroying or writing. The time is a parameter, so the
tests move the clock instead of waiting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from facesift.governance.retention_policy import DEFAULT_POLICY
from facesift.services.gallery import Gallery


@dataclass(frozen=True)
class Policy:
    probe_images_days: int
    probe_templates_days: int
    candidate_lists_days: int
    collections: dict[str, int]

    @classmethod
    def from_setting(cls, value: dict) -> Policy:
        return cls(**{**DEFAULT_POLICY, **value})

    def as_text(self) -> str:
        """The policy for the public, in words."""
        lines = [
            "What facesift keeps, and for how long",
            "",
            f"- Probe photos (the pictures searched with): {_days(self.probe_images_days)} "
            "after the case is closed.",
            f"- Probe face templates (numbers computed from a probe's faces): "
            f"{_days(self.probe_templates_days)} after the case is closed.",
            f"- Candidate lists and their reviews: {_days(self.candidate_lists_days)} after "
            "the case is closed. That a search ran, and its outcome, stays on record.",
        ]
        if self.collections:
            for name, days in sorted(self.collections.items()):
                lines.append(
                    f"- Gallery photos of the collection {name}: {_days(days)} "
                    "after they were added."
                )
        lines.append(
            "- Gallery photos of other collections: until removed (by their owner's request, "
            "an opt-out, or an operator)."
        )
        lines.append(
            "- The audit log: for the life of the system. It records every search, view, "
            "removal and destruction, and is hash-chained so that no entry can go unnoticed."
        )
        lines += [
            "",
            "Destruction runs by itself and leaves a receipt in the audit log: what kind of "
            "data, how many items, and the SHA-256 fingerprint of each.",
        ]
        return "\n".join(lines)


def _digest(store, search_id: int) -> str:
    """The SHA-256 of a candidate list with its reviews, as JSON with sorted keys."""
    content = {
        "search_id": search_id,
        "candidates": store.cases.candidates(search_id),
        "reviews": store.cases.reviews([search_id]),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _days(days: int) -> str:
    return "deleted at once" if days == 0 else f"{days} day{'s' if days != 1 else ''}"


@dataclass
class Destroyed:
    count: int = 0
    sha256s: list[str] = field(default_factory=list)


@dataclass
class Report:
    as_of: str
    dry_run: bool
    policy: dict
    classes: dict[str, Destroyed]
    audit_id: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def total(self) -> int:
        return sum(c.count for c in self.classes.values())


def run(
    gallery: Gallery,
    policy: Policy,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    actor: str | None = None,
) -> Report:
    """Destroy (or, ``dry_run``, list) what the policy says has expired by ``now``."""
    now = now or datetime.now(UTC)
    at = now.isoformat(timespec="microseconds")
    store, records = gallery.store, gallery.store.retention
    unstamped = records.closed_cases_without_time()
    if unstamped and not dry_run:
        # Closed before closure times were kept: their periods start now.
        with store.transaction():
            records.stamp_closed(unstamped, at)

    def cutoff(days: int) -> str:
        return (now - timedelta(days=days)).isoformat(timespec="microseconds")

    pixels = records.probes_closed_before(cutoff(policy.probe_images_days), "pixels_destroyed_at")
    templates = records.probes_closed_before(
        cutoff(policy.probe_templates_days), "template_destroyed_at"
    )
    lists = records.searches_closed_before(cutoff(policy.candidate_lists_days))
    images = [
        row
        for name, days in sorted(policy.collections.items())
        for row in records.images_ingested_before(name, cutoff(days))
    ]
    report = Report(
        as_of=at,
        dry_run=dry_run,
        policy=asdict(policy),
        classes={
            "probe_images": Destroyed(len(pixels), [p["sha256"] for p in pixels]),
            "probe_templates": Destroyed(len(templates), [p["sha256"] for p in templates]),
            "candidate_lists": Destroyed(len(lists), [_digest(store, s["id"]) for s in lists]),
            "gallery_images": Destroyed(len(images), [i["sha256"] for i in images]),
        },
    )
    if dry_run:
        return report
    with store.transaction():
        records.destroy_probe_pixels([p["id"] for p in pixels], at)
        records.destroy_probe_templates([p["id"] for p in templates], at)
        records.destroy_candidate_lists([s["id"] for s in lists], at)
    for image in images:  # rows, faces and vectors, through the gallery's removal path
        gallery.remove_image(image["sha256"], actor or "retention", tombstone=False)
    with store.transaction():
        entry = store.audit.append(
            "retention_destroyed",
            {
                "as_of": at,
                "policy": report.policy,
                "classes": {name: asdict(c) for name, c in report.classes.items()},
            },
            actor or "retention",
        )
    report.audit_id = entry.id
    return report
