"""Typed request parameters shared by the routes. Ids are bounded so a huge number is a
clear 422, not an overflow inside SQLite (whose integers stop at 2**63 - 1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from facesift.services.casework.base import MAX_PAGE_SIZE

MAX_ID = 2**53  # also exact in JavaScript
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]

# A page of a list that grows with use (the team's searches, the review queue): how many
# items, and where the previous page ended (an item's id: the next page starts past it).
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items on this page")]
PageAfter = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="the last id of the page before; omit for the first"),
]
