"""The database layer itself: both dialects behind one interface, ``facesift db migrate``, and
``facesift db copy`` from a single operator's SQLite file into PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesift.store import Store, transfer
from facesift.store.database import DATABASE_FILE, Database, schema_version
from facesift.store.values import UserStatus
from tests.conftest import photos
from tests.helpers import run_cli, run_json
from tests.server_world import PROBE
from tests.synthetic import synthetic_images


def test_placeholders_and_percent_signs_mean_the_same_on_both(
    tmp_path: Path, database_url: str | None
) -> None:
    store = Store(tmp_path, database_url)
    try:
        row = store.db.execute("SELECT '100%' AS a, ? AS b", ("x",)).fetchone()
        assert row is not None and (row["a"], row["b"], row[1]) == ("100%", "x", "x")
        named = store.db.execute("SELECT :v AS v", {"v": 5}).fetchone()
        assert named is not None and named["v"] == 5
    finally:
        store.close()


def test_migrate_reports_the_current_schema_on_both(
    tmp_path: Path, database_url: str | None
) -> None:
    code, report = run_json("db", "migrate", data_dir=tmp_path, database_url=database_url)
    dialect = "postgresql" if database_url else "sqlite"
    assert code == 0 and report["schema_version"] == schema_version(dialect)
    # Opening again applies nothing and keeps the data.
    store = Store(tmp_path, database_url)
    store.audit.append("search", {"case": "C"}, actor="a")
    store.close()
    db = Database(store.database_url)
    assert db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 1
    db.close()


def test_a_sqlite_gallery_copied_to_postgresql_keeps_faces_accounts_and_audit_chain(
    tmp_path: Path, postgres_server
) -> None:
    data = tmp_path / "data"
    gallery = [str(p.path) for p in photos("gallery")[:6]]
    run_cli("ingest", "--workers", "1", *gallery, data_dir=data, check=True)
    run_cli(
        "search",
        PROBE,
        *("--case", "C-1", "--purpose", "find the robber", "--offense-category", "robbery"),
        data_dir=data,
    )
    run_cli("users", "add", "chief", "--role", "admin", data_dir=data, check=True)
    _, before = run_json("stats", data_dir=data)
    target = postgres_server.new_database()
    source = f"sqlite:///{data / DATABASE_FILE}"

    code, copied = run_json("db", "copy", "--from", source, "--to", target, data_dir=data)
    assert code == 0, copied
    assert copied["audit_verified"] is True and copied["audit_entries"] >= 3
    assert copied["rows"]["faces"] == before["faces"] and copied["rows"]["users"] == 1

    _, after = run_json("stats", data_dir=data, database_url=target)
    assert {k: after[k] for k in ("images", "faces", "collections")} == {
        k: before[k] for k in ("images", "faces", "collections")
    }
    assert run_cli("audit", "verify", data_dir=data, database_url=target).returncode == 0
    # New rows get fresh ids after the copied ones, and the chain goes on from its head.
    store = Store(data, target)
    try:
        entry = store.audit.append("search", {"case": "after the copy"}, actor="x")
        assert entry.id == copied["audit_entries"] + 1
        user_id = store.accounts.add_user("ann", "h", frozenset(), UserStatus.ACTIVE, "test")
        assert user_id == 2
        assert store.audit.verify().ok
    finally:
        store.close()

    again = run_cli("db", "copy", "--from", source, "--to", target, data_dir=data)
    assert again.returncode == 1 and "not empty" in again.stderr


def test_a_copy_read_a_few_rows_at_a_time_holds_every_row(
    tmp_path: Path, postgres_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read in parts of 3 rows: 10 images and faces, a removed one leaving a gap in the ids,
    # and 14 audit entries, each table read in several parts and one part not full.
    # Tables keyed by something else than an id are read in parts by their key: settings by
    # a text key (8 rows), user roles by (user, role) (7 rows, two users' roles in a part).
    monkeypatch.setattr(transfer, "READ_ROWS", 3)
    source = Store(tmp_path / "source")
    target = Database(postgres_server.new_database())
    try:
        with source.transaction():
            collection = source.collection_id("press")
            for image in synthetic_images(10, seed=9):
                source.add_image(collection, image)
            source.delete_image(4)
            # a re-embedding half done: its staged vectors go with the copy
            staged = np.ones((4, 128), np.float32) * np.arange(4, dtype=np.float32)[:, None]
            source.reembedding.stage("next-model", [1, 2, 3, 5], staged)
            for number in range(8):
                source.settings.put_setting(f"key_{number}", number, "a")
            roles = [frozenset({"investigator", "reviewer", "auditor"}), frozenset({"admin"})]
            for name, held in zip(("ann", "bob", "cy"), [*roles, roles[0]], strict=True):
                source.accounts.add_user(name, "h", held, UserStatus.ACTIVE, "test")
        for number in range(14):
            source.audit.append("note", {"n": number}, actor="a")
        report = transfer.copy_database(source.db, target)
        for table, key in [
            ("images", "id"),
            ("faces", "id"),
            ("audit_log", "id"),
            ("settings", "key"),
            ("user_roles", "user_id, role"),
            ("face_reembeddings", "face_id"),
        ]:
            rows = f"SELECT * FROM {table} ORDER BY {key}"
            assert [dict(r) for r in target.execute(rows)] == [
                dict(r) for r in source.db.execute(rows)
            ]
        assert (report.rows["images"], report.rows["faces"], report.rows["audit_log"]) == (9, 9, 14)
        assert (report.rows["settings"], report.rows["user_roles"]) == (8, 7)
        assert report.rows["face_reembeddings"] == 4
        parts = [len(part) for part in transfer._read_in_parts(source.db, "user_roles")]
        assert parts == [3, 3, 1]
    finally:
        source.close()
        target.close()


@pytest.mark.parametrize(
    ("source_kind", "target_kind"),
    [("sqlite", "postgresql"), ("sqlite", "sqlite"), ("postgresql", "sqlite")],
)
def test_a_copy_never_gives_a_face_removed_before_it_its_id_again(
    tmp_path: Path, postgres_server, source_kind: str, target_kind: str
) -> None:
    # The newest image and its face are removed before the copy: past searches' candidates
    # and the audit log keep their ids, which must not come back as another photo's.
    def url_for(kind: str, name: str) -> str:
        if kind == "postgresql":
            return postgres_server.new_database()
        return f"sqlite:///{tmp_path / name / DATABASE_FILE}"

    source = Store(tmp_path / "source", url_for(source_kind, "source"))
    url = url_for(target_kind, "target")
    Store(tmp_path / "target", url).close()  # migrated, empty
    target = Database(url)
    try:
        with source.transaction():
            collection = source.collection_id("press")
            face_ids = [
                face_id
                for image in synthetic_images(4, seed=3)
                for face_id in source.add_image(collection, image)
            ]
            newest = source.db.execute("SELECT MAX(id) FROM images").one()[0]
            assert source.delete_image(newest) == [face_ids[-1]]
        transfer.copy_database(source.db, target)
        target.close()

        copied = Store(tmp_path / "target", url)
        try:
            with copied.transaction():
                collection = copied.collection_id("press")
                (new_face,) = copied.add_image(collection, synthetic_images(1, seed=4)[0])
            new_image = copied.db.execute("SELECT MAX(id) FROM images").one()[0]
        finally:
            copied.close()
        assert new_face > face_ids[-1] and new_image > newest
    finally:
        source.close()


def test_a_table_s_primary_key_is_named_on_both(tmp_path: Path, database_url: str | None) -> None:
    store = Store(tmp_path, database_url)
    try:
        assert store.db.primary_key_of("faces") == ["id"]
        assert store.db.primary_key_of("user_roles") == ["user_id", "role"]
        assert store.db.primary_key_of("search_candidates") == ["search_id", "rank"]
        with pytest.raises(ValueError, match="bad table name"):
            store.db.primary_key_of("faces; DROP TABLE faces")
    finally:
        store.close()


def test_a_table_s_columns_are_named_on_both(tmp_path: Path, database_url: str | None) -> None:
    store = Store(tmp_path, database_url)
    try:
        assert store.db.columns_of("face_log")[:2] == ["seq", "face_id"]
        assert "id" in store.db.columns_of("faces") and "id" not in store.db.columns_of(
            "user_roles"
        )
        with pytest.raises(ValueError, match="bad table name"):
            store.db.columns_of("faces; DROP TABLE faces")
    finally:
        store.close()


@pytest.mark.parametrize("url", ["mysql://x@y/z", "oracle://a"])
def test_other_databases_are_refused_by_name(tmp_path: Path, url: str) -> None:
    result = run_cli("stats", data_dir=tmp_path, database_url=url)
    assert result.returncode == 2 and "unsupported database" in result.stderr
