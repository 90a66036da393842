"""Retention: what facesift keeps, for how long, and destruction that runs by itself.

The policy is the setting ``retention`` (an admin changes it; each change is audited):

- ``probe_images_days``: a probe's pixels, counted from the closure of its case;
- ``probe_templates_days``: a probe's face templates (embeddings), from closure;
- ``candidate_lists_days``: a search's candidate list and its reviews, from closure (the
  search's row, with its outcome and counts, stays as the record that it ran);
- ``collections``: ``{name: days}``, a gallery collection's period, counted from each
  photo's ingest; a collection not named is kept until removed;
- a manifest's ``retain_until`` (a date: through the end of that day, UTC): the photo is
  destroyed once it has passed, whatever its collection's period (receipt class
  ``gallery_images_past_retain_until``);
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
import logging
import threading
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
            "after the case is closed; where the investigator recorded why they must be kept, "
            "as long as the probe face templates.",
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
            "- Gallery photos whose source listed a date to keep them until: until the end of "
            "that day (UTC), whatever their collection."
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

    # Probe pixels go after probe_images_days (0 by default: at the first run after the case
    # closes), unless the investigator recorded why they must stay: then with the templates.
    pixels = records.probes_closed_before(
        cutoff(policy.probe_images_days), "pixels_destroyed_at", kept=False
    ) + records.probes_closed_before(
        cutoff(policy.probe_templates_days), "pixels_destroyed_at", kept=True
    )
    templates = records.probes_closed_before(
        cutoff(policy.probe_templates_days), "template_destroyed_at"
    )
    lists = records.searches_closed_before(cutoff(policy.candidate_lists_days))
    images = [
        row
        for name, days in sorted(policy.collections.items())
        for row in records.images_ingested_before(name, cutoff(days))
    ]
    # A photo past both its collection's period and its retain_until counts once, above.
    by_collection = {row["sha256"] for row in images}
    past_date = [
        row
        for row in records.images_past_retain_until(
            now.astimezone(UTC).isoformat("T", "microseconds")
        )
        if row["sha256"] not in by_collection
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
            "gallery_images_past_retain_until": Destroyed(
                len(past_date), [i["sha256"] for i in past_date]
            ),
        },
    )
    if dry_run:
        return report
    with store.transaction():
        records.destroy_probe_pixels([p["id"] for p in pixels], at)
        records.destroy_probe_templates([p["id"] for p in templates], at)
        records.destroy_candidate_lists([s["id"] for s in lists], at)
    for name, rows in (("gallery_images", images), ("gallery_images_past_retain_until", past_date)):
        gone = _remove_images(gallery, rows, actor)
        report.classes[name] = Destroyed(len(gone), gone)
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


def _remove_images(gallery: Gallery, rows: list[dict], actor: str | None) -> list[str]:
    """Rows, faces and vectors, through the gallery's removal path; the SHA-256s removed.
    One removed meanwhile (by an operator, an opt-out) is not ours to count."""
    hashes = [image["sha256"] for image in rows]
    return gallery.remove_images(hashes, actor or "retention", tombstone=False)


class RetentionTask:
    """``facesift serve --retention-hours H``: retention runs every H hours in a daemon
    thread of the server, as ``facesift retention run`` would (first after H hours, not at
    start). A failed run is logged and tried again at the next interval."""

    def __init__(self, gallery: Gallery, policy_of, interval_s: float):
        self._gallery, self._policy_of, self._interval_s = gallery, policy_of, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self.runs = 0

    def start(self) -> RetentionTask:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                run(self._gallery, Policy.from_setting(self._policy_of()), actor="retention")
                self.runs += 1
            except Exception:  # the server must outlive a failed run; the next one retries
                logging.getLogger(__name__).exception("retention run failed")
