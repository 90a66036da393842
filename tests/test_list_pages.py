"""The lists that grow with every search (the team's searches, the review queue) come a page
at a time, on SQLite and on PostgreSQL: pages follow one another without a gap or a repeat,
the queue's page is filled from searches the reviewer may still take, and the web pages link
to the next page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.server_world import PROBE, World
from tests.test_api import open_case

SEARCHES = 5


def _run_searches(client: TestClient, world: World, count: int) -> list[int]:
    lifted = client.put(  # a person's search limit (10 a minute) would refuse the pace
        "/api/settings/searches_per_minute", json={"value": 1000}, headers=world.auth("admin")
    )
    assert lifted.status_code == 200, lifted.text
    ivan = world.auth("ivan")
    body = {
        "reference": "PAGES-1",
        "offense_category": "robbery",
        "purpose": "identify the suspect in an armed robbery of a pharmacy",
    }
    case_id = client.post("/api/cases", json=body, headers=ivan).json()["id"]
    files = {"file": ("probe.jpg", PROBE.read_bytes())}
    probe = client.post(f"/api/cases/{case_id}/probes", files=files, headers=ivan).json()
    ran = []
    for _ in range(count):
        made = client.post(
            f"/api/probes/{probe['id']}/searches", json={"face_index": 0}, headers=ivan
        )
        assert made.status_code == 201, made.text
        ran.append(made.json()["id"])
    return ran


def _pages(client: TestClient, path: str, cursor: str, headers: dict) -> list[list[int]]:
    pages, last = [], None
    while True:
        query = f"?limit=2&{cursor}={last}" if last else "?limit=2"
        answer = client.get(path + query, headers=headers)
        assert answer.status_code == 200, answer.text
        page = [s["id"] for s in answer.json()]
        if not page:
            return pages
        pages.append(page)
        last = page[-1]


def test_lists_come_a_page_at_a_time(server_world: World, tmp_path) -> None:
    world = server_world.copy_to(tmp_path / "data")  # the shared world stays as built
    with TestClient(world.app()) as client:
        ran = _run_searches(client, world, SEARCHES)
        sam = world.auth("sam")

        whole = [s["id"] for s in client.get("/api/searches?limit=500", headers=sam).json()]
        assert whole == sorted(whole, reverse=True) and set(ran) <= set(whole)
        pages = _pages(client, "/api/searches", "before", sam)
        assert all(len(page) == 2 for page in pages[:-1])
        assert [i for page in pages for i in page] == whole  # no gap, no repeat
        assert len(client.get("/api/searches", headers=sam).json()) == min(50, len(whole))

        rita, rory, ivy = (world.auth(name) for name in ("rita", "rory", "ivy"))
        queue = [s["id"] for s in client.get("/api/reviews/queue?limit=500", headers=rita).json()]
        assert queue == sorted(queue) and set(ran) <= set(queue)
        pages = _pages(client, "/api/reviews/queue", "after", rita)
        assert [i for page in pages for i in page] == queue

        # Two others take the oldest of the new searches: it leaves rita's queue, and her
        # first page is still full, from the searches she may take.
        taken = ran[0]
        for other in (rory, ivy):
            took = client.post(f"/api/searches/{taken}/assignment", headers=other)
            assert took.status_code == 200, took.text
        after = [s["id"] for s in client.get("/api/reviews/queue?limit=500", headers=rita).json()]
        assert after == [i for i in queue if i != taken]
        first = client.get("/api/reviews/queue?limit=2", headers=rita).json()
        assert [s["id"] for s in first] == after[:2]
        held = next(
            s for s in client.get("/api/reviews/queue", headers=rory).json() if s["id"] == taken
        )
        assert held["assigned_to_you"] is True and held["reviewers_assigned"] == 2

        for bad in ("?limit=0", "?limit=501", "?before=0", "?before=x"):
            assert client.get("/api/searches" + bad, headers=sam).status_code == 422, bad


def test_the_activity_page_links_to_older_searches(server_world: World, tmp_path) -> None:
    world = server_world.copy_to(tmp_path / "data")
    with TestClient(world.app()) as client:
        sam = world.auth("sam")
        newest = client.get("/api/searches?limit=500", headers=sam).json()
        if len(newest) <= 50:
            _run_searches(client, world, 51 - len(newest))
            newest = client.get("/api/searches?limit=500", headers=sam).json()
        page = client.get("/activity", headers=sam)
        assert page.status_code == 200
        oldest_shown = newest[49]["id"]
        assert f'href="/activity?before={oldest_shown}"' in page.text
        older = client.get(f"/activity?before={oldest_shown}", headers=sam)
        assert older.status_code == 200 and f"Search {newest[50]['id']}" in older.text
        assert 'href="/activity"' in older.text


def test_a_case_lists_every_search_however_many(server_world: World, tmp_path) -> None:
    """A case's page, timeline and disclosure packet take all of its searches: cut at 500,
    a bigger case's packet would lose its oldest, and its timeline would show their
    reviewers' decisions before both were in."""
    world = server_world.copy_to(tmp_path / "data")
    with TestClient(world.app()) as client:
        (first,) = _run_searches(client, world, 1)
        records = client.app.state.services.casework.records
        row = dict(records._db.execute("SELECT * FROM searches WHERE id = ?", (first,)).one())
        copied = {k: v for k, v in row.items() if k not in ("id", "created_at", "audit_id")}
        with client.app.state.services.gallery.store.transaction():
            for _ in range(510):  # the same search's row again: a case with 511 searches
                records.add_search(copied, [])
        case_id = row["case_id"]
        assert len(records.searches(case_id=case_id)) == 511
        listed = client.get(f"/api/cases/{case_id}", headers=world.auth("ivan")).json()
        assert len(listed["searches"]) == 511 and listed["searches"][-1]["id"] == first


def _open_cases(client: TestClient, world: World, who: str, count: int) -> list[int]:
    return [open_case(client, world, who)["id"] for _ in range(count)]


def test_cases_come_a_page_at_a_time(server_world: World, tmp_path) -> None:
    """A supervisor's list of every case grows with the team's work (bench/load.py opened 30
    a level): 50 to a page, each page older than the last, and an investigator's pages hold
    only the cases she opened."""
    world = server_world.copy_to(tmp_path / "data")
    with TestClient(world.app()) as client:
        mine = _open_cases(client, world, "iris", 3)
        theirs = _open_cases(client, world, "ivan", 3)
        sam = world.auth("sam")
        whole = [c["id"] for c in client.get("/api/cases?limit=500", headers=sam).json()]
        assert whole == sorted(whole, reverse=True) and set(mine + theirs) <= set(whole)
        pages = _pages(client, "/api/cases", "before", sam)
        assert all(len(page) == 2 for page in pages[:-1])
        assert [i for page in pages for i in page] == whole  # no gap, no repeat
        own = [
            i for page in _pages(client, "/api/cases", "before", world.auth("iris")) for i in page
        ]
        assert set(mine) <= set(own) and not set(theirs) & set(own)

        if len(whole) <= 50:
            _open_cases(client, world, "ivan", 51 - len(whole))
            whole = [c["id"] for c in client.get("/api/cases?limit=500", headers=sam).json()]
        home = client.get("/", headers=sam)
        assert f'href="/?before={whole[49]}"' in home.text
        older = client.get(f"/?before={whole[49]}", headers=sam)
        assert older.status_code == 200 and f'href="/cases/{whole[50]}"' in older.text
        assert f'href="/cases/{whole[0]}"' not in older.text and 'href="/"' in older.text
        for bad in ("?limit=0", "?limit=501", "?before=0"):
            assert client.get("/api/cases" + bad, headers=sam).status_code == 422, bad
