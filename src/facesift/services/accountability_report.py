"""The accountability report: what this installation is, how well it works and within which
rules, generated from the live settings and records, never written by hand.

``facesift report accountability`` writes it as Markdown and HTML; the public transparency
page shows its summary. Every number comes from where the system itself reads it at run
time: the model ids the gallery recorded at ingest, the calibration searches use, the newest
auditors' evaluation on the audit log, the settings (refused purposes with their floor, the
retention policy), the accounts. So the report cannot say something the running system does
not do; regenerate it after a change of settings.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date

import facesift
from facesift.governance import alert_rules
from facesift.governance.roles import ALL_ROLES
from facesift.services import optout, retention
from facesift.services.calibration import Calibration
from facesift.services.gallery import Gallery
from facesift.services.search import operating_point
from facesift.services.settings import Settings
from facesift.store import AuditFilter
from facesift.store.audit import utc_now
from facesift.store.values import UserStatus

OPTOUT_PAGE = "/optout"
OPTOUT_STATUS_PAGE = "/optout/status"
TRANSPARENCY_PAGE = "/transparency"
ABSENCE = (
    '"No candidate" never means that the person is absent from the gallery: a face of the '
    "person may lie beyond the threshold (a poor photo, a different age or angle, another "
    "model's weakness), and the gallery holds only the collections listed."
)


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AccountabilityReport:
    generated_at: str
    summary: list[str]
    sections: list[Section]

    def to_markdown(self) -> str:
        lines = ["# facesift accountability report", "", f"Generated {self.generated_at}.", ""]
        lines += ["## Summary", ""] + [f"- {line}" for line in self.summary] + [""]
        for section in self.sections:
            lines += [f"## {section.title}", ""]
            for paragraph in section.paragraphs:
                lines += [paragraph, ""]
            if section.items:
                lines += [f"- {item}" for item in section.items] + [""]
        return "\n".join(lines)

    def to_html(self) -> str:
        e = html.escape
        parts = [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            "<title>facesift accountability report</title>",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "</head><body>",
            "<h1>facesift accountability report</h1>",
            f"<p>Generated {e(self.generated_at)}.</p>",
            "<h2>Summary</h2>",
            "<ul>" + "".join(f"<li>{e(line)}</li>" for line in self.summary) + "</ul>",
        ]
        for section in self.sections:
            parts.append(f"<h2>{e(section.title)}</h2>")
            parts += [f"<p>{e(p)}</p>" for p in section.paragraphs]
            if section.items:
                parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in section.items) + "</ul>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"


def accountability_report(
    gallery: Gallery, settings: Settings, calibration: Calibration
) -> AccountabilityReport:
    """The report from the live settings, records and calibration."""
    target_fpir = settings.get("target_fpir")
    size = gallery.size()
    operating = operating_point(calibration, size, target_fpir)
    refused = settings.refused_purposes()
    policy = retention.Policy.from_setting(settings.get("retention"))
    summary = [
        f"facesift {facesift.__version__}, embedder {calibration.model_id}.",
        f"The gallery holds {size:,} searchable faces.",
        f"A search of a stranger gives a candidate in about {target_fpir:.2%} of searches "
        f"(target false positive identification rate); about "
        f"{operating.true_match_rate:.1%} of searches of a person in the gallery find them "
        "(measured on LFW).",
        "Every candidate list is reviewed by two independent reviewers before anything is "
        "released, and every action is on a tamper-evident audit log.",
        "Refused purposes: " + "; ".join(r.category for r in refused) + ".",
        f"Anyone can ask to be removed and kept out, with no account, at {OPTOUT_PAGE}.",
    ]
    sections = [
        _system(gallery, calibration),
        _accuracy(gallery, calibration, operating),
        _purposes(settings),
        Section("Retention", paragraphs=policy.as_text().split("\n\n")),
        _roles(gallery),
        _alerts(settings),
        _opting_out(),
    ]
    return AccountabilityReport(utc_now(), summary, sections)


def _system(gallery: Gallery, calibration: Calibration) -> Section:
    models = gallery.models() or {}
    detectors = models.get("detectors") or []
    return Section(
        "System and models",
        items=[
            f"facesift version: {facesift.__version__}",
            "Embedder (face template model) of the gallery: "
            + (models.get("embedder") or "none yet"),
            f"Detectors the gallery was ingested with: {', '.join(detectors) or 'not recorded'}",
            f"Calibration used by searches: {calibration.model_id} ({calibration.source})",
            "The system searches still photos only. It never searches live video, never "
            "crawls the web, and never infers race, gender, age or emotion.",
        ],
    )


def _accuracy(gallery: Gallery, calibration: Calibration, operating) -> Section:
    items = [
        f"Search threshold for a gallery of {operating.gallery_size:,} faces: distance "
        f"{operating.threshold:.4f}, from a target false positive identification rate of "
        f"{operating.target_fpir:.2%} (the chance a stranger gets any candidate).",
        f"Expected false candidates per search: {operating.expected_false_candidates:.4f}.",
        f"Share of same-person pairs within the threshold (LFW): "
        f"{operating.true_match_rate:.1%}; so about {1 - operating.true_match_rate:.1%} of "
        "searches of a person in the gallery miss them.",
        f"The calibration rests on {calibration.impostor_pairs:,} different-person and "
        f"{calibration.genuine_pairs:,} same-person pairs of LFW (news photos of public "
        "figures); on other photos the rates can differ.",
    ]
    last = _last_evaluation(gallery)
    if last is None:
        items.append(
            "No auditors' evaluation on the audit log yet (facesift eval, /api/evaluations)."
        )
    else:
        details = last.details
        items.append(
            f"Newest auditors' evaluation ({last.at[:10]}, model {details.get('model_id')}, "
            f"{details.get('probes')} probes, {details.get('gallery_faces')} gallery faces): "
            f"false positive identification rate {_rate(details.get('operating_fpir'))}, "
            f"miss rate {_rate(details.get('operating_fnir'))}, "
            f"rank-1 {_rate(details.get('rank1'))}."
        )
        ratio = details.get("largest_group_ratio")
        if ratio is not None:
            items.append(f"Largest ratio between groups' error rates in it: {ratio}.")
    return Section(
        "Measured accuracy and its limits",
        paragraphs=[
            "Results are candidate leads, never identifications; a lead needs independent "
            "corroboration.",
            ABSENCE,
        ],
        items=items,
    )


def _rate(value: object) -> str:
    return f"{value:.2%}" if isinstance(value, float | int) else "not measured"


def _last_evaluation(gallery: Gallery):
    entries = gallery.store.audit.filtered(AuditFilter(action="evaluation_run"), limit=1)
    return entries[0] if entries else None


def _purposes(settings: Settings) -> Section:
    refused = settings.refused_purposes()
    required = settings.get("authorisation_required")
    items = [f"Allowed offense categories: {', '.join(settings.get('offense_categories'))}."]
    items += [
        f"Refused: {rule.category}: {rule.reason} (terms: {', '.join(rule.terms)})."
        for rule in refused
    ]
    items.append(
        "Offense categories that need an authorisation id and expiry: "
        + (", ".join(required) if required else "none set")
        + "."
    )
    return Section(
        "Allowed and refused purposes",
        paragraphs=[
            "Each case names an offense category from the allow-list and a purpose, checked "
            "against the refused purposes when the case is opened and again before every "
            "search. The three default refused categories cannot be removed."
        ],
        items=items,
    )


def _roles(gallery: Gallery) -> Section:
    today = date.today().isoformat()
    users = [u for u in gallery.store.accounts.users() if u.status == UserStatus.ACTIVE]
    items = []
    for role in ALL_ROLES:
        holders = [u for u in users if str(role) in u.roles]
        trained = [u for u in holders if u.training_expires and u.training_expires >= today]
        items.append(f"{role}: {len(holders)} active, {len(trained)} with valid training")
    return Section(
        "Roles and training",
        paragraphs=[
            "Searching and reviewing need a valid training attestation; nobody reviews their "
            "own search; admins, auditors, supervisors and privacy officers cannot search."
        ],
        items=items,
    )


def _alerts(settings: Settings) -> Section:
    items = []
    for key in alert_rules.RULES:
        rule = alert_rules.rule_setting(key, settings.get(key))
        shown = ", ".join(f"{k} {v}" for k, v in rule.model_dump().items() if k != "enabled")
        items.append(f"{key}: {'on' if rule.enabled else 'off'} ({shown})")
    return Section(
        "Misuse alerts",
        paragraphs=["Supervisors are alerted (and the audit log records it) when:"],
        items=items,
    )


def _opting_out() -> Section:
    return Section(
        "How to opt out",
        paragraphs=[
            f"Send one to {optout.MAX_SELFIES} selfies and a way to reach you at "
            f"{OPTOUT_PAGE} (no account needed; at most {optout.REQUESTS_PER_HOUR} requests an "
            "hour from one address), or ask the operator to run facesift optout request. "
            "A privacy officer, who never searches, confirms each face found; the faces are "
            "then deleted with a receipt on the audit log, and an encrypted template keeps "
            "new photos of you out of the gallery and out of every search. "
            f"The reference you get shows the status at {OPTOUT_STATUS_PAGE}.",
        ],
    )
