"""The floor under the refused purposes: what no setting can allow.

The refused purposes are a setting, so an admin can add categories and terms. The three
default categories (immigration enforcement, monitoring of protected activity, protected
characteristics) are the project's promise, not a local choice: a change that drops one of
them, or one of their default terms, is refused, and the list a search is checked against
always holds them, even in a database whose setting was emptied before this rule existed.
"""

from __future__ import annotations

from facesift.errors import InvalidInput
from facesift.governance.policy import DEFAULT_REFUSED_PURPOSES

FLOOR: tuple[dict, ...] = tuple(DEFAULT_REFUSED_PURPOSES)


def _by_category(items: list[dict]) -> dict[str, dict]:
    return {str(item.get("category", "")).strip().lower(): item for item in items}


def require_floor(refused: list[dict]) -> None:
    """Raise InvalidInput naming what a new refused-purposes list would remove."""
    if not all(isinstance(item.get("terms"), list) for item in refused):
        raise InvalidInput("each refused purpose's terms is a list of words")
    given = _by_category(refused)
    for rule in FLOOR:
        item = given.get(rule["category"])
        if item is None:
            raise InvalidInput(
                f"the refused purpose {rule['category']!r} cannot be removed: the default "
                "categories are a floor (you may add categories and terms)"
            )
        terms = {str(t).strip().lower() for t in item.get("terms", [])}
        missing = [t for t in rule["terms"] if t not in terms]
        if missing:
            raise InvalidInput(
                f"the refused purpose {rule['category']!r} must keep its default terms "
                f"(missing: {', '.join(missing)}); you may add terms"
            )


def with_floor(refused: list[dict]) -> list[dict]:
    """The list a purpose is checked against: the setting, with the floor's categories and
    terms put back wherever they are missing."""
    merged = [dict(item) for item in refused]
    given = _by_category(merged)
    for rule in FLOOR:
        item = given.get(rule["category"])
        if item is None:
            merged.append(dict(rule))
            continue
        terms = list(item.get("terms", []))
        item["terms"] = terms + [t for t in rule["terms"] if t not in terms]
    return merged
