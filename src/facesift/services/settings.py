"""Settings an admin may change at run time, each change audited. Unset keys use defaults."""

from __future__ import annotations

from facesift.errors import InvalidInput
from facesift.governance import policy, purpose_floor, retention_policy, search_policy
from facesift.governance import roles as rules
from facesift.governance.roles import Principal
from facesift.services import promotion, quality_gate
from facesift.services.gallery import MODELS_SETTING as GALLERY_MODELS_SETTING
from facesift.store import Store

DEFAULTS: dict[str, object] = {
    "offense_categories": policy.DEFAULT_OFFENSE_CATEGORIES,
    "refused_purposes": policy.DEFAULT_REFUSED_PURPOSES,
    "searches_per_minute": policy.DEFAULT_SEARCHES_PER_MINUTE,
    "max_upload_bytes": policy.DEFAULT_MAX_UPLOAD_BYTES,
    "target_fpir": search_policy.DEFAULT_TARGET_FPIR,
    "retention": retention_policy.DEFAULT_POLICY,
    # Offense categories whose cases must carry an authorisation id and expiry date.
    "authorisation_required": [],
    quality_gate.WARNING_SETTING: quality_gate.DEFAULT_WARNING_FLOOR,
    quality_gate.REFUSAL_SETTING: quality_gate.DEFAULT_REFUSAL_FLOOR,
    promotion.TOLERANCE_SETTING: promotion.DEFAULT_TOLERANCE,
}


def _check(key: str, value: object) -> None:
    if key not in DEFAULTS:
        raise InvalidInput(f"unknown setting {key!r}; the settings are {', '.join(DEFAULTS)}")
    if key == "offense_categories" and not (
        isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
    ):
        raise InvalidInput("offense_categories is a non-empty list of names")
    if key == "refused_purposes" and not (
        isinstance(value, list)
        and all(isinstance(v, dict) and {"category", "reason", "terms"} <= set(v) for v in value)
    ):
        raise InvalidInput("refused_purposes is a list of {category, reason, terms}")
    if key == "refused_purposes":
        purpose_floor.require_floor(value)  # type: ignore[arg-type]
    if key == "retention":
        retention_policy.check_policy(value)
    if key == "authorisation_required" and not (
        isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    ):
        raise InvalidInput("authorisation_required is a list of offense categories")
    if key in ("searches_per_minute", "max_upload_bytes") and not (
        isinstance(value, int) and not isinstance(value, bool) and value > 0
    ):
        raise InvalidInput(f"{key} is a positive whole number")
    low, high = search_policy.MIN_TARGET_FPIR, search_policy.MAX_TARGET_FPIR
    if key == "target_fpir" and not (
        isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
    ):
        raise InvalidInput(f"target_fpir is a rate between {low:g} and {high:g}")
    if key in (quality_gate.WARNING_SETTING, quality_gate.REFUSAL_SETTING):
        quality_gate.check_floor(key, value)
    if key == promotion.TOLERANCE_SETTING:
        promotion.check_tolerance(value)


class Settings:
    def __init__(self, store: Store):
        self._store = store
        self._records = store.settings

    def get(self, key: str):
        # A stored null is a value (the promotion gate turned off), not an unset key.
        return self._records.setting_or(key, DEFAULTS[key])

    def all(self) -> dict[str, object]:
        return {key: self.get(key) for key in DEFAULTS}

    def read(self, actor: Principal) -> dict[str, object]:
        """Every setting, for those who oversee or administer the system."""
        rules.require_read_settings(actor)
        return self.all()

    def put(self, actor: Principal | None, key: str, value: object) -> None:
        if actor is not None:
            rules.require_change_settings(actor)
        _check(key, value)
        name = actor.name if actor else "operator"
        details: dict = {}
        if key == "target_fpir" and value != self.get(key):
            details["promotion"] = self._threshold_promotion(value)
        with self._store.transaction():
            before = self.get(key)
            self._records.put_setting(key, value, name)
            self._store.audit.append(
                "setting_changed", {"key": key, "from": before, "to": value, **details}, name
            )

    def update(self, actor: Principal, values: dict[str, object]) -> list[str]:
        """Put each value that differs from the current one; returns the keys changed.
        All are checked before any is written."""
        rules.require_change_settings(actor)
        for key, value in values.items():
            _check(key, value)
        changed = [key for key, value in values.items() if value != self.get(key)]
        for key in changed:
            self.put(actor, key, values[key])
        return changed

    def _threshold_promotion(self, target_fpir: float) -> dict:
        """The promotion gate for a new default threshold: refused (Conflict) when the
        newest auditors' evaluation of the gallery's model at this target FPIR shows a
        per-group differential over the tolerance. With no such evaluation (or one without
        groups) the change is allowed, and its audit entry says so."""
        tolerance = self.get(promotion.TOLERANCE_SETTING)
        models = self._store.settings.setting(GALLERY_MODELS_SETTING)
        model_id = models.get("embedder") if isinstance(models, dict) else None
        runs = [
            e.details
            for e in self._store.audit.entries(action="evaluation_run")
            if e.details.get("model_id") == model_id
            and e.details.get("target_fpir") == target_fpir
            and e.details.get("differentials")
        ]
        if tolerance is None or not runs:
            return {"gate": "off" if tolerance is None else "no grouped evaluation"}
        return promotion.check_promotion(runs[-1], model_id, tolerance)

    def judge_quality(self, face: dict) -> quality_gate.QualityVerdict:
        """The quality gate's verdict on a described probe face, at the current floors."""
        return quality_gate.judge(
            face,
            self.get(quality_gate.WARNING_SETTING),
            self.get(quality_gate.REFUSAL_SETTING),
        )

    def refused_purposes(self) -> list[policy.RefusedPurpose]:
        return policy.refused_purposes(purpose_floor.with_floor(self.get("refused_purposes")))
