"""Rows for retention: what has outlived its period, and destroying it. Rows in, rows out;
the policy and the receipts live in ``services.retention``."""

from __future__ import annotations

from facesift.store.database import Database


class RetentionRecords:
    def __init__(self, db: Database):
        self._db = db

    def closed_cases_without_time(self) -> list[int]:
        """Cases closed before closure times were kept (migration 0010)."""
        rows = self._db.execute(
            "SELECT id FROM cases WHERE status = 'closed' AND closed_at IS NULL"
        )
        return [int(r[0]) for r in rows]

    def stamp_closed(self, case_ids: list[int], at: str) -> None:
        self._db.executemany(
            "UPDATE cases SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
            [(at, case_id) for case_id in case_ids],
        )

    def probes_closed_before(
        self, cutoff: str, destroyed_column: str, kept: bool | None = None
    ) -> list[dict]:
        """Probes of cases closed at or before ``cutoff`` whose ``destroyed_column`` is unset.
        ``kept``: only cases whose investigator recorded a reason to keep probe images (True),
        only those without one (False), or all (None)."""
        if destroyed_column not in ("pixels_destroyed_at", "template_destroyed_at"):
            raise ValueError(destroyed_column)
        keep = {
            None: "",
            True: " AND cases.keep_probe_images IS NOT NULL",
            False: " AND cases.keep_probe_images IS NULL",
        }[kept]
        rows = self._db.execute(
            "SELECT probes.id, probes.sha256, probes.case_id FROM probes"
            " JOIN cases ON cases.id = probes.case_id WHERE cases.status = 'closed'"
            f" AND cases.closed_at IS NOT NULL AND cases.closed_at <= ?"
            f" AND probes.{destroyed_column} IS NULL{keep} ORDER BY probes.id",
            (cutoff,),
        )
        return [dict(r) for r in rows]

    def destroy_probe_pixels(self, probe_ids: list[int], at: str) -> None:
        self._db.executemany(
            "UPDATE probes SET content = ?, pixels_destroyed_at = ? WHERE id = ?",
            [(b"", at, probe_id) for probe_id in probe_ids],
        )

    def destroy_probe_templates(self, probe_ids: list[int], at: str) -> None:
        self._db.executemany(
            "UPDATE probes SET embeddings = ?, template_destroyed_at = ? WHERE id = ?",
            [(b"", at, probe_id) for probe_id in probe_ids],
        )

    def searches_closed_before(self, cutoff: str) -> list[dict]:
        rows = self._db.execute(
            "SELECT searches.id, searches.case_id,"
            " (SELECT COUNT(*) FROM search_candidates WHERE search_id = searches.id) AS candidates"
            " FROM searches JOIN cases ON cases.id = searches.case_id"
            " WHERE cases.status = 'closed' AND cases.closed_at IS NOT NULL"
            " AND cases.closed_at <= ? AND searches.candidates_destroyed_at IS NULL"
            " ORDER BY searches.id",
            (cutoff,),
        )
        return [dict(r) for r in rows]

    def destroy_candidate_lists(self, search_ids: list[int], at: str) -> None:
        """The candidates and the reviews go; the search's row (its outcome) stays."""
        for search_id in search_ids:
            self._db.execute("DELETE FROM search_candidates WHERE search_id = ?", (search_id,))
            self._db.execute("DELETE FROM reviews WHERE search_id = ?", (search_id,))
            self._db.execute(
                "UPDATE searches SET candidates_destroyed_at = ? WHERE id = ?", (at, search_id)
            )

    def images_ingested_before(self, collection: str, cutoff: str) -> list[dict]:
        rows = self._db.execute(
            "SELECT images.id, images.sha256, images.path FROM images"
            " JOIN collections ON collections.id = images.collection_id"
            " WHERE collections.name = ? AND images.ingested_at <= ? ORDER BY images.id",
            (collection, cutoff),
        )
        return [dict(r) for r in rows]

    def images_past_retain_until(self, now: str) -> list[dict]:
        """Images whose manifest's ``retain_until`` (UTC ISO text) is before ``now``."""
        rows = self._db.execute(
            "SELECT id, sha256, path, retain_until FROM images"
            " WHERE retain_until IS NOT NULL AND retain_until < ? ORDER BY id",
            (now,),
        )
        return [dict(r) for r in rows]
