"""Settings are read together and kept for a second (``Settings.FRESH_FOR``): a change made
through the same object applies at once, one made by another process within the second, and
what a caller is given is its own (changing it changes nothing stored)."""

from __future__ import annotations

import time
from pathlib import Path

from facesift.compose import open_store
from facesift.services.settings import DEFAULTS, Settings


def test_a_change_applies_at_once_here_and_within_a_second_elsewhere(tmp_path: Path) -> None:
    server_store, cli_store = open_store(tmp_path), open_store(tmp_path)  # two processes' views
    try:
        server, cli = Settings(server_store), Settings(cli_store)
        assert server.get("searches_per_minute") == DEFAULTS["searches_per_minute"]

        server.put(None, "searches_per_minute", 42)
        assert server.get("searches_per_minute") == 42  # here: at once

        cli.put(None, "searches_per_minute", 7)  # elsewhere
        changed_at = time.monotonic()
        while server.get("searches_per_minute") != 7:
            assert time.monotonic() - changed_at < Settings.FRESH_FOR + 0.5
            time.sleep(0.05)
        audit = [e.details for e in server_store.audit.entries(action="setting_changed")]
        # Each change's entry holds the value it replaced as stored, not a kept copy.
        assert [(d["from"], d["to"]) for d in audit] == [(10, 42), (42, 7)]
    finally:
        server_store.close()
        cli_store.close()


def test_a_caller_owns_the_value_it_is_given(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        settings = Settings(store)
        purposes = settings.get("refused_purposes")
        purposes.clear()
        assert settings.get("refused_purposes") == DEFAULTS["refused_purposes"] != []
    finally:
        store.close()


def test_the_refused_purposes_are_built_again_when_the_setting_changes(tmp_path: Path) -> None:
    """They are built once and kept while the setting's text is the same; a change here
    applies at once, one elsewhere within the settings' second, and the list is the
    caller's own."""
    server_store, cli_store = open_store(tmp_path), open_store(tmp_path)
    try:
        server, cli = Settings(server_store), Settings(cli_store)
        before = server.refused_purposes()
        before.clear()
        assert not any(r.matches("questioning a fortune teller") for r in server.refused_purposes())
        assert server.refused_purposes() != []
        added = {"category": "fortune", "reason": "no fortune tellers", "terms": ["fortune"]}
        server.put(None, "refused_purposes", DEFAULTS["refused_purposes"] + [added])
        assert any(r.matches("questioning a fortune teller") for r in server.refused_purposes())

        cli.put(None, "refused_purposes", DEFAULTS["refused_purposes"])  # elsewhere
        changed_at = time.monotonic()
        while any(r.matches("questioning a fortune teller") for r in server.refused_purposes()):
            assert time.monotonic() - changed_at < Settings.FRESH_FOR + 0.5
            time.sleep(0.05)
    finally:
        server_store.close()
        cli_store.close()
