"""The hash-chained audit log, through a real Store: intact chains verify, and every kind of
tampering by someone who can write to the database is caught and located. Every test runs on
SQLite and on PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import itertools
import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from facesift.store import Store
from facesift.store.audit import GENESIS_HASH, AuditFilter, entry_hash
from facesift.store.records import AUDIT_ANCHOR_FILE

REFUSED = (sqlite3.DatabaseError, psycopg.Error)


@pytest.fixture
def store(tmp_path: Path, database_url: str | None) -> Iterator[Store]:
    store = Store(tmp_path, database_url)
    yield store
    store.close()


def fill(store: Store, count: int = 5) -> None:
    for n in range(1, count + 1):
        store.audit.append("search", {"case": f"case-{n}", "n": n}, actor=f"officer{n}")


def drop_triggers(store: Store) -> None:
    """What an attacker with write access to the file would do first."""
    if store.db.dialect == "sqlite":
        store.db.execute("DROP TRIGGER audit_log_no_update")
        store.db.execute("DROP TRIGGER audit_log_no_delete")
    else:
        store.db.execute("DROP TRIGGER audit_log_no_update ON audit_log")


def rows(store: Store) -> list[dict]:
    return [dict(r) for r in store.db.execute("SELECT * FROM audit_log ORDER BY id")]


def rewrite(store: Store, new_rows: list[dict]) -> None:
    """Replace the whole table with ``new_rows`` (triggers already dropped)."""
    store.db.execute("DELETE FROM audit_log")
    for row in new_rows:
        store.db.execute(
            "INSERT INTO audit_log (id, at, actor, action, details, prev_hash, hash)"
            " VALUES (:id, :at, :actor, :action, :details, :prev_hash, :hash)",
            row,
        )


def rehash(chain: list[dict]) -> list[dict]:
    """Renumber and recompute every link, as an attacker who knows the scheme would."""
    prev, out = GENESIS_HASH, []
    for number, row in enumerate(chain, start=1):
        row = {**row, "id": number, "prev_hash": prev}
        row["hash"] = entry_hash(
            prev, number, row["at"], row["actor"], row["action"], row["details"]
        )
        out.append(row)
        prev = row["hash"]
    return out


def forged(prev: dict, entry_id: int) -> dict:
    """A well-formed entry that links correctly to ``prev``."""
    row = {
        "id": entry_id,
        "at": prev["at"],
        "actor": "nobody",
        "action": "search",
        "details": '{"case":"forged"}',
        "prev_hash": prev["hash"],
    }
    row["hash"] = entry_hash(
        prev["hash"], entry_id, row["at"], row["actor"], row["action"], row["details"]
    )
    return row


# -- intact -----------------------------------------------------------------------------------


def test_empty_log_verifies(store: Store) -> None:
    report = store.audit.verify()
    assert report.ok and report.entries == 0 and report.first_bad_id is None


def test_intact_chain_verifies_and_links_each_entry_to_the_last(store: Store) -> None:
    fill(store)
    report = store.audit.verify()
    assert report.ok, report.problem
    assert report.entries == 5 and report.first_bad_id is None and report.problem is None
    entries = store.audit.entries()
    assert [e.id for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert len({e.hash for e in entries}) == 5


def test_entries_keep_what_was_appended(store: Store) -> None:
    returned = store.audit.append("remove_face", {"face_id": 7, "why": "ü"}, actor="ana")
    [stored] = store.audit.entries()
    assert stored == returned
    assert (stored.action, stored.details, stored.actor) == (
        "remove_face",
        {"face_id": 7, "why": "ü"},
        "ana",
    )


def test_entries_filter_by_action_and_page(store: Store) -> None:
    fill(store, 3)
    store.audit.append("remove_face", {"face_id": 1}, actor="ana")
    assert [e.id for e in store.audit.entries(action="remove_face")] == [4]
    assert [e.id for e in store.audit.entries(since_id=1, limit=2)] == [2, 3]


def test_anchor_holds_the_newest_entry(store: Store, tmp_path: Path) -> None:
    fill(store, 3)
    last = store.audit.entries()[-1]
    assert (tmp_path / AUDIT_ANCHOR_FILE).read_text().split() == [str(last.id), last.hash]


def test_chain_survives_reopening(tmp_path: Path, database_url: str | None) -> None:
    first = Store(tmp_path, database_url)
    fill(first, 2)
    first.close()
    second = Store(tmp_path, database_url)
    try:
        entry = second.audit.append("search", {"case": "later"}, actor="x")
        assert entry.id == 3
        assert second.audit.verify().ok
    finally:
        second.close()


# -- the triggers -----------------------------------------------------------------------------


def test_update_is_blocked_by_a_trigger(store: Store) -> None:
    fill(store, 2)
    with pytest.raises(REFUSED, match="append-only"):
        store.db.execute("UPDATE audit_log SET details = '{}' WHERE id = 1")
    assert store.audit.entries()[0].details == {"case": "case-1", "n": 1}
    assert store.audit.verify().ok


def test_delete_is_blocked_by_a_trigger(store: Store) -> None:
    fill(store, 2)
    with pytest.raises(REFUSED, match="append-only"):
        store.db.execute("DELETE FROM audit_log WHERE id = 2")
    assert len(store.audit.entries()) == 2
    assert store.audit.verify().ok


# -- tampering with the triggers dropped ------------------------------------------------------


def test_edited_details_are_caught_at_that_entry(store: Store) -> None:
    fill(store)
    drop_triggers(store)
    store.db.execute('UPDATE audit_log SET details = \'{"case":"innocent"}\' WHERE id = 3')
    report = store.audit.verify()
    assert not report.ok
    assert report.first_bad_id == 3 and report.entries == 2
    assert "entry 3" in report.problem and "edited" in report.problem


@pytest.mark.parametrize("column", ["actor", "action", "at"])
def test_any_edited_field_is_caught(store: Store, column: str) -> None:
    fill(store)
    drop_triggers(store)
    store.db.execute(f"UPDATE audit_log SET {column} = {column} || 'x' WHERE id = 2")
    report = store.audit.verify()
    assert not report.ok and report.first_bad_id == 2


def test_deleted_middle_entry_is_caught_and_named(store: Store) -> None:
    fill(store)
    drop_triggers(store)
    store.db.execute("DELETE FROM audit_log WHERE id = 3")
    report = store.audit.verify()
    assert not report.ok
    assert report.entries == 2
    # The break shows at the first surviving entry; the problem names the missing one.
    assert report.first_bad_id == 4
    assert "entry 3 was deleted" in report.problem


def test_several_deleted_middle_entries_are_named_as_a_range(store: Store) -> None:
    fill(store)
    drop_triggers(store)
    store.db.execute("DELETE FROM audit_log WHERE id IN (2, 3)")
    report = store.audit.verify()
    assert not report.ok and report.first_bad_id == 4
    assert "2..3" in report.problem


def test_deleted_first_entry_is_caught(store: Store) -> None:
    fill(store)
    drop_triggers(store)
    store.db.execute("DELETE FROM audit_log WHERE id = 1")
    report = store.audit.verify()
    assert not report.ok and report.first_bad_id == 2
    assert "entry 1 was deleted" in report.problem


def test_deleted_last_entry_is_caught_through_the_anchor(store: Store) -> None:
    fill(store)
    drop_triggers(store)
    store.db.execute("DELETE FROM audit_log WHERE id = 5")
    report = store.audit.verify()
    assert not report.ok
    assert report.entries == 4 and report.first_bad_id == 5
    assert "5..5" in report.problem and "end" in report.problem


def test_whole_log_deleted_is_caught_through_the_anchor(store: Store) -> None:
    fill(store, 3)
    drop_triggers(store)
    store.db.execute("DELETE FROM audit_log")
    report = store.audit.verify()
    assert not report.ok and report.entries == 0 and report.first_bad_id == 1
    assert "1..3" in report.problem


def test_forged_entry_inserted_in_the_middle_is_caught(store: Store) -> None:
    fill(store)
    drop_triggers(store)
    chain = rows(store)
    tampered = [*chain[:2], forged(chain[1], 3)] + [{**r, "id": r["id"] + 1} for r in chain[2:]]
    rewrite(store, tampered)
    report = store.audit.verify()
    assert not report.ok
    # The forgery itself links to entry 2; the entry after it no longer links to anything.
    assert report.first_bad_id == 4 and report.entries == 3
    assert "does not link" in report.problem


def test_crude_forged_entry_is_caught_at_itself(store: Store) -> None:
    fill(store)
    drop_triggers(store)
    chain = rows(store)
    crude = {**chain[2], "id": 3, "details": '{"case":"forged"}', "hash": "f" * 64}
    rewrite(store, [*chain[:2], crude] + [{**r, "id": r["id"] + 1} for r in chain[2:]])
    report = store.audit.verify()
    assert not report.ok and report.first_bad_id == 3


def test_forged_entry_with_the_whole_chain_rehashed_is_caught_by_the_anchor(
    store: Store,
) -> None:
    fill(store)
    drop_triggers(store)
    chain = rows(store)
    rewrite(store, rehash([*chain[:2], forged(chain[1], 3), *chain[2:]]))
    report = store.audit.verify()
    assert not report.ok
    assert report.first_bad_id == 5 and "anchor" in report.problem


def test_last_entry_edited_and_rehashed_is_caught_by_the_anchor(store: Store) -> None:
    fill(store)
    drop_triggers(store)
    chain = rows(store)
    rewrite(store, rehash([*chain[:4], {**chain[4], "details": '{"case":"innocent"}'}]))
    report = store.audit.verify()
    assert not report.ok and report.first_bad_id == 5


def test_two_swapped_entries_are_caught(store: Store) -> None:
    fill(store)
    drop_triggers(store)
    chain = rows(store)
    # Keep the ids in order and swap what they say (with their hashes).
    swapped = [chain[0], {**chain[2], "id": 2}, {**chain[1], "id": 3}, *chain[3:]]
    rewrite(store, swapped)
    report = store.audit.verify()
    assert not report.ok and report.first_bad_id == 2


# -- the anchor file --------------------------------------------------------------------------


def test_missing_anchor_with_entries_is_reported(store: Store, tmp_path: Path) -> None:
    fill(store, 2)
    (tmp_path / AUDIT_ANCHOR_FILE).unlink()
    report = store.audit.verify()
    assert not report.ok and report.entries == 2
    assert "anchor" in report.problem and "missing" in report.problem


def test_anchor_pointing_at_a_different_hash_is_reported(store: Store, tmp_path: Path) -> None:
    fill(store, 2)
    (tmp_path / AUDIT_ANCHOR_FILE).write_text(f"2 {'a' * 64}\n")
    report = store.audit.verify()
    assert not report.ok and report.first_bad_id == 2


@pytest.mark.parametrize("content", ["", "garbage\n", "two words\n", "3\n"])
def test_damaged_anchor_file_is_reported_not_a_crash(
    store: Store, tmp_path: Path, content: str
) -> None:
    fill(store, 2)
    (tmp_path / AUDIT_ANCHOR_FILE).write_text(content)
    report = store.audit.verify()
    assert not report.ok
    assert "anchor" in report.problem


# -- transactions -----------------------------------------------------------------------------


def test_entries_in_a_transaction_are_anchored_after_commit(store: Store, tmp_path: Path) -> None:
    fill(store, 1)
    anchor = tmp_path / AUDIT_ANCHOR_FILE
    before = anchor.read_text()
    with store.transaction():
        store.audit.append("remove_image", {"image_id": 1}, actor="ana")
        store.audit.append("remove_face", {"face_id": 2}, actor="ana")
        assert anchor.read_text() == before  # nothing is anchored before it is committed
    last = store.audit.entries()[-1]
    assert last.id == 3
    assert anchor.read_text().split() == ["3", last.hash]
    assert store.audit.verify().ok


def test_rolled_back_entries_leave_log_and_anchor_as_they_were(
    store: Store, tmp_path: Path
) -> None:
    fill(store, 1)
    anchor = tmp_path / AUDIT_ANCHOR_FILE
    before = anchor.read_text()
    with pytest.raises(RuntimeError), store.transaction():
        store.audit.append("remove_face", {"face_id": 2}, actor="ana")
        raise RuntimeError("crash before commit")
    assert [e.id for e in store.audit.entries()] == [1]
    assert anchor.read_text() == before
    assert store.audit.verify().ok
    assert store.audit.append("search", {"case": "next"}, actor="ana").id == 2


def test_crash_between_commit_and_anchor_is_not_a_false_alarm(store: Store, tmp_path: Path) -> None:
    fill(store, 2)
    anchor = tmp_path / AUDIT_ANCHOR_FILE
    behind = anchor.read_text()
    fill(store, 1)  # committed, then "crashed" before the anchor was replaced:
    anchor.write_text(behind)
    report = store.audit.verify()
    assert report.ok and report.entries == 3


def test_recent_entries_of_one_action_are_counted_through_the_index(store: Store) -> None:
    """Each sign-in and search counts recent entries of one action (lock-out, rate limit);
    that must stay an index lookup, not a scan of a log that only grows."""
    fill(store, 3)
    store.audit.append("login_failed", {"user": "rita"}, actor="rita")
    assert store.audit.count_since("login_failed", "2000-01-01", user="rita") == 1
    assert store.audit.count_since("login_failed", "2000-01-01", user="rory") == 0
    assert store.audit.count_since("search", "2000-01-01") == 3
    query = "SELECT COUNT(*) FROM audit_log WHERE action = ? AND at > ?"
    if store.db.dialect == "sqlite":
        plan = store.db.execute(f"EXPLAIN QUERY PLAN {query}", ("login_failed", "2000")).fetchall()
        assert any("INDEX audit_log_action_at" in row[3] for row in plan), plan
    else:
        # A table this small is read whole anyway; with that ruled out, the index must serve.
        store.db.execute("SET enable_seqscan = off")
        plan = store.db.execute(f"EXPLAIN {query}", ("login_failed", "2000")).fetchall()
        assert any("audit_log_action_at" in row[0] for row in plan), plan


# -- concurrent writers -----------------------------------------------------------------------

WRITERS, APPENDS_EACH = 6, 25


def _append_many(data_dir: str, database_url: str | None, writer: int) -> None:
    store = Store(Path(data_dir), database_url)
    try:
        for n in range(APPENDS_EACH):
            store.audit.append("search", {"writer": writer, "n": n}, actor=f"writer{writer}")
    finally:
        store.close()


def test_concurrent_appends_from_several_processes_never_fork_the_chain(
    store: Store, tmp_path: Path, database_url: str | None
) -> None:
    """Several processes append at once (as a server's workers and an ingest would): every
    entry is kept, ids run without a gap, each links to the one before, and the anchor holds
    a real entry. Without the lock on the chain's head two writers would read the same head
    and fork the chain (or collide on its next id)."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, like a real process
    writers = [
        context.Process(target=_append_many, args=(str(tmp_path), database_url, w))
        for w in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    entries = store.audit.entries()
    assert [e.id for e in entries] == list(range(1, WRITERS * APPENDS_EACH + 1))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert {(e.details["writer"], e.details["n"]) for e in entries} == {
        (w, n) for w in range(WRITERS) for n in range(APPENDS_EACH)
    }
    report = store.audit.verify()
    assert report.ok and report.entries == WRITERS * APPENDS_EACH, report.problem


# -- PostgreSQL: a role that may only append --------------------------------------------------


def test_a_role_without_update_and_delete_cannot_change_the_log_even_without_the_trigger(
    postgres_server, tmp_path: Path
) -> None:
    from facesift.store.database import grant_app_role

    owner_url = postgres_server.new_database()
    owner = Store(tmp_path, owner_url)
    with postgres_server.admin() as admin:
        admin.execute("DROP ROLE IF EXISTS facesift_app")
        admin.execute("CREATE ROLE facesift_app LOGIN")
    grant_app_role(owner.db, "facesift_app")
    app_url = owner_url.replace("postgresql://postgres@", "postgresql://facesift_app@")
    app = Store(tmp_path, app_url)
    try:
        fill(app, 3)  # the app role appends as usual
        app.accounts.add_user("ana", "hash", frozenset({"auditor"}), "active", "test")
        drop_triggers(owner)  # an attacker who got the trigger removed...
        for statement in (
            "UPDATE audit_log SET details = '{}' WHERE id = 1",
            "DELETE FROM audit_log WHERE id = 3",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.db.execute(statement)  # ...still cannot change it as the app
        assert app.audit.verify().ok and app.audit.verify().entries == 3
    finally:
        app.close()
        owner.close()


def test_the_app_role_keeps_storing_after_an_upgrade_adds_tables(
    postgres_server, tmp_path: Path
) -> None:
    # Granted on a version-17 database; the owner then upgrades it, and 0018-0020 add tables
    # that triggers write to on every ingest. The role must go on storing photos.
    from facesift.store.database import Database, grant_app_role
    from tests.synthetic import synthetic_images

    owner_url = postgres_server.new_database()
    old = Database(owner_url, migrate_up_to=17)
    role = "facesift_upgraded_app"  # its own: a role with grants in a database stays
    with postgres_server.admin() as admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            admin.execute(f"CREATE ROLE {role} LOGIN")
    grant_app_role(old, role)
    old.close()
    Store(tmp_path, owner_url).close()  # the owner runs 'facesift db migrate'
    app = Store(tmp_path, owner_url.replace("postgresql://postgres@", f"postgresql://{role}@"))
    try:
        with app.transaction():
            app.add_image(app.collection_id("press"), synthetic_images(1)[0])
        stats = app.stats()
        assert (stats.images, stats.faces) == (1, 1)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.db.execute("DELETE FROM audit_log")
    finally:
        app.close()


def test_counts_actions_and_pages_of_the_log_agree_with_its_entries(store: Store) -> None:
    """The unfiltered count is read from the newest id and the actions by a skip scan of
    the index: both must say what reading every entry says."""
    done = ["search", "login", "search", "case_opened", "audit_read", "search", "login"]
    for n, action in enumerate(done):
        store.audit.append(action, {"case_id": n % 3}, actor=f"user{n % 2}")
    everything = store.audit.entries()
    assert store.audit.count() == len(everything) == len(done)
    assert store.audit.actions() == sorted(set(done))
    assert store.audit.count(AuditFilter(action="search")) == 3
    assert store.audit.count(AuditFilter(actor="user1", action="login")) == 1
    assert store.audit.count(AuditFilter(case_id=0)) == sum(
        e.details.get("case_id") == 0 for e in everything
    )
    newest = store.audit.filtered(limit=3, offset=1)
    assert [e.id for e in newest] == [e.id for e in everything][-2:-5:-1]
    assert store.audit.filtered(AuditFilter(action="login"), limit=10) == [
        e for e in reversed(everything) if e.action == "login"
    ]


def test_an_empty_log_counts_nothing_and_has_no_actions(store: Store) -> None:
    assert store.audit.count() == 0 and store.audit.actions() == []


def test_verify_while_entries_are_appended_finds_nothing_wrong(
    tmp_path: Path, database_url: str | None
) -> None:
    """A server verifies while its requests and its misuse scan append. The anchor moved
    past what verify had read, and verify reported the log's end as deleted (seen in a CI
    run on PostgreSQL)."""
    reader, writer = Store(tmp_path, database_url), Store(tmp_path, database_url)
    stop = threading.Event()

    def append_until_stopped() -> None:
        while not stop.is_set():
            writer.audit.append("search", {"case_id": 1}, actor="ivan")

    fill(reader, 200)  # a walk long enough for appends to land during it
    appender = threading.Thread(target=append_until_stopped)
    appender.start()
    try:
        reports = [reader.audit.verify() for _ in range(40)]
    finally:
        stop.set()
        appender.join()
        writer.close()
    try:
        assert [r.problem for r in reports if not r.ok] == []
        assert reports[-1].entries > reports[0].entries  # the appends did run meanwhile
        assert reader.audit.verify().ok
    finally:
        reader.close()


def test_a_nul_character_in_details_never_breaks_reading_the_log(store: Store) -> None:
    """Request text reaches the log (a refused purpose, an audit filter). On PostgreSQL a
    JSON ``\\u0000`` made every later filtered read fail; the character is now replaced."""
    store.audit.append("audit_read", {"filters": {"since": "2026\x00-01-01"}}, actor="ana")
    store.audit.append("case_opened", {"case_id": 7}, actor="ivan")
    entries = store.audit.filtered(AuditFilter(case_id=7), limit=10, offset=0)
    assert store.audit.count(AuditFilter(case_id=7)) == 1 and entries[0].action == "case_opened"
    first = store.audit.entries(action="audit_read")[0]
    assert first.details["filters"]["since"] == "2026\ufffd-01-01"
    assert store.audit.verify().ok
