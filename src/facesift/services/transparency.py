"""The public transparency page's content: what the system holds, per collection and legal
basis, the retention policy, and the accountability report's summary. Counts only: no
image, name, path or face is ever shown to the public."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from facesift.errors import RateLimited
from facesift.services import retention
from facesift.services.accountability_report import (
    OPTOUT_PAGE,
    OPTOUT_STATUS_PAGE,
    accountability_report,
)
from facesift.services.calibration import Calibration
from facesift.services.gallery import Gallery
from facesift.services.settings import Settings
from facesift.store.oversight import Holding

VIEWS_PER_MINUTE = 60  # per address: a person reading, not a scraper polling the counts


class PageRate:
    """At most ``limit`` views a minute per address, in this process (the page counts rows
    and builds the report's summary on every view)."""

    def __init__(self, limit: int = VIEWS_PER_MINUTE):
        self._limit = limit
        self._views: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            views = self._views.setdefault(address, deque())
            while views and now - views[0] > 60:
                views.popleft()
            if len(views) >= self._limit:
                raise RateLimited(
                    f"at most {self._limit} views a minute of the transparency page; "
                    "try again in a minute"
                )
            views.append(now)


@dataclass(frozen=True)
class Transparency:
    holdings: list[Holding]
    images: int
    faces: int
    retention_policy: str
    summary: list[str]
    generated_at: str
    optout_page: str = OPTOUT_PAGE
    optout_status_page: str = OPTOUT_STATUS_PAGE


def transparency(gallery: Gallery, settings: Settings, calibration: Calibration) -> Transparency:
    gallery.refresh()  # an ingest or a removal beside the server: count what is there now
    holdings = gallery.store.oversight.holdings()
    report = accountability_report(gallery, settings, calibration)
    policy = retention.Policy.from_setting(settings.get("retention"))
    return Transparency(
        holdings=holdings,
        images=sum(h.images for h in holdings),
        faces=sum(h.faces for h in holdings),
        retention_policy=policy.as_text(),
        summary=report.summary,
        generated_at=report.generated_at,
    )
