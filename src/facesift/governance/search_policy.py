"""Every search needs grounds: a case reference and a stated purpose.

A search without them is refused before any face is compared, and the refusal is audited.
"""

from __future__ import annotations

from facesift.errors import SearchRefused

# The one home of the limits every surface (command line, API, web) applies.
# A purpose shorter than this cannot say why a search is run ("test", "check").
MIN_PURPOSE_CHARS = 10
# A reviewer can compare about this many faces with care; more is a trawl, not a lead list.
MAX_CANDIDATES = 50
DEFAULT_TOP_K = 10  # candidates asked for when a search does not say

# The false positive identification rate a search is run at: the chance that a search for
# someone not in the gallery returns any candidate. 1% by default; an admin may set it between
# these bounds, and the single operator may pass --fpir within them.
DEFAULT_TARGET_FPIR = 0.01
MIN_TARGET_FPIR = 0.0001
MAX_TARGET_FPIR = 0.05


def require_no_accounts(accounts: int) -> None:
    """The command-line search is for a gallery run by one operator. Once the gallery has
    user accounts, a search must belong to a signed-in user and an opened case: the server."""
    if accounts:
        raise SearchRefused(
            "search refused: this gallery has user accounts, so every search must belong to "
            "a signed-in user and a case. Search through the server (facesift serve): the web "
            "app, or the API with an API token."
        )


def require_grounds(case: str | None, purpose: str | None) -> tuple[str, str]:
    """The cleaned (case, purpose), or SearchRefused saying what is missing."""
    case = (case or "").strip()
    purpose = (purpose or "").strip()
    missing = [name for name, value in (("--case", case), ("--purpose", purpose)) if not value]
    if missing:
        raise SearchRefused(
            f"search refused: {' and '.join(missing)} required. Every search must name the case "
            "it belongs to and why it is being run; both are written to the audit log."
        )
    if len(purpose) < MIN_PURPOSE_CHARS:
        raise SearchRefused(
            f"search refused: the purpose {purpose!r} is too short to explain the search "
            f"({MIN_PURPOSE_CHARS} characters or more)"
        )
    return case, purpose


def require_candidate_count(top_k: int) -> int:
    if not 1 <= top_k <= MAX_CANDIDATES:
        raise SearchRefused(
            f"search refused: a search returns between 1 and {MAX_CANDIDATES} candidates "
            f"(asked for {top_k})"
        )
    return top_k


def require_offense_category(offense_category: str | None) -> str:
    """The cleaned offense category, or SearchRefused: a search names the offense it is for
    (checked against the allow-list, as a case on the server is)."""
    category = (offense_category or "").strip()
    if not category:
        raise SearchRefused(
            "search refused: --offense-category required. Every search names the offense it "
            "is for, from the allow-list (facesift settings: offense_categories)."
        )
    return category


def require_target_fpir(fpir: float) -> float:
    if not (isinstance(fpir, int | float) and MIN_TARGET_FPIR <= fpir <= MAX_TARGET_FPIR):
        raise SearchRefused(
            f"search refused: the target false positive identification rate must be between "
            f"{MIN_TARGET_FPIR:g} and {MAX_TARGET_FPIR:g} (got {fpir!r})"
        )
    return float(fpir)


def require_within_ceiling(threshold: float, ceiling: float) -> float:
    """An expert's per-comparison threshold, if it is no looser than the calibrated ceiling."""
    if not (isinstance(threshold, int | float) and 0.0 <= threshold <= ceiling):
        raise SearchRefused(
            f"search refused: a threshold must be between 0 and {ceiling:.4f}, the distance at "
            f"which 1 in 100 faces of other people would be candidates (got {threshold!r})"
        )
    return float(threshold)
