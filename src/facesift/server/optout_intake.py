"""Taking an opt-out request from an HTTP request, for the API and the public page alike:
the per-address rate limit first, then the selfies are read and analysed in the analysis
lane (as probes are, so page views never queue behind them)."""

from __future__ import annotations

from fastapi import Request, UploadFile

from facesift.server.context import Services
from facesift.server.lanes import in_analysis_lane
from facesift.services.optout import MAX_SELFIES, Receipt


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def take_request(
    request: Request, svc: Services, files: list[UploadFile], contact: str, via: str
) -> Receipt:
    svc.optout.rate.check(client_address(request))
    selfies = [await f.read() for f in files[: MAX_SELFIES + 1]]
    return await in_analysis_lane(request, lambda: svc.optout.request(selfies, contact, via))
