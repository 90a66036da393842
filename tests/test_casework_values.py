"""Casework returns typed values (``services.casework.values``), not the store's rows; the API
and the disclosure packet must still answer with exactly the fields the rows had (none added
as null, none lost), in the rows' order, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import json

from fastapi.testclient import TestClient

from facesift.api.schemas import SearchOut
from facesift.governance.roles import Principal, Role
from facesift.services.blind import View
from facesift.services.casework.values import Case, DisclosurePacket, Probe, Search
from facesift.store.values import CaseStatus, SearchStatus
from tests.server_world import PROBE, World

_references = itertools.count(1)


def test_a_case_answers_with_its_rows_fields(server_world: World, tmp_path) -> None:
    world = server_world.copy_to(tmp_path / "data")  # the shared world stays as built
    with TestClient(world.app()) as client:
        ivan = world.auth("ivan")
        body = {
            "reference": f"VALUES-{next(_references)}",
            "offense_category": "robbery",
            "purpose": "identify the suspect in an armed robbery of a pharmacy",
        }
        opened = client.post("/api/cases", json=body, headers=ivan)
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["id"]
        work = client.app.state.services.casework
        row = work.records.case(case_id)

        case = Case.model_validate(row)
        assert case.status is CaseStatus.OPEN
        assert case.searches is None and "searches" not in case.model_fields_set
        assert list(case.fields().items()) == list(row.items())  # same fields, same order

        assert set(opened.json()) == set(row)  # unset in the row: not sent, not even as null
        listed = client.get("/api/cases", headers=ivan).json()
        mine = next(c for c in listed if c["id"] == case_id)
        assert set(mine) == set(row) | {"searches"} and mine["searches"] == 0

        packet = client.get(f"/api/cases/{case_id}/disclosure", headers=ivan).json()
        assert list(packet["case"]) == list(row)

        closed = client.post(f"/api/cases/{case_id}/close", headers=ivan).json()
        assert closed["status"] == "closed" and set(closed) == set(row)


def test_a_probe_answers_with_its_rows_fields(server_world: World, tmp_path) -> None:
    world = server_world.copy_to(tmp_path / "data")  # the shared world stays as built
    with TestClient(world.app()) as client:
        ivan = world.auth("ivan")
        body = {
            "reference": f"VALUES-P-{next(_references)}",
            "offense_category": "robbery",
            "purpose": "identify the suspect in an armed robbery of a pharmacy",
        }
        case_id = client.post("/api/cases", json=body, headers=ivan).json()["id"]
        files = {"file": ("probe.jpg", PROBE.read_bytes())}
        uploaded = client.post(f"/api/cases/{case_id}/probes", files=files, headers=ivan)
        assert uploaded.status_code == 201, uploaded.text
        probe_id = uploaded.json()["id"]
        row = client.app.state.services.casework.records.probe(probe_id)

        probe = Probe.model_validate(row)
        assert probe.content is None and "content" not in probe.model_fields_set
        assert list(probe.fields().items()) == list(row.items())

        alone = set(row) | {"smallest_face_px", "scan_capped"}  # a probe on its own
        assert set(uploaded.json()) == alone
        assert set(client.get(f"/api/probes/{probe_id}", headers=ivan).json()) == alone
        listed = client.get(f"/api/cases/{case_id}", headers=ivan).json()["probes"]
        assert [set(p) for p in listed] == [set(row)]  # in a list: the row's fields only


def test_a_search_keeps_every_field_of_its_view(server_world: World, tmp_path) -> None:
    world = server_world.copy_to(tmp_path / "data")  # the shared world stays as built
    """No field of a search view (the requester's, blind, and the team's) is lost or added
    by the typed value; the API answers with the same fields."""
    with TestClient(world.app()) as client:
        ivan = world.auth("ivan")
        body = {
            "reference": f"VALUES-S-{next(_references)}",
            "offense_category": "robbery",
            "purpose": "identify the suspect in an armed robbery of a pharmacy",
        }
        case_id = client.post("/api/cases", json=body, headers=ivan).json()["id"]
        files = {"file": ("probe.jpg", PROBE.read_bytes())}
        probe_id = client.post(f"/api/cases/{case_id}/probes", files=files, headers=ivan)
        ran = client.post(
            f"/api/probes/{probe_id.json()['id']}/searches", json={"face_index": 0}, headers=ivan
        )
        assert ran.status_code == 201, ran.text
        search_id = ran.json()["id"]
        work = client.app.state.services.casework
        requester = Principal(world.user_ids["ivan"], "ivan", frozenset({Role.INVESTIGATOR}))
        auditor = Principal(world.user_ids["audrey"], "audrey", frozenset({Role.AUDITOR}))
        for who in (requester, auditor):
            view = work._search_view(who, search_id)
            search = Search.model_validate(view)
            assert search.model_fields_set == set(view)
            assert search.fields() == view
        assert search.view is View.FULL and search.status is SearchStatus.PENDING_REVIEW

        answered = client.get(f"/api/searches/{search_id}", headers=ivan).json()
        requester_view = work._search_view(requester, search_id)
        assert set(answered) == set(requester_view) & set(SearchOut.model_fields)
        assert "candidates" in answered and answered["candidates"] == []  # blind: withheld
        listed = client.get(f"/api/cases/{case_id}", headers=ivan).json()["searches"]
        assert "candidates" not in listed[0] and listed[0]["id"] == search_id


def test_the_disclosure_packet_is_exported_as_it_was_made(server_world: World, tmp_path) -> None:
    world = server_world.copy_to(tmp_path / "data")  # the shared world stays as built
    """The typed packet's fields are the packet's own, in its order, down to the JSON bytes."""
    with TestClient(world.app()) as client:
        ivan = world.auth("ivan")
        body = {
            "reference": f"VALUES-D-{next(_references)}",
            "offense_category": "robbery",
            "purpose": "identify the suspect in an armed robbery of a pharmacy",
        }
        case_id = client.post("/api/cases", json=body, headers=ivan).json()["id"]
        files = {"file": ("probe.jpg", PROBE.read_bytes())}
        probe = client.post(f"/api/cases/{case_id}/probes", files=files, headers=ivan).json()
        client.post(f"/api/probes/{probe['id']}/searches", json={"face_index": 0}, headers=ivan)
        work = client.app.state.services.casework
        ivan_himself = Principal(world.user_ids["ivan"], "ivan", frozenset({Role.INVESTIGATOR}))
        made = work._packet(ivan_himself, case_id)
        typed = DisclosurePacket.model_validate(made)
        assert json.dumps(typed.fields(), indent=2, default=str) == json.dumps(
            made, indent=2, default=str
        )
        assert typed.searches and typed.searches[0]["candidates"] == []  # blind, pending

        exported = client.get(f"/api/cases/{case_id}/disclosure", headers=ivan)
        assert exported.status_code == 200
        assert list(exported.json()) == list(made)
