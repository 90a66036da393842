"""Typed request parameters shared by the routes. Ids are bounded so a huge number is a
clear 422, not an overflow inside SQLite (whose integers stop at 2**63 - 1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**53  # also exact in JavaScript
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
