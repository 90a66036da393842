"""The settings page takes sizes in MB and lists as lists (issue 13, section 5): the refused
purposes as rows of a category, a reason and terms one per line, the quality floors as one
number per measure, the promotion gate as a number (empty: off); nothing as raw JSON."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from facesift.governance.policy import DEFAULT_REFUSED_PURPOSES
from tests.server_world import PASSWORD, World


def _form_as_shown(page: str) -> list[tuple[str, str]]:
    """The fields of the settings form with the values the page shows (a browser's post)."""
    fields = []
    for tag in re.finditer(r"<(input|textarea)([^>]*)>(?:([^<]*)</textarea>)?", page):
        attributes = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag.group(2)))
        if "name" not in attributes:
            continue
        value = tag.group(3) if tag.group(1) == "textarea" else attributes.get("value", "")
        fields.append((attributes["name"], value or ""))
    return fields


def _as_data(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return data


def test_sizes_in_mb_and_lists_as_lists(fresh_world: World) -> None:
    world = fresh_world
    with TestClient(world.app()) as client:
        client.post("/login", data={"name": "admin", "password": PASSWORD})
        page = client.get("/settings").text
        assert "Largest probe upload (MB)" in page and '"category"' not in page
        assert "JSON" not in page
        fields = _form_as_shown(page)
        names = [name for name, _ in fields]
        assert names.count("refused_category") == len(DEFAULT_REFUSED_PURPOSES) + 2
        changed = _as_data(fields)
        changed |= {"max_upload_mb": ["12.5"], "warning_min_face_px": ["80"]}
        changed["promotion_max_group_ratio"] = [""]
        new_row = len(DEFAULT_REFUSED_PURPOSES)  # the first empty row
        for name, value in (
            ("refused_category", "test"),
            ("refused_reason", "not allowed here"),
            ("refused_terms", "parade\nfestival"),
        ):
            assert changed[name][new_row] == ""
            changed[name][new_row] = value
        answer = client.post("/settings", data=changed, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        settings = client.get("/api/settings").json()
        assert settings["max_upload_bytes"] == 12_500_000
        assert settings["quality_warning_floor"]["min_face_px"] == 80
        assert settings["promotion_max_group_ratio"] is None
        assert settings["refused_purposes"][-1] == {
            "category": "test",
            "reason": "not allowed here",
            "terms": ["parade", "festival"],
        }
        assert len(settings["refused_purposes"]) == len(DEFAULT_REFUSED_PURPOSES) + 1
        # A row with a category but no terms: refused, saying which row and what it lacks.
        half = _as_data(_form_as_shown(client.get("/settings").text))
        half["refused_category"][-1] = "half"
        bad = client.post("/settings", data=half)
        assert bad.status_code == 400 and "needs a category, a reason and at least one term" in (
            bad.text
        )
        assert "12.5" in client.get("/settings").text
