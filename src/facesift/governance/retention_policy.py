"""The retention policy's shape and defaults (the setting ``retention``; see
``services.retention`` for what each period means)."""

from __future__ import annotations

from facesift.errors import InvalidInput

DEFAULT_POLICY: dict = {
    "probe_images_days": 0,  # probe pixels are not kept once the case is closed
    "probe_templates_days": 365,
    "candidate_lists_days": 730,
    "collections": {},
}
_DAY_KEYS = ("probe_images_days", "probe_templates_days", "candidate_lists_days")
MAX_DAYS = 36_500


def check_policy(value: object) -> None:
    """Raise InvalidInput unless ``value`` is a retention policy."""
    if not isinstance(value, dict) or set(value) != set(DEFAULT_POLICY):
        raise InvalidInput(f"retention is {{{', '.join(DEFAULT_POLICY)}}}")
    for key in _DAY_KEYS:
        _check_days(key, value[key])
    collections = value["collections"]
    if not isinstance(collections, dict):
        raise InvalidInput("retention collections is {collection name: days}")
    for name, days in collections.items():
        _check_days(f"collection {name!r}", days)


def _check_days(what: str, days: object) -> None:
    if not (isinstance(days, int) and not isinstance(days, bool) and 0 <= days <= MAX_DAYS):
        raise InvalidInput(f"retention {what} is a whole number of days from 0 to {MAX_DAYS}")
