"""Settings an admin may change at run time, each change audited. Unset keys use defaults."""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from facesift.errors import InvalidInput
from facesift.governance import (
    alert_rules,
    policy,
    purpose_floor,
    retention_policy,
    search_policy,
)
from facesift.governance import roles as rules
from facesift.governance.purpose_text import normalise
from facesift.governance.roles import ALL_ROLES, Principal
from facesift.services import promotion, quality_gate
from facesift.services.gallery import MODELS_SETTING as GALLERY_MODELS_SETTING
from facesift.store import Store
from facesift.store.audit import CLI_ACTOR_PREFIX

DEFAULTS: dict[str, object] = {
    "offense_categories": policy.DEFAULT_OFFENSE_CATEGORIES,
    "refused_purposes": policy.DEFAULT_REFUSED_PURPOSES,
    "searches_per_minute": policy.DEFAULT_SEARCHES_PER_MINUTE,
    "max_upload_bytes": policy.DEFAULT_MAX_UPLOAD_BYTES,
    "target_fpir": search_policy.DEFAULT_TARGET_FPIR,
    "retention": retention_policy.DEFAULT_POLICY,
    # Offense categories whose cases must carry an authorisation id and expiry date.
    "authorisation_required": [],
    # The host names the server answers to (``name``, ``name:port``, ``*.domain``); empty:
    # any. Set it when the server is reachable by name: it stops DNS rebinding.
    "trusted_hosts": [],
    # Roles whose holders must sign in with a TOTP code as well (see services.two_factor).
    "totp_required_roles": [],
    quality_gate.WARNING_SETTING: quality_gate.DEFAULT_WARNING_FLOOR,
    quality_gate.REFUSAL_SETTING: quality_gate.DEFAULT_REFUSAL_FLOOR,
    promotion.TOLERANCE_SETTING: promotion.DEFAULT_TOLERANCE,
    **alert_rules.DEFAULTS,  # the misuse alert rules, one setting each
}
_DEFAULT_TEXT = {key: json.dumps(value) for key, value in DEFAULTS.items()}


# One pydantic type per setting, strict: a number is never a list, a string never a list of
# rules. Issue 12: a refused-purpose list given as 5 or [1, 2] was accepted and every case
# then failed with 500; given as "deport" or [""], it refused every purpose.
_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
_MIN_TERM_CHARS = 3  # shorter, a term would refuse every word that starts with it


def _meaningful_term(term: str) -> str:
    if len(normalise(term).strip()) < _MIN_TERM_CHARS:
        raise ValueError(f"a refused term needs at least {_MIN_TERM_CHARS} letters: {term!r}")
    return term


_Term = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_meaningful_term),
]


def _known_role(name: str) -> str:
    if name not in {str(role) for role in ALL_ROLES}:
        raise ValueError(f"{name!r} is not a role")
    return name


_RoleName = Annotated[str, AfterValidator(_known_role)]


_Host = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=255,
        pattern=r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:]+\](:[0-9]{1,5})?$",
    ),
]


class RefusedPurposeRule(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    category: _Name
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    terms: list[_Term] = Field(min_length=1, max_length=200)


_TYPES: dict[str, TypeAdapter] = {
    "offense_categories": TypeAdapter(
        Annotated[list[_Name], Field(min_length=1, max_length=200)], config=ConfigDict(strict=True)
    ),
    "refused_purposes": TypeAdapter(
        Annotated[list[RefusedPurposeRule], Field(max_length=100)], config=ConfigDict(strict=True)
    ),
    "searches_per_minute": TypeAdapter(
        Annotated[int, Field(gt=0, le=100_000)], config=ConfigDict(strict=True)
    ),
    "max_upload_bytes": TypeAdapter(
        Annotated[int, Field(gt=0, le=10**10)], config=ConfigDict(strict=True)
    ),
    "totp_required_roles": TypeAdapter(
        Annotated[list[_RoleName], Field(max_length=len(ALL_ROLES))],
        config=ConfigDict(strict=True),
    ),
    "trusted_hosts": TypeAdapter(
        Annotated[list[_Host], Field(max_length=100)], config=ConfigDict(strict=True)
    ),
    "authorisation_required": TypeAdapter(
        Annotated[list[_Name], Field(max_length=200)], config=ConfigDict(strict=True)
    ),
    "target_fpir": TypeAdapter(
        Annotated[
            float,
            Field(
                ge=search_policy.MIN_TARGET_FPIR,
                le=search_policy.MAX_TARGET_FPIR,
                allow_inf_nan=False,
            ),
        ],
        config=ConfigDict(strict=True),
    ),
    **alert_rules.TYPES,
}
_MEANING = {
    **alert_rules.MEANING,
    "totp_required_roles": f"totp_required_roles is a list of roles ({', '.join(ALL_ROLES)})",
    "trusted_hosts": "trusted_hosts is a list of host names (name, name:port or *.domain)",
    "offense_categories": "offense_categories is a non-empty list of names",
    "authorisation_required": "authorisation_required is a list of offense categories",
    "refused_purposes": "refused_purposes is a list of {category, reason, terms}",
    "searches_per_minute": "searches_per_minute is a positive whole number",
    "max_upload_bytes": "max_upload_bytes is a positive whole number",
    "target_fpir": (
        f"target_fpir is a rate between {search_policy.MIN_TARGET_FPIR:g} "
        f"and {search_policy.MAX_TARGET_FPIR:g}"
    ),
}


def _check(key: str, value: object) -> object:
    """The value, checked against its setting's type; returns it as it will be stored."""
    if key not in DEFAULTS:
        raise InvalidInput(f"unknown setting {key!r}; the settings are {', '.join(DEFAULTS)}")
    if key == "retention":
        retention_policy.check_policy(value)
        return value
    # Checked by the services that own them (their shapes are objects of limits).
    if key in (quality_gate.WARNING_SETTING, quality_gate.REFUSAL_SETTING):
        quality_gate.check_floor(key, value)
        return value
    if key == promotion.TOLERANCE_SETTING:
        promotion.check_tolerance(value)
        return value
    try:
        checked = _TYPES[key].validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        problem = f"{where}: {first['msg']}" if where else first["msg"]
        raise InvalidInput(f"{_MEANING[key]} ({problem})") from None
    stored = _TYPES[key].dump_python(checked, mode="json")
    if key == "refused_purposes":
        purpose_floor.require_floor(stored)  # the default categories cannot be removed
    return stored


class Settings:
    """The settings, read from the database at most once a second (``FRESH_FOR``).

    A search read 14 settings, each a query: on PostgreSQL 14 round trips, and on both a
    query and a thread for every request's trusted-host check. They are now read together
    and kept for a second. A change made through this object applies at once in its
    process; one made by another process (a second server worker, ``facesift settings``)
    applies here within a second, as a face added or removed elsewhere does."""

    FRESH_FOR = 1.0  # seconds

    def __init__(self, store: Store):
        self._store = store
        self._records = store.settings
        self._stored: dict[str, str] = {}  # key -> its stored JSON text
        self._read_at = -self.FRESH_FOR
        self._changes = 0  # puts made here: a read that overlapped one is not kept
        self._lock = threading.Lock()
        self._refused: tuple[str, tuple[policy.RefusedPurpose, ...]] | None = None

    def get(self, key: str):
        # A stored null is a value (the promotion gate turned off), not an unset key.
        # Decoded at each get, defaults too (their JSON text is made once): callers own what
        # they are given, and json.loads makes that copy in C, where copy.deepcopy of the
        # defaults was 110 Python calls an upload and a search (yappi, bench/load.py's probe).
        return json.loads(self._text(key))

    def _text(self, key: str) -> str:
        """``key``'s value as JSON text: stored, or its default's."""
        text = self._current().get(key)
        return _DEFAULT_TEXT[key] if text is None else text

    def _current(self) -> dict[str, str]:
        if time.monotonic() - self._read_at < self.FRESH_FOR:
            return self._stored
        changes = self._changes
        stored = self._records.stored_settings(DEFAULTS)
        with self._lock:
            if changes == self._changes:
                self._stored, self._read_at = stored, time.monotonic()
        return stored

    def _fresh(self, key: str):
        """``key``'s value as stored now, for a change and its audit entry."""
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
        value = _check(key, value)
        name = actor.name if actor else f"{CLI_ACTOR_PREFIX}operator"
        details: dict = {}
        if key == "target_fpir" and value != self._fresh(key):
            details["promotion"] = self._threshold_promotion(value)  # type: ignore[arg-type]
        with self._store.transaction():
            before = self._fresh(key)
            self._records.put_setting(key, value, name)
            self._store.audit.append(
                "setting_changed", {"key": key, "from": before, "to": value, **details}, name
            )
        with self._lock:
            self._changes += 1
            self._read_at = -self.FRESH_FOR  # read again at the next get

    def update(self, actor: Principal, values: dict[str, object]) -> list[str]:
        """Put each value that differs from the current one; returns the keys changed.
        All are checked before any is written."""
        rules.require_change_settings(actor)
        values = {key: _check(key, value) for key, value in values.items()}
        changed = [key for key, value in values.items() if value != self._fresh(key)]
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
        if tolerance is None or not runs or model_id is None:
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
        """The refused purposes, with the floor's put back. Built again only when the setting
        changes: every upload and search checks its case's purpose against them."""
        text = self._text("refused_purposes")
        built = self._refused
        if built is None or built[0] != text:
            rules = policy.refused_purposes(purpose_floor.with_floor(json.loads(text)))
            built = self._refused = (text, tuple(rules))  # frozen rules: safe to share
        return list(built[1])
