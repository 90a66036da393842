"""The search contract: which offenses a case may concern, which purposes are refused.

Both lists are settings an admin may change (each change is audited); these are the
defaults. A purpose is refused when it mentions any of a refused category's terms. The
check is deliberately simple and visible: it runs when a case is opened and again before
every search, and each refusal names its category and reason.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from facesift.errors import SearchRefused
from facesift.governance.purpose_text import normalise

DEFAULT_OFFENSE_CATEGORIES = [
    "homicide",
    "sexual offense",
    "child exploitation",
    "kidnapping",
    "robbery",
    "assault",
    "human trafficking",
    "terrorism",
    "fraud",
    "missing person",
    "identification of a deceased person",
]

DEFAULT_REFUSED_PURPOSES = [
    {
        "category": "immigration enforcement",
        "reason": "facesift is not used to enforce immigration law",
        "terms": [
            "immigration",
            "deportation",
            "deport",
            "visa status",
            "undocumented",
            "illegal alien",
            "asylum",
        ],
    },
    {
        "category": "monitoring of protected activity",
        "reason": "facesift is not used to monitor protest, religious practice or the press",
        "terms": [
            "protest",
            "demonstration",
            "rally",
            "march",
            "religio",
            "church",
            "mosque",
            "synagogue",
            "temple",
            "worship",
            "journalist",
            "press",
            "reporter",
        ],
    },
    {
        "category": "protected characteristic",
        "reason": "a search may not be based on a protected characteristic",
        "terms": [
            "race",
            "racial",
            "ethnic",
            "skin colour",
            "skin color",
            "gender",
            "sexual orientation",
            "disability",
            "nationality",
        ],
    },
]

DEFAULT_SEARCHES_PER_MINUTE = 10
DEFAULT_TOKEN_DAYS = 90  # an API token lives this long unless its maker says less
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class RefusedPurpose:
    category: str
    reason: str
    terms: tuple[str, ...]

    def matches(self, text: str) -> bool:
        # Terms match at the start of a word, so "race" does not refuse "trace evidence";
        # both sides without disguises (zero-width characters, look-alike letters...).
        text = normalise(text)
        return any(_term_pattern(term).search(text) for term in self.terms)


@functools.lru_cache(maxsize=1024)
def _term_pattern(term: str) -> re.Pattern[str]:
    """Compiled once: the refused terms are the same at every search (normalising them all
    again was a tenth of a search's server time)."""
    return re.compile(rf"\b{re.escape(normalise(term))}")


def refused_purposes(setting: list[dict]) -> list[RefusedPurpose]:
    return [
        RefusedPurpose(item["category"], item["reason"], tuple(item.get("terms", [])))
        for item in setting
    ]


def check_purpose(
    purpose: str,
    offense_category: str,
    refused: list[RefusedPurpose],
    offense_categories: list[str],
) -> None:
    """Raise SearchRefused, naming the rule, if this case may not be searched for."""
    if offense_category not in offense_categories:
        raise SearchRefused(
            f"the offense category {offense_category!r} is not on the allow-list "
            f"({', '.join(offense_categories)})"
        )
    for rule in refused:
        if rule.matches(purpose):
            raise SearchRefused(f"purpose refused ({rule.category}): {rule.reason}")
