"""The one configuration object: flags over the environment over the defaults, and a bad
value is refused with the setting's name, by the command line before anything runs."""

from __future__ import annotations

import pytest

from facesift.config import Config
from facesift.machine import usable_cores
from tests.helpers import run_cli


def test_flags_win_over_the_environment_which_wins_over_the_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("FACESIFT_HOME", str(tmp_path / "from-env"))
    monkeypatch.setenv("FACESIFT_VISION__DETECTOR", "hog")
    monkeypatch.setenv("FACESIFT_SERVER__PROBE_WORKERS", "3")
    config = Config()
    assert config.data_dir == tmp_path / "from-env"
    assert config.vision.detector == "hog" and config.vision.min_face_px == 40
    assert config.server.probe_workers == 3 and config.database_url is None
    flagged = config.with_flags(data_dir=tmp_path / "flag", vision={"min_face_px": 30})
    assert flagged.data_dir == tmp_path / "flag"
    assert (flagged.vision.detector, flagged.vision.min_face_px) == ("hog", 30)
    # A worker process started with this environment has the same configuration.
    monkeypatch.delenv("FACESIFT_SERVER__PROBE_WORKERS")
    for name, value in flagged.environment().items():
        monkeypatch.setenv(name, value)
    assert Config() == flagged


def test_the_server_s_processes_share_one_probe_analysis_a_core_unless_told() -> None:
    """With ``--workers 2`` each server process made a pool of every core: four analyses
    taking turns on two cores, each process holding its own models."""
    cores = usable_cores()
    assert Config().server.probe_processes() == cores
    assert Config(server={"workers": 2}).server.probe_processes() == max(1, cores // 2)
    assert Config(server={"workers": 2 * cores + 1}).server.probe_processes() == 1
    assert Config(server={"workers": 2, "probe_workers": 3}).server.probe_processes() == 3


def test_the_probe_preset_adds_the_cnn_only_behind_hog_and_only_when_asked() -> None:
    asked = {"detector": "hog", "second_pass": True}
    assert Config(vision=asked).vision.for_probes().fallback_detector == "mmod"
    assert Config(vision={"detector": "hog"}).vision.for_probes().fallback_detector is None
    assert Config(vision={"second_pass": True}).vision.for_probes().fallback_detector is None
    assert Config().vision.for_probes().fallback_detector is None
    assert Config().vision.for_ingest().fallback_detector is None


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("FACESIFT_VISION__DETECTOR", "sift", "vision.detector"),
        ("FACESIFT_VISION__MIN_FACE_PX", "tiny", "vision.min_face_px"),
        ("FACESIFT_SERVER__PORT", "70000", "server.port"),
    ],
)
def test_a_bad_setting_in_the_environment_is_a_usage_error_naming_it(
    monkeypatch, tmp_path, variable, value, named
) -> None:
    monkeypatch.setenv(variable, value)
    result = run_cli("stats", data_dir=tmp_path)
    assert result.returncode == 2
    assert named in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "facesift.db").exists()  # refused before anything was opened
