"""What a view of the audit log costs when the log is big: a team's year is about a million
entries (every search, upload, review and read of the log is one), and the log is never cut.

    .venv/bin/python bench/audit_log.py --entries 1000000

Builds a valid chain of ``--entries`` entries in SQLite and in PostgreSQL (a server the
script starts), then times, in the same run and on the same log, what ``/audit`` and
``/api/audit`` ask the store for, the way it was asked before (``COUNT(*)`` over every
entry for the total, ``GROUP BY action`` for the page's list of actions) and the way it is
asked now (the newest id, a skip scan of the action index, an index by user). Medians of
``--repeat`` calls. PostgreSQL's table is vacuumed after the load, as autovacuum would.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from facesift.store import Store  # noqa: E402
from facesift.store.audit import GENESIS_HASH, AuditFilter, canonical_json, entry_hash  # noqa: E402
from tests.postgres import start_postgres  # noqa: E402

# A team's mix: mostly searches and uploads, a few of the rare actions.
ACTIONS = {
    "probe_uploaded": 30,
    "search": 30,
    "review": 10,
    "page_view": 10,
    "audit_read": 5,
    "login": 5,
    "case_opened": 3,
    "candidate_viewed": 3,
    "release": 1,
    "ingest": 1,
    "settings_changed": 0.1,
    "optout": 0.1,
    "retention_run": 0.1,
}
INSERT = (
    "INSERT INTO audit_log (id, at, actor, action, details, prev_hash, hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def chain(entries: int) -> Iterator[tuple]:
    """A valid chain (``audit verify`` would pass it), spread over the year's months."""
    rng = random.Random(1)
    names, weights = list(ACTIONS), list(ACTIONS.values())
    prev = GENESIS_HASH
    for entry_id in range(1, entries + 1):
        action = rng.choices(names, weights)[0]
        details = canonical_json({"case_id": rng.randint(1, 5000), "n": entry_id})
        at = f"2026-{1 + entry_id * 11 // entries:02d}-01T00:00:00.{entry_id:06d}Z"
        actor = "chief" if entry_id % 10_000 == 0 else f"user{entry_id % 40}"  # 40 users, 1 rare
        digest = entry_hash(prev, entry_id, at, actor, action, details)
        yield entry_id, at, actor, action, details, prev, digest
        prev = digest


def median_ms(call: Callable[[], object], repeat: int) -> float:
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


def measure(store: Store, label: str, repeat: int) -> None:
    audit, db = store.audit, store.audit._db
    rows = [
        ("total, before: COUNT(*)", lambda: db.execute("SELECT COUNT(*) FROM audit_log").one()),
        ("total, now: count()", audit.count),
        (
            "actions, before: GROUP BY",
            lambda: list(db.execute("SELECT action, COUNT(*) FROM audit_log GROUP BY action")),
        ),
        ("actions, now: actions()", audit.actions),
        ("newest 50: filtered(limit=50)", lambda: audit.filtered(limit=50)),
        (
            "a rare action: count(action=release)",
            lambda: audit.count(AuditFilter(action="release")),
        ),
        (
            "one user's newest 50: filtered(actor=user7)",
            lambda: audit.filtered(AuditFilter(actor="user7"), limit=50),
        ),
        ("one user: count(actor=user7)", lambda: audit.count(AuditFilter(actor="user7"))),
        (
            "a rare user's newest 50: filtered(actor=chief)",
            lambda: audit.filtered(AuditFilter(actor="chief"), limit=50),
        ),
        ("a rare user: count(actor=chief)", lambda: audit.count(AuditFilter(actor="chief"))),
    ]
    for name, call in rows:
        print(f"| {label} | {name} | {median_ms(call, repeat):.2f} |", flush=True)


def load(store: Store, rows: list[tuple], postgres_url: str | None = None) -> None:
    db = store.audit._db
    started = time.monotonic()
    with db.transaction():
        db.executemany(INSERT, rows)
    if postgres_url:  # what autovacuum does to a table that grows (PostgreSQL 13 and later)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE audit_log")
    else:
        db.execute("ANALYZE")
    print(f"  loaded in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"building a chain of {args.entries:,} entries...", file=sys.stderr, flush=True)
    rows = list(chain(args.entries))
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(f"\n{args.entries:,} entries, median of {args.repeat} calls\n")
    print("| database | query | ms |\n|---|---|---:|")
    with tempfile.TemporaryDirectory() as folder:
        sqlite = Store(Path(folder) / "sqlite")
        load(sqlite, rows)
        measure(sqlite, "SQLite", args.repeat)
        sqlite.close()
        with start_postgres() as server:
            url = server.new_database()
            postgres = Store(Path(folder) / "postgresql", url)
            load(postgres, rows, url)
            measure(postgres, "PostgreSQL", args.repeat)
            postgres.close()
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
