"""The promotion gate (R24): a new embedder becomes a gallery's model only on the evidence of
an evaluation whose per-group differential is within the tolerance an admin set.

The tolerance is the setting ``promotion_max_group_ratio``: the largest ratio allowed between
two groups' error rates (FNMR or FMR at the operating threshold) in any group column of a
``facesift eval dataset`` run of that very model (its ``--json`` document). ``null`` turns
the gate off, an audited change an admin must make on purpose. An evaluation without group
columns, or where one group's rate is 0 and another's is not (an unbounded ratio), is no
evidence that the model is within the tolerance, and is refused with the reason.
"""

from __future__ import annotations

import math

from facesift.errors import Conflict, InvalidInput

TOLERANCE_SETTING = "promotion_max_group_ratio"
DEFAULT_TOLERANCE = 1.5


def check_tolerance(value: object) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or value < 1
    ):
        raise InvalidInput(f"{TOLERANCE_SETTING} is a ratio of 1 or more, or null (no gate)")


def check_promotion(evaluation: dict | None, model_id: str, tolerance: float | None) -> dict:
    """What the gate found (for the audit log); raises Conflict, saying why, when the model
    may not become the gallery's."""
    if tolerance is None:
        return {"gate": "off"}
    if evaluation is None:
        raise Conflict(
            f"the promotion gate needs an evaluation of {model_id} whose per-group "
            f"differential is at most {tolerance:g} (setting {TOLERANCE_SETTING}): run facesift "
            "eval dataset DIR --labels LABELS --embedder-model FILE --json > EVAL.json with "
            "group columns, and give --evaluation EVAL.json"
        )
    if evaluation.get("model_id") != model_id:
        raise Conflict(
            f"the evaluation is of the model {evaluation.get('model_id')}, not {model_id}"
        )
    differentials = evaluation.get("differentials") or []
    if not differentials:
        raise Conflict("the evaluation has no group columns, so no per-group differential")
    ratios = []
    for d in differentials:
        for key in ("fnmr_ratio", "fmr_ratio"):
            value = d.get(key)
            ratios.append((math.inf if value is None else float(value), d.get("column"), key))
    ratio, column, measure = max(ratios)
    if ratio > tolerance:
        shown = "unbounded (one group at 0)" if math.isinf(ratio) else f"{ratio:.2f}"
        raise Conflict(
            f"the promotion gate refuses {model_id}: its {measure.split('_')[0].upper()} "
            f"ratio between groups of {column} is {shown}, over the tolerance {tolerance:g}"
        )
    return {"gate": "passed", "tolerance": tolerance, "largest_group_ratio": ratio}
