"""The misuse alert rules' settings: one setting per rule, each typed and bounded.

An alert is a prompt for a supervisor to look, never a refusal: each rule describes a
pattern that a lawful investigation rarely shows and a misuse often does (the four the
accountability issue names). A rule is turned off with ``"enabled": false``; its limits are
settings so that a team working nights, or a case that honestly needs many searches, can
set its own without a code change. The rules themselves run in ``services.alerts``.

- ``alert_search_hours``: a search outside ``start_hour``..``end_hour`` (UTC, the log's time);
  off by default, as the team's hours are the operator's to set.
- ``alert_same_face``: the same face searched in different cases within ``days``: the same
  probe SHA-256, or probe templates within the distance of ``false_match_rate`` (from the
  calibration; 1 in 10,000 by default: far tighter than a search, so different people rarely
  meet it).
- ``alert_case_searches``: ``searches`` or more in one case within ``hours`` with nothing
  else done in it (no review taken, no case note, no closure): searching as browsing.
- ``alert_reworded_purpose``: a case opened by someone whose case or search was refused for
  its purpose (or offense) within ``hours`` before: the refused purpose, reworded.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

HOURS = "alert_search_hours"
SAME_FACE = "alert_same_face"
CASE_SEARCHES = "alert_case_searches"
REWORDED = "alert_reworded_purpose"
RULES = (HOURS, SAME_FACE, CASE_SEARCHES, REWORDED)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool = True


class SearchHours(_Rule):
    # Off until an admin sets the team's hours: working hours differ by time zone and team,
    # and a default that fires every evening teaches people to ignore alerts.
    enabled: bool = False
    start_hour: Annotated[int, Field(ge=0, le=23)] = 7
    end_hour: Annotated[int, Field(ge=1, le=24)] = 20

    @model_validator(mode="after")
    def _ordered(self) -> SearchHours:
        if self.end_hour <= self.start_hour:
            raise ValueError("end_hour must be after start_hour (UTC, the same day)")
        return self


class SameFace(_Rule):
    days: Annotated[int, Field(ge=1, le=3650)] = 90
    false_match_rate: Annotated[float, Field(ge=1e-9, le=1e-2, allow_inf_nan=False)] = 1e-4


class CaseSearches(_Rule):
    searches: Annotated[int, Field(ge=2, le=100_000)] = 20
    hours: Annotated[int, Field(ge=1, le=8760)] = 24


class RewordedPurpose(_Rule):
    hours: Annotated[int, Field(ge=1, le=8760)] = 72


MODELS: dict[str, type[_Rule]] = {
    HOURS: SearchHours,
    SAME_FACE: SameFace,
    CASE_SEARCHES: CaseSearches,
    REWORDED: RewordedPurpose,
}
DEFAULTS: dict[str, object] = {key: model().model_dump() for key, model in MODELS.items()}
TYPES: dict[str, TypeAdapter] = {key: TypeAdapter(model) for key, model in MODELS.items()}
MEANING: dict[str, str] = {
    HOURS: f"{HOURS} is {{enabled, start_hour 0-23, end_hour 1-24}} (UTC)",
    SAME_FACE: f"{SAME_FACE} is {{enabled, days 1-3650, false_match_rate 1e-9 to 0.01}}",
    CASE_SEARCHES: f"{CASE_SEARCHES} is {{enabled, searches 2-100000, hours 1-8760}}",
    REWORDED: f"{REWORDED} is {{enabled, hours 1-8760}}",
}


def rule_setting(key: str, value: object) -> _Rule:
    """A stored setting as its typed rule (the settings checked it when it was written)."""
    return MODELS[key].model_validate(value)
