"""``facesift eval dataset``: a labelled set through the real ingest and search path, in a
sandbox, with rates overall and by group, and an HTML report with plots."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from facesift.errors import Conflict, InvalidInput
from facesift.services.calibration import load_calibration
from facesift.services.evaluation import evaluate_dataset, read_labels
from facesift.services.evaluation_report import render_html
from facesift.services.gallery import Gallery
from facesift.services.promotion import check_promotion
from facesift.services.settings import Settings
from facesift.vision import VisionConfig
from tests.conftest import FIXTURE, GALLERY_FACES
from tests.helpers import run_cli

CONFIG = VisionConfig(threads=1)


def _labels(tmp_path: Path, rows: list[dict], name: str = "labels.csv") -> Path:
    path = tmp_path / name
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _fixture_rows() -> list[dict]:
    with (FIXTURE / "labels.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _with_groups(tmp_path: Path) -> Path:
    """The fixture's labels with a made-up group column: people A-G and H-Z."""
    rows = [r | {"batch": "a-g" if r["identity"][:1] < "H" else "h-z"} for r in _fixture_rows()]
    return _labels(tmp_path, rows)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    labels = _with_groups(tmp_path_factory.mktemp("labels"))
    return evaluate_dataset(
        FIXTURE, labels, CONFIG, load_calibration(CONFIG.model_id), target_fpir=0.01
    )


def test_the_fixture_runs_through_ingest_and_search(report) -> None:
    assert report.gallery_photos == 20 and report.gallery_faces == GALLERY_FACES
    assert report.probes == 10 and report.mated_searches == 10
    assert report.non_mated_searches == 10  # each probe again, without its own person
    assert report.probes_without_face == 0
    assert report.rank1 == report.rank10 == 1.0  # every fixture probe finds its person
    assert report.operating_fnir == 0.0 and report.operating_fpir == 0.0
    assert set(report.fnir_at_fpir) == {"0.001", "0.01", "0.1"}
    assert set(report.tar_at_far) == {"0.001", "0.01"}
    assert len(report.genuine) == 20 and len(report.impostor) == 180  # 10 probes x 20 faces
    assert report.genuine.max() < report.impostor.min()  # the fixture separates cleanly


def test_per_group_rates_and_the_largest_ratio(report) -> None:
    assert [(g.column, g.value) for g in report.groups] == [("batch", "a-g"), ("batch", "h-z")]
    for g in report.groups:
        assert g.genuine_pairs > 0 and g.impostor_pairs > 0
        assert 0 <= g.fnmr <= 1 and 0 <= g.fmr <= 1
    (differential,) = report.differentials
    fnmrs = [g.fnmr for g in report.groups]
    if min(fnmrs) > 0:
        assert differential.fnmr_ratio == pytest.approx(max(fnmrs) / min(fnmrs))
    else:
        assert differential.fnmr_ratio in (1.0, float("inf"))
    document = json.dumps(report.as_dict(), allow_nan=False)  # inf is written as null
    assert '"largest_group_ratio"' in document


def test_the_html_report_has_its_plots(report) -> None:
    html = render_html(report)
    assert html.startswith("<!doctype html>")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3 and all(len(i) > 1000 for i in images)
    for words in ("FNIR at FPIR", "TAR at FAR", "Rank-10", "batch", "DET curves"):
        assert words in html


def test_bad_labels_are_refused_clearly(tmp_path) -> None:
    photo = "identities/Ariel_Sharon/Ariel_Sharon_0001.jpg"
    outside = _labels(tmp_path, [{"path": "../../etc/passwd", "identity": "x"}], "outside.csv")
    with pytest.raises(InvalidInput, match="not a path inside"):
        read_labels(FIXTURE, outside)
    missing = _labels(tmp_path, [{"path": "nope.jpg", "identity": "x"}], "missing.csv")
    with pytest.raises(InvalidInput, match=r"line 2 of the labels: nope\.jpg is not a file"):
        read_labels(FIXTURE, missing)
    no_identity = _labels(tmp_path, [{"path": photo, "who": "x"}], "header.csv")
    with pytest.raises(InvalidInput, match="path and identity"):
        read_labels(FIXTURE, no_identity)
    one = _labels(tmp_path, [{"path": photo, "identity": "x"}], "one.csv")
    with pytest.raises(InvalidInput, match="no gallery photo"):
        read_labels(FIXTURE, one)
    with pytest.raises(InvalidInput, match="no column sex"):
        read_labels(FIXTURE, _with_groups(tmp_path), ["sex"])


def test_without_roles_each_persons_first_photo_is_the_gallery(tmp_path) -> None:
    rows = [
        {"path": r["path"], "identity": r["identity"]}
        for r in _fixture_rows()
        if r["role"] in ("gallery", "probe")
    ]
    rows.append({"path": "group/dlib_2008_001009.jpg", "identity": "someone_once"})
    photos, groups = read_labels(FIXTURE, _labels(tmp_path, rows))
    assert groups == []
    assert sum(p.role == "gallery" for p in photos) == 10  # one per person with several
    loner = next(p for p in photos if p.identity == "someone_once")
    assert loner.role == "probe"  # a non-mated probe


def test_the_command_line_runs_in_a_sandbox_never_the_gallery(tmp_path, monkeypatch) -> None:
    production = tmp_path / "production"
    monkeypatch.setenv("FACESIFT_HOME", str(production))
    labels = _with_groups(tmp_path)
    report_file = tmp_path / "report.html"
    result = run_cli(
        "eval", "dataset", FIXTURE, "--labels", labels, "--report", report_file,
        "--workers", "1", "--json", data_dir=None, database_url="postgresql://nobody@/x",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["rank1"] == 1.0 and document["report"] == str(report_file)
    assert "FNIR at FPIR" in report_file.read_text()
    assert not production.exists()  # the production data folder was never opened


def _zip(rows: list[dict], extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr("labels.csv", text.getvalue())
        for row in rows:
            archive.write(FIXTURE / row["path"], row["path"])
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_auditors_upload_a_labelled_zip_and_get_the_report(fresh_world) -> None:
    world = fresh_world
    people = {"Colin_Powell", "Donald_Rumsfeld", "George_W_Bush"}
    rows = [
        {"path": r["path"], "identity": r["identity"], "role": r["role"], "site": r["identity"][0]}
        for r in _fixture_rows()
        if r["identity"] in people
    ]
    with TestClient(world.app()) as client:
        denied = client.post(
            "/api/evaluations", files={"file": ("s.zip", _zip(rows))}, headers=world.auth("sam")
        )
        assert denied.status_code == 403
        response = client.post(
            "/api/evaluations",
            files={"file": ("s.zip", _zip(rows))},
            data={"target_fpir": "0.01"},
            headers=world.auth("audrey"),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["gallery_photos"] == 6 and body["probes"] == 3 and body["rank1"] == 1.0
        assert [g["value"] for g in body["groups"]] == ["C", "D", "G"]
        assert body["html"].startswith("<!doctype html>") and "data:image/png" in body["html"]
        audit = client.get(
            "/api/audit", params={"action": "evaluation_run"}, headers=world.auth("audrey")
        ).json()["entries"]
        assert audit[-1]["details"]["probes"] == 3 and audit[-1]["actor"] == "audrey"
        stats = client.get("/api/stats", headers=world.auth("audrey")).json()
        assert "evaluation" not in {c["name"] for c in stats["collections"]}  # a sandbox

        for bad, reason in (
            (b"not a zip", "not a zip"),
            (_zip(rows, {"../escape.txt": b"x"}), "not a plain file path"),
            (_zip([{"path": rows[0]["path"], "identity": "x", "role": "gallery"}]), "no probe"),
        ):
            refused = client.post(
                "/api/evaluations", files={"file": ("s.zip", bad)}, headers=world.auth("audrey")
            )
            assert refused.status_code == 400 and reason in refused.json()["message"]


def test_the_promotion_gate_reads_an_evaluation(report) -> None:
    model = report.model_id
    assert check_promotion(None, model, None) == {"gate": "off"}
    with pytest.raises(Conflict, match="needs an evaluation"):
        check_promotion(None, model, 1.5)
    document = report.as_dict()
    with pytest.raises(Conflict, match="not onnx-other"):
        check_promotion(document, "onnx-other", 1.5)
    with pytest.raises(Conflict, match="no group columns"):
        check_promotion(document | {"differentials": []}, model, 1.5)
    # The fixture's made-up groups: one misses a same-person pair at the operating
    # threshold and the other none, an unbounded ratio: no evidence, refused.
    assert report.largest_group_ratio == float("inf")
    with pytest.raises(Conflict, match="FNMR ratio between groups of batch is unbounded"):
        check_promotion(document, model, 1.5)
    fair = {"column": "batch", "fnmr_ratio": 1.25, "fmr_ratio": 1.0}
    passed = check_promotion(document | {"differentials": [fair]}, model, 1.5)
    assert passed == {"gate": "passed", "tolerance": 1.5, "largest_group_ratio": 1.25}
    with pytest.raises(Conflict, match=r"1\.25, over the tolerance 1\.2"):
        check_promotion(document | {"differentials": [fair]}, model, 1.2)


def test_the_tolerance_is_a_checked_setting(tmp_path) -> None:
    with Gallery.open(tmp_path) as gallery:
        settings = Settings(gallery.store)
        assert settings.get("promotion_max_group_ratio") == 1.5
        with pytest.raises(InvalidInput, match="ratio of 1 or more"):
            settings.put(None, "promotion_max_group_ratio", 0.5)
        settings.put(None, "promotion_max_group_ratio", None)  # the gate off: audited
        assert gallery.store.audit.entries(action="setting_changed")[-1].details["to"] is None
        assert settings.get("promotion_max_group_ratio") is None


def test_a_threshold_whose_evaluation_is_over_the_tolerance_is_refused(fresh_world) -> None:
    world = fresh_world
    rows = [
        r | {"batch": "a-g" if r["identity"][:1] < "H" else "h-z"}
        for r in _fixture_rows()
        if r["role"] in ("gallery", "probe")
    ]
    admin = world.auth("admin")
    with TestClient(world.app()) as client:
        # No evaluation at 3%: the change is allowed, and its audit entry says so.
        allowed = client.put("/api/settings/target_fpir", json={"value": 0.03}, headers=admin)
        assert allowed.status_code == 200
        entry = client.get(
            "/api/audit", params={"action": "setting_changed"}, headers=world.auth("audrey")
        ).json()["entries"][-1]
        assert entry["details"]["promotion"] == {"gate": "no grouped evaluation"}

        ran = client.post(
            "/api/evaluations",
            files={"file": ("s.zip", _zip(rows))},
            data={"target_fpir": "0.01"},
            headers=world.auth("audrey"),
        )
        assert ran.status_code == 200, ran.text
        assert ran.json()["largest_group_ratio"] is None  # unbounded: one group misses a pair
        refused = client.put("/api/settings/target_fpir", json={"value": 0.01}, headers=admin)
        assert refused.status_code == 409
        assert "promotion gate refuses" in refused.json()["message"]
        assert client.get("/api/settings", headers=admin).json()["target_fpir"] == 0.03
